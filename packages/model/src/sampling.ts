/**
 * Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p
 * (nucleus) from a seeded generator so a seed reproduces a generation; OpenAI's frequency and
 * presence penalties over the tokens already sampled, and log-probabilities of each choice.
 */
import { ConfigError, createRng, InvalidInputError, ShapeError, type Rng, topKIndices } from '@moe-runtime/core';
import { nucleusPrefix } from './nucleus.js';

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
  /**
   * OpenAI's `frequency_penalty`, in [-2, 2]: a token's logit is lowered by this much for every
   * time the sampler already produced it. Default 0.
   */
  readonly frequencyPenalty?: number;
  /** OpenAI's `presence_penalty`, in [-2, 2]: lowers the logit of every token already produced once. Default 0. */
  readonly presencePenalty?: number;
  /**
   * Report the chosen token's log-probability with this many most likely alternatives
   * (0 to 20; undefined: no log-probabilities). See {@link SampledToken.logprob} for which
   * distribution they are taken from.
   */
  readonly topLogprobs?: number;
}

/** One token's log-probability. */
export interface TokenLogprob {
  readonly id: number;
  readonly logprob: number;
}

/** What one sampling step chose. */
export interface SampledToken {
  readonly id: number;
  /**
   * Natural log of the chosen token's probability under the model's distribution after the
   * frequency and presence penalties, at temperature 1 and before top-k / top-p: the model's
   * own belief, independent of the sampling settings (greedy decoding reports the same values).
   * Present when `topLogprobs` was set.
   */
  readonly logprob?: number;
  /** The `topLogprobs` most likely tokens of that distribution, best first (ties: lower id first). */
  readonly topLogprobs?: readonly TokenLogprob[];
}

/** Most alternatives `topLogprobs` may ask for (OpenAI's limit). */
export const MAX_TOP_LOGPROBS = 20;

function checkPenalty(value: number | undefined, field: string): void {
  if (value !== undefined && (!Number.isFinite(value) || value < -2 || value > 2)) throw new ConfigError(field, `expected a number in [-2, 2], got ${value}`);
}

/** Validates sampling options with errors naming the field. */
export function validateSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && (!Number.isFinite(o.temperature) || o.temperature < 0)) throw new ConfigError('temperature', `expected a number >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) throw new ConfigError('top_k', `expected an integer >= 0, got ${o.topK}`);
  if (o.topP !== undefined && (!Number.isFinite(o.topP) || o.topP <= 0 || o.topP > 1)) throw new ConfigError('top_p', `expected a number in (0, 1], got ${o.topP}`);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new ConfigError('seed', `expected an integer, got ${o.seed}`);
  checkPenalty(o.frequencyPenalty, 'frequency_penalty');
  checkPenalty(o.presencePenalty, 'presence_penalty');
  if (o.topLogprobs !== undefined && (!Number.isInteger(o.topLogprobs) || o.topLogprobs < 0 || o.topLogprobs > MAX_TOP_LOGPROBS)) {
    throw new ConfigError('top_logprobs', `expected an integer in [0, ${MAX_TOP_LOGPROBS}], got ${o.topLogprobs}`);
  }
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
  return argmaxUnchecked(logits, offset, length);
}

function argmaxUnchecked(logits: ArrayLike<number>, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (logits[offset + i] > logits[offset + best]) best = i;
  return best;
}

/** The tokens a sampling step draws from and their unnormalized weights. */
export interface SamplingCandidates {
  /** Token ids; only the first `count` are candidates. Undefined: every id of the row, in order. */
  readonly ids?: Int32Array;
  readonly count: number;
  /** The candidates' total weight. */
  readonly mass: number;
  /** `weights[id]`: exp((logit - max) / temperature), for every id of the row. */
  readonly weights: Float64Array;
}

/** Reusable buffers of one row length (a sampler draws from rows of one vocabulary). */
interface Scratch {
  ids: Int32Array;
  weights: Float64Array;
}

function scratchFor(s: Scratch | undefined, length: number): Scratch {
  return s && s.ids.length === length ? s : { ids: new Int32Array(length), weights: new Float64Array(length) };
}

/**
 * The candidates of one sampling step at temperature `t` > 0: the `topK` most likely tokens
 * (0 = all), cut to the smallest best-first set whose probability reaches `topP`. O(V) without
 * a top-k (no sort of the vocabulary: top-p is a selection); O(V k) with one. The row must
 * have been checked.
 */
function candidatesOf(logits: ArrayLike<number>, offset: number, length: number, t: number, topK: number, topP: number, scratch: Scratch): SamplingCandidates {
  const { ids, weights } = scratch;
  const max = logits[offset + argmaxUnchecked(logits, offset, length)];
  if (topK > 0 && topK < length) {
    const top = topKIndices(logits, offset, length, topK, ids.subarray(0, topK));
    let total = 0;
    for (const i of top) total += weights[i] = Math.exp((logits[offset + i] - max) / t);
    // Already best first: the nucleus is a prefix of the top-k.
    let acc = 0;
    for (let j = 0; j < topK; j++) {
      acc += weights[top[j]];
      if (topP < 1 && acc >= topP * total) return { ids, count: j + 1, weights, mass: acc };
    }
    return { ids, count: topK, weights, mass: acc };
  }
  let total = 0;
  for (let i = 0; i < length; i++) total += weights[i] = Math.exp((logits[offset + i] - max) / t);
  if (topP >= 1) return { count: length, weights, mass: total };
  // Tokens under (1 - p) / V of the total weigh less than 1 - p together, so the nucleus (a
  // best-first prefix weighing p) lies among the others: only those are selected from.
  const floor = ((1 - topP) * total) / length;
  let n = 0;
  for (let i = 0; i < length; i++) if (weights[i] >= floor) ids[n++] = i;
  const count = nucleusPrefix(ids, n, weights, topP * total);
  let mass = 0;
  for (let j = 0; j < count; j++) mass += weights[ids[j]];
  return { ids, count, weights, mass };
}

/**
 * The exact distribution a {@link Sampler} with these options draws the next token from
 * (penalties aside): candidate ids and their probabilities, summing to 1. Greedy
 * (temperature 0) gives the argmax with probability 1.
 */
export function samplingDistribution(logits: ArrayLike<number>, options: SamplingOptions = {}, offset = 0, length = logits.length - offset): { ids: number[]; probs: number[] } {
  validateSampling(options);
  checkRow(logits, offset, length);
  const t = options.temperature ?? 0;
  if (t === 0) return { ids: [argmaxUnchecked(logits, offset, length)], probs: [1] };
  const c = candidatesOf(logits, offset, length, t, options.topK ?? 0, options.topP ?? 1, scratchFor(undefined, length));
  const ids = c.ids ? Array.from(c.ids.subarray(0, c.count)) : Array.from({ length }, (_, i) => i);
  return { ids, probs: ids.map((i) => c.weights[i] / c.mass) };
}

/** Log-probabilities of a row (log-softmax at temperature 1): the chosen token's and the best `top`. */
function logprobsOf(logits: ArrayLike<number>, offset: number, length: number, id: number, top: number): Pick<SampledToken, 'logprob' | 'topLogprobs'> {
  const max = logits[offset + argmaxUnchecked(logits, offset, length)];
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp(logits[offset + i] - max);
  const logZ = max + Math.log(sum);
  const best = top > 0 ? Array.from(topKIndices(logits, offset, length, top)) : [];
  return { logprob: logits[offset + id] - logZ, topLogprobs: best.map((i) => ({ id: i, logprob: logits[offset + i] - logZ })) };
}

/** A stateful sampler over rows of logits; it remembers what it produced, for the penalties. */
export class Sampler {
  private readonly rng: Rng;
  private readonly counts = new Map<number, number>();
  private scratch?: Scratch;
  private penalized?: Float64Array;

  constructor(private readonly options: SamplingOptions = {}) {
    validateSampling(options);
    this.rng = createRng(options.seed ?? Date.now());
  }

  /** Picks a token id from one row of logits. */
  next(logits: ArrayLike<number>, offset = 0, length = logits.length - offset): number {
    return this.sample(logits, offset, length).id;
  }

  /** Picks a token from one row of logits, with its log-probabilities when `topLogprobs` is set. */
  sample(logits: ArrayLike<number>, offset = 0, length = logits.length - offset): SampledToken {
    checkRow(logits, offset, length);
    const row = this.applyPenalties(logits, offset, length);
    const [src, at] = row ?? [logits, offset];
    const id = this.draw(src, at, length);
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    const top = this.options.topLogprobs;
    return top === undefined ? { id } : { id, ...logprobsOf(src, at, length, id, top) };
  }

  /** The row with the penalties applied (a copy), or undefined when they change nothing. */
  private applyPenalties(logits: ArrayLike<number>, offset: number, length: number): [Float64Array, number] | undefined {
    const freq = this.options.frequencyPenalty ?? 0;
    const presence = this.options.presencePenalty ?? 0;
    if ((freq === 0 && presence === 0) || this.counts.size === 0) return undefined;
    if (this.penalized?.length !== length) this.penalized = new Float64Array(length);
    const row = this.penalized;
    for (let i = 0; i < length; i++) row[i] = logits[offset + i];
    // Only ids inside this row: a sampler over a shorter row ignores the others.
    for (const [id, count] of this.counts) if (id < length) row[id] -= count * freq + presence;
    return [row, 0];
  }

  private draw(logits: ArrayLike<number>, offset: number, length: number): number {
    const t = this.options.temperature ?? 0;
    if (t === 0) return argmaxUnchecked(logits, offset, length);
    this.scratch = scratchFor(this.scratch, length);
    const c = candidatesOf(logits, offset, length, t, this.options.topK ?? 0, this.options.topP ?? 1, this.scratch);
    let u = this.rng.next() * c.mass;
    const { ids, weights } = c;
    if (!ids) {
      for (let i = 0; i < length; i++) if ((u -= weights[i]) < 0) return i;
      return length - 1;
    }
    for (let j = 0; j < c.count; j++) if ((u -= weights[ids[j]]) < 0) return ids[j];
    return ids[c.count - 1];
  }
}
