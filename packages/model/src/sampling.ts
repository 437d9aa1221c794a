/**
 * Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p
 * (nucleus) from a seeded generator so a seed reproduces a generation.
 */
import { ConfigError, createRng, InvalidInputError, ShapeError, type Rng, topKIndices } from '@moe-runtime/core';

/** Sampling options (OpenAI-style names map onto these). */
export interface SamplingOptions {
  /** 0 (default) = greedy. */
  readonly temperature?: number;
  /** Keep the k most likely tokens (0 = all). */
  readonly topK?: number;
  /** Keep the smallest set whose probability reaches p (1 = all). */
  readonly topP?: number;
  /** Seed of the sampler. */
  readonly seed?: number;
}

/** Validates sampling options with errors naming the field. */
export function validateSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && (!Number.isFinite(o.temperature) || o.temperature < 0)) throw new ConfigError('temperature', `expected a number >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) throw new ConfigError('top_k', `expected an integer >= 0, got ${o.topK}`);
  if (o.topP !== undefined && (!Number.isFinite(o.topP) || o.topP <= 0 || o.topP > 1)) throw new ConfigError('top_p', `expected a number in (0, 1], got ${o.topP}`);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new ConfigError('seed', `expected an integer, got ${o.seed}`);
}

/** Throws unless `[offset, offset + length)` is a non-empty row of `logits`, with no NaN or +Infinity and one finite value at least. */
function checkRow(logits: ArrayLike<number>, offset: number, length: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || length < 1 || offset < 0 || offset + length > logits.length) {
    throw new ShapeError(`logits row [${offset}, ${offset + length}) is outside the ${logits.length} logits; expected a non-empty row inside them`);
  }
  let finite = false;
  for (let i = 0; i < length; i++) {
    const v = logits[offset + i];
    if (Number.isNaN(v) || v === Infinity) throw new InvalidInputError(`logits[${i}] is ${v}; expected finite logits (or -Infinity for a masked token)`);
    if (v !== -Infinity) finite = true;
  }
  if (!finite) throw new InvalidInputError('every logit is -Infinity; expected at least one finite logit');
}

/** Index of the largest logit (the lower id on ties). */
export function argmax(logits: ArrayLike<number>, offset = 0, length = logits.length - offset): number {
  checkRow(logits, offset, length);
  let best = 0;
  for (let i = 1; i < length; i++) if (logits[offset + i] > logits[offset + best]) best = i;
  return best;
}

/** A stateful sampler over rows of logits. */
export class Sampler {
  private readonly rng: Rng;

  constructor(private readonly options: SamplingOptions = {}) {
    validateSampling(options);
    this.rng = createRng(options.seed ?? Date.now());
  }

  /** Picks a token id from one row of logits. */
  next(logits: ArrayLike<number>, offset = 0, length = logits.length - offset): number {
    const t = this.options.temperature ?? 0;
    if (t === 0) return argmax(logits, offset, length);
    checkRow(logits, offset, length);
    const k = this.options.topK ? Math.min(this.options.topK, length) : length;
    // Best first, ties to the lower id. With a top-k, a linear selection instead of sorting the
    // whole vocabulary every token (150k entries for Qwen).
    const kept =
      k < length
        ? Array.from(topKIndices(logits, offset, length, k))
        : Array.from({ length }, (_, i) => i).sort((a, b) => logits[offset + b] - logits[offset + a] || a - b);
    const max = logits[offset + kept[0]];
    const probs = kept.map((i) => Math.exp((logits[offset + i] - max) / t));
    const total = probs.reduce((s, p) => s + p, 0);
    const topP = this.options.topP ?? 1;
    let cut = kept.length;
    if (topP < 1) {
      let acc = 0;
      for (let j = 0; j < kept.length; j++) {
        acc += probs[j] / total;
        if (acc >= topP) {
          cut = j + 1;
          break;
        }
      }
    }
    const mass = probs.slice(0, cut).reduce((s, p) => s + p, 0);
    let u = this.rng.next() * mass;
    for (let j = 0; j < cut; j++) {
      u -= probs[j];
      if (u < 0) return kept[j];
    }
    return kept[cut - 1];
  }
}
