/**
 * Prefix reuse: KV caches of earlier sequences kept by their tokens, so a new prompt that starts
 * the same way (a system prompt, a chat's history) copies those positions instead of computing
 * them again. A small LRU under a byte budget; the longest usable match wins. Lookups and
 * retains run one at a time (a server calls them from concurrent generations): a retained
 * prefix is never dropped while another call copies from it.
 */
import { ConfigError, kvCacheBytes } from '@moe-runtime/core';
import type { ModelSession, SessionOptions } from './model-session.js';
import type { MoEModel } from './moe-model.js';

/** Options of {@link PrefixCache}. */
export interface PrefixCacheOptions {
  /** Most bytes of KV cache the retained prefixes may hold together. */
  readonly maxBytes: number;
  /** Shortest prefix worth retaining or reusing, in tokens (default 16). */
  readonly minTokens?: number;
}

/** What the cache has done, for metrics. */
export interface PrefixCacheStats {
  /** `startSession` calls. */
  readonly lookups: number;
  /** Lookups that reused a retained prefix. */
  readonly hits: number;
  /** Tokens not recomputed thanks to the hits. */
  readonly reusedTokens: number;
  /** Prefixes held now, and their bytes. */
  readonly entries: number;
  readonly bytes: number;
}

interface Entry {
  readonly session: ModelSession;
  lastUse: number;
}

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Retained prefixes of one model's sessions. */
export class PrefixCache {
  private entries: Entry[] = [];
  private clock = 0;
  private lookups = 0;
  private hits = 0;
  private reused = 0;
  private readonly maxBytes: number;
  private readonly minTokens: number;
  /** The end of the last queued call: each call runs after the one before settles. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly model: MoEModel,
    options: PrefixCacheOptions,
  ) {
    if (!Number.isFinite(options.maxBytes) || options.maxBytes < 0) throw new ConfigError('prefixCache.maxBytes', `expected a non-negative number of bytes, got ${options.maxBytes}`);
    const min = options.minTokens ?? 16;
    if (!Number.isInteger(min) || min < 1) throw new ConfigError('prefixCache.minTokens', `expected a positive integer, got ${min}`);
    this.maxBytes = options.maxBytes;
    this.minTokens = min;
  }

  get stats(): PrefixCacheStats {
    return { lookups: this.lookups, hits: this.hits, reusedTokens: this.reused, entries: this.entries.length, bytes: this.bytes };
  }

  private get bytes(): number {
    return this.entries.reduce((n, e) => n + e.session.cache.bytes, 0);
  }

  /**
   * A new session for a prompt of `tokens`, starting from the longest retained prefix it shares
   * (at most `tokens.length - 1` positions, so the last token is fed and gives logits). Feed
   * `tokens.subarray(reusedTokens)` to it next.
   */
  startSession(tokens: ArrayLike<number>, options: SessionOptions = {}): Promise<{ session: ModelSession; reusedTokens: number }> {
    return this.serial(() => this.lookup(tokens, options));
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.tail.then(f, f);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async lookup(tokens: ArrayLike<number>, options: SessionOptions): Promise<{ session: ModelSession; reusedTokens: number }> {
    this.lookups++;
    const format = options.kvFormat ?? 'float32';
    let best: Entry | undefined;
    let bestLength = 0;
    for (const e of this.entries) {
      if (e.session.kvFormat !== format) continue;
      const n = Math.min(commonPrefix(e.session.tokens, tokens), tokens.length - 1);
      if (n > bestLength) [best, bestLength] = [e, n];
    }
    if (!best || bestLength < this.minTokens) return { session: this.model.newSession(options), reusedTokens: 0 };
    best.lastUse = ++this.clock;
    const session = await this.model.forkSession(best.session, bestLength, options);
    this.hits++;
    this.reused += bestLength;
    return { session, reusedTokens: bestLength };
  }

  /**
   * Keeps a copy of the first `positions` positions of `session` (default all it holds), sized to
   * exactly them. Returns false when nothing was kept: too short, larger than the whole budget, or
   * already covered by a retained prefix that extends it. Prefixes the new one extends are dropped,
   * then the least recently used ones until it fits.
   */
  retain(session: ModelSession, positions = session.position): Promise<boolean> {
    return this.serial(() => this.keep(session, positions));
  }

  private async keep(session: ModelSession, positions: number): Promise<boolean> {
    if (positions < this.minTokens || positions > session.position) return false;
    const tokens = session.tokens.subarray(0, positions);
    const sameFormat = this.entries.filter((e) => e.session.kvFormat === session.kvFormat);
    const covering = sameFormat.find((e) => e.session.position >= positions && commonPrefix(e.session.tokens, tokens) === positions);
    if (covering) {
      covering.lastUse = ++this.clock;
      return false;
    }
    const bytes = kvCacheBytes({ ...session.cache.spec, capacity: positions });
    if (bytes > this.maxBytes) return false;
    for (const e of sameFormat) if (commonPrefix(e.session.tokens, tokens) === e.session.position) this.drop(e);
    while (this.bytes + bytes > this.maxBytes) this.drop(this.entries.reduce((a, b) => (b.lastUse < a.lastUse ? b : a)));
    const copy = await this.model.forkSession(session, positions, { contextLength: positions });
    this.entries.push({ session: copy, lastUse: ++this.clock });
    return true;
  }

  private drop(e: Entry): void {
    this.entries = this.entries.filter((x) => x !== e);
    e.session.dispose();
  }

  /** Frees every retained prefix (the statistics stay). */
  clear(): void {
    for (const e of this.entries) e.session.dispose();
    this.entries = [];
  }
}
