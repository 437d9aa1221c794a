/**
 * Chunked prefill: a long prompt fed in bounded pieces, so a scheduler can put a chunk of a new
 * request into the same step as the running sequences' decode rows and no stream waits for a
 * whole prompt. Chunking never changes results: each row's attention is independent of how the
 * prompt was split (core's attention contract), and the projections and experts are row-wise.
 */
import { ConfigError } from '@moe-runtime/core';
import type { ModelSession } from './model-session.js';
import type { SequenceStep, StepEntry } from './model-step.js';
import type { MoEModel } from './moe-model.js';

/**
 * Default chunk size in tokens, for prefill throughput. Measured on the 428M Mixtral-shaped f32
 * model, cpu backend (2 threads) with host attention, a 1024-token prompt, medians of 3
 * alternating rounds (`attention-bench.js --only chunks --chunks 32,64,128,256,512,1024`):
 * 95 / 106 / 123 / 127 / 129 / 127 tokens per CPU-second at chunks of 32 / 64 / 128 / 256 / 512 /
 * 1024; a second run (the full bench): 79 / 89 / 101 / 98 / 94 at 64 .. 1024. Below 128 each
 * expert gets too few rows (2 of 8 experts a token) for the GEMM; past 256 nothing is gained and
 * a chunk holds the running streams longer. A scheduler that bounds the running streams'
 * inter-token latency passes a smaller `maxTokens` to `PrefillJob.nextEntry`.
 */
export const DEFAULT_PREFILL_CHUNK = 256;

/** Options of {@link PrefillJob} and {@link prefill}. */
export interface PrefillOptions {
  /** Tokens per chunk (default {@link DEFAULT_PREFILL_CHUNK}). */
  readonly chunkSize?: number;
}

function checkChunkSize(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('chunkSize', `expected a positive integer, got ${n}`);
  return n;
}

/**
 * A prompt being fed to a session chunk by chunk. `nextEntry()` gives the next chunk as a step
 * entry (logits only for the prompt's last token); the job reads its progress from the session's
 * position, so a failed step is simply retried and there is nothing to acknowledge.
 */
export class PrefillJob {
  private readonly start: number;
  private readonly chunkSize: number;

  constructor(
    readonly session: ModelSession,
    readonly tokens: ArrayLike<number>,
    options: PrefillOptions = {},
  ) {
    if (tokens.length === 0) throw new ConfigError('prompt', 'expected at least one prompt token');
    this.start = session.position;
    this.chunkSize = checkChunkSize(options.chunkSize ?? DEFAULT_PREFILL_CHUNK);
  }

  /** Prompt tokens already in the session's cache. */
  get fed(): number {
    return this.session.position - this.start;
  }

  /** Prompt tokens still to feed. */
  get remaining(): number {
    return this.tokens.length - this.fed;
  }

  get done(): boolean {
    return this.remaining <= 0;
  }

  /** The next chunk (at most `maxTokens`, default the chunk size), or undefined when done. */
  nextEntry(maxTokens = this.chunkSize): StepEntry | undefined {
    if (this.done) return undefined;
    const from = this.fed;
    const n = Math.min(checkChunkSize(maxTokens), this.remaining);
    const tokens = Array.prototype.slice.call(this.tokens, from, from + n) as number[];
    return { session: this.session, tokens, logits: from + n === this.tokens.length ? 'last' : 'none' };
  }
}

/** Feeds `tokens` to `session` in chunks; returns the step result holding the last token's logits. */
export async function prefill(model: MoEModel, session: ModelSession, tokens: ArrayLike<number>, options: PrefillOptions = {}): Promise<SequenceStep> {
  const job = new PrefillJob(session, tokens, options);
  let last: SequenceStep | undefined;
  for (let entry = job.nextEntry(); entry; entry = job.nextEntry()) last = (await model.step([entry])).entries[0];
  return last as SequenceStep;
}
