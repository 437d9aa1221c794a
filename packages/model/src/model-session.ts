/** A generation session: one sequence's KV cache handle and the tokens it has consumed. */
import { ShapeError, type KvCache, type KvCacheFormat } from '@moe-runtime/core';

/** Options of `MoEModel.newSession` and `forkSession`. */
export interface SessionOptions {
  /**
   * Positions the session can hold; its KV cache is allocated for all of them at once. Default:
   * the model's `defaultContextLength` (max_position_embeddings, at most 4096). A step that would
   * pass it throws a ContextLengthError.
   */
  readonly contextLength?: number;
  /** Storage of the cached keys and values. Default `float32`. */
  readonly kvFormat?: KvCacheFormat;
}

/** Sessions whose owner forgot `dispose()`: their cache is freed when the session is collected. */
const unreleased = new FinalizationRegistry<KvCache>((cache) => cache.dispose());

/** One sequence of a model: made by `MoEModel.newSession` / `forkSession`, advanced by `step`. */
export class ModelSession {
  private readonly history: Int32Array;
  private fed = 0;

  /** Use `MoEModel.newSession`: `owner` is the model the cache belongs to. */
  constructor(
    readonly cache: KvCache,
    readonly owner: object,
  ) {
    this.history = new Int32Array(cache.spec.capacity);
    unreleased.register(this, cache, this);
  }

  /**
   * Positions consumed so far (the next token goes to this position). Counted here, not read from
   * the cache: a step that fails after some layers' attention advanced the cache leaves the
   * session where it was, and the next step rewrites those positions (attend allows a position
   * below the cache's length).
   */
  get position(): number {
    return this.fed;
  }

  /** Positions the session can hold. */
  get contextLength(): number {
    return this.cache.spec.capacity;
  }

  get kvFormat(): KvCacheFormat {
    return this.cache.spec.format;
  }

  /** The tokens consumed so far (a view: valid until the next step). */
  get tokens(): Int32Array {
    return this.history.subarray(0, this.fed);
  }

  get disposed(): boolean {
    return this.cache.disposed;
  }

  /** Frees the KV cache (also done when the session is garbage-collected; a second call does nothing). */
  dispose(): void {
    unreleased.unregister(this);
    this.cache.dispose();
  }

  /** Records tokens a step has just fed (the model calls this once every layer of the step has run). */
  recordTokens(tokens: ArrayLike<number>): void {
    if (this.fed + tokens.length !== this.cache.length) {
      throw new ShapeError(`session: ${this.fed} tokens recorded plus ${tokens.length} new ones disagree with the ${this.cache.length} positions its cache holds`);
    }
    this.history.set(tokens, this.fed);
    this.fed += tokens.length;
  }
}
