/**
 * Text generation: the prompt is prefilled in one batched forward pass, then tokens are decoded
 * one at a time with the KV cache and streamed as an async iterator of text deltas. Stop
 * strings are honoured without ever emitting a partial stop string. Several independent
 * choices of one prompt share its prefill: their sessions are forks of the prefilled one.
 */
import { ConfigError } from '@moe-runtime/core';
import type { ForwardStepper } from './continuous-batcher.js';
import type { ModelSession } from './model-session.js';
import type { ModelStep } from './model-step.js';
import type { MoEModel } from './moe-model.js';
import { Sampler, type SampledToken, type SamplingOptions } from './sampling.js';
import { TokenTextStream } from './token-stream.js';
import type { ModelTokenizer } from './tokenizer.js';

/** Options of a generation. */
export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. Default 128. */
  readonly maxTokens?: number;
  /** Stop when the text contains one of these (the stop string is not returned). */
  readonly stop?: readonly string[];
  /** Extra token ids that end generation (the model's EOS ids always do). */
  readonly stopTokenIds?: readonly number[];
  /** Aborts between tokens. */
  readonly signal?: AbortSignal;
  /**
   * Runs the forward passes (default: the model itself). A {@link ContinuousBatcher} over the
   * model lets concurrent generations share their steps; results are the same.
   */
  readonly stepper?: ForwardStepper;
  /**
   * Starts from this session instead of a new one: it already holds the first
   * `session.position` tokens of the prompt (a reused prefix, e.g. from a {@link PrefixCache}),
   * so only the rest of the prompt is fed. At least one prompt token must remain to be fed (its
   * logits sample the first token). The generation owns the session from then on and disposes it
   * when it ends. Results are those of a fresh session.
   */
  readonly session?: ModelSession;
  /**
   * Called once the whole prompt is in the session, before the first token is sampled (and
   * before `generateChoices` forks it): the moment to retain the prompt's KV cache for reuse.
   * The session must not be stepped or disposed by the hook.
   */
  readonly onPrefill?: (session: ModelSession) => void | Promise<void>;
  /**
   * Called once when the generation ends by itself (EOS, a stop string, `maxTokens` or the end of
   * the context; not when aborted or failed), before its session is disposed: the session then
   * holds the prompt and every generated token that was fed back (all but the last sampled one),
   * the moment to retain a chat turn's KV cache so the next turn, whose history holds this reply,
   * reuses it. Called per choice under `generateChoices`. The session must not be stepped or
   * disposed by the hook.
   */
  readonly onFinish?: (session: ModelSession) => void | Promise<void>;
}

/** One streamed piece of text. */
export interface GeneratedChunk {
  /** New text since the previous chunk. */
  readonly text: string;
  /** The token ids produced for this chunk. */
  readonly tokenIds: readonly number[];
  /** One entry per token id, with its log-probabilities: present when `topLogprobs` was set. */
  readonly logprobs?: readonly SampledToken[];
}

/** What a finished generation reports. */
export interface GenerationStats {
  readonly promptTokens: number;
  /** Prompt tokens the starting session already held (not prefilled again). */
  readonly reusedPromptTokens: number;
  readonly completionTokens: number;
  readonly finishReason: 'stop' | 'length';
  readonly prefillMs: number;
  /** From the first generated token to the end (0 when no decode pass ran). */
  readonly decodeMs: number;
  /** Prompt tokens per second of the prefill pass. */
  readonly prefillTokensPerSecond: number;
  /** Decode forward passes (one per token after the first) per second of decodeMs. */
  readonly decodeTokensPerSecond: number;
  /** Time to the first generated token (prefill + first sample). */
  readonly timeToFirstTokenMs: number;
  /** `[layer][expert]`: routed rows over the whole generation (the prefill's included). */
  readonly tokensPerExpert: number[][];
}

/** `maxTokens` when none is given. */
const DEFAULT_MAX_TOKENS = 128;

/** Most choices `generateChoices` makes of one prompt. */
export const MAX_CHOICES = 128;

function addRouting(acc: number[][], step: { routing: readonly { stats: { tokensPerExpert: number[] } }[] }): void {
  step.routing.forEach((r, l) => {
    acc[l] ??= new Array(r.stats.tokensPerExpert.length).fill(0);
    r.stats.tokensPerExpert.forEach((v, e) => (acc[l][e] += v));
  });
}

/** The earliest index at or after `from` where any stop string starts in `text`, or -1. */
function findStop(text: string, stops: readonly string[], from: number): number {
  let at = -1;
  for (const s of stops) {
    const i = text.indexOf(s, from);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

function checkOptions(model: MoEModel, promptIds: readonly number[], options: GenerateOptions): void {
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new ConfigError('max_tokens', `expected a positive integer, got ${maxTokens}`);
  if (promptIds.length === 0) throw new ConfigError('prompt', 'expected at least one prompt token');
  if (options.stepper && 'model' in options.stepper && options.stepper.model !== model) throw new ConfigError('stepper', 'runs another model');
  if (options.session) checkStartSession(options.session, promptIds);
}

/** {@link checkOptions} (and `extra`), disposing a given starting session when they fail: the generation owns it. */
function checkOwning(model: MoEModel, promptIds: readonly number[], options: GenerateOptions, extra?: () => void): void {
  try {
    extra?.();
    checkOptions(model, promptIds, options);
  } catch (err) {
    options.session?.dispose();
    throw err;
  }
}

/** A starting session must hold a proper prefix of the prompt. */
function checkStartSession(session: ModelSession, promptIds: readonly number[]): void {
  const held = session.position;
  if (held >= promptIds.length) throw new ConfigError('session', `holds ${held} positions; expected fewer than the prompt's ${promptIds.length} tokens`);
  const tokens = session.tokens;
  for (let i = 0; i < held; i++) {
    if (tokens[i] !== promptIds[i]) throw new ConfigError('session', `token ${i} is ${tokens[i]}, the prompt's is ${promptIds[i]}; expected a session holding a prefix of the prompt`);
  }
}

/** The prefill a generation starts from (shared by the choices of one prompt). */
interface Prefill {
  readonly step: ModelStep;
  readonly promptTokens: number;
  /** Of them, the ones the starting session already held. */
  readonly reusedTokens: number;
  readonly prefillMs: number;
  /** When the prefill began (performance.now()). */
  readonly t0: number;
}

/**
 * Samples and decodes from a prefilled session (options already checked) until EOS, a stop string, `maxTokens` or the
 * end of the context; the session is disposed when this ends, however it ends.
 */
async function* decodeFrom(
  model: MoEModel,
  tokenizer: ModelTokenizer,
  session: ModelSession,
  prefill: Prefill,
  sampler: Sampler,
  options: GenerateOptions,
): AsyncGenerator<GeneratedChunk, GenerationStats, void> {
  try {
    const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
    const stops = (options.stop ?? []).filter((s) => s.length > 0);
    const holdBack = stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
    const eos = new Set([...model.config.eosTokenIds, ...(options.stopTokenIds ?? [])]);
    if (tokenizer.eosTokenId !== undefined) eos.add(tokenizer.eosTokenId);
    const withLogprobs = options.topLogprobs !== undefined;
    const stream = new TokenTextStream(tokenizer);
    const routing: number[][] = [];
    addRouting(routing, prefill.step);
    let step = prefill.step;
    let generated = 0;
    let text = ''; // the stream's text so far (only the part after `emitted` is still needed)
    let emitted = 0; // characters of `text` already yielded
    let pending: number[] = [];
    let pendingLogprobs: SampledToken[] = [];
    const chunk = (t: string): GeneratedChunk => {
      const c = { text: t, tokenIds: pending, ...(withLogprobs ? { logprobs: pendingLogprobs } : {}) };
      pending = [];
      pendingLogprobs = [];
      return c;
    };
    let finishReason: 'stop' | 'length' = 'length';
    let stoppedByString = false;
    let firstTokenMs = 0;
    // Decode speed: the forward passes after the first token over the time from that token on
    // (the pass whose logits sampled EOS counts too: it was computed).
    let tDecode = 0;
    let decodeSteps = 0;
    while (generated < maxTokens) {
      options.signal?.throwIfAborted();
      const sampled = sampler.sample(step.logits, (step.rows - 1) * model.config.vocabSize, model.config.vocabSize);
      const next = sampled.id;
      if (generated === 0) {
        tDecode = performance.now();
        firstTokenMs = tDecode - prefill.t0;
      }
      if (eos.has(next)) {
        finishReason = 'stop';
        break;
      }
      generated++;
      pending.push(next);
      if (withLogprobs) pendingLogprobs.push(sampled);
      const before = text.length;
      text += stream.push(next);
      // A new stop string ends in the new text: search from where it could start.
      const stopAt = findStop(text, stops, Math.max(emitted, before - holdBack));
      if (stopAt >= 0) {
        if (stopAt > emitted) yield chunk(text.slice(emitted, stopAt));
        finishReason = 'stop';
        stoppedByString = true;
        break;
      }
      // Hold back what could still become a stop string.
      const safe = text.length - holdBack;
      if (safe > emitted) {
        yield chunk(text.slice(emitted, safe));
        text = text.slice(safe);
        emitted = 0;
      }
      if (generated === maxTokens) break;
      // The context window is full: the token just sampled cannot be fed back, so this is the end.
      if (session.position >= session.contextLength) break;
      step = await (options.stepper ?? model).forward(session, [next], { signal: options.signal });
      decodeSteps++;
      addRouting(routing, step);
    }
    if (!stoppedByString) {
      // Flush what was held back for stop strings or an unfinished UTF-8 sequence.
      text += stream.flush();
      if (text.length > emitted || pending.length) yield chunk(text.slice(emitted));
    }
    const decodeMs = decodeSteps > 0 ? performance.now() - tDecode : 0;
    await options.onFinish?.(session);
    return {
      promptTokens: prefill.promptTokens,
      reusedPromptTokens: prefill.reusedTokens,
      completionTokens: generated,
      finishReason,
      prefillMs: prefill.prefillMs,
      decodeMs,
      // Of the tokens this prefill computed (a reused prefix was not).
      prefillTokensPerSecond: (prefill.promptTokens - prefill.reusedTokens) / (prefill.prefillMs / 1000),
      decodeTokensPerSecond: decodeSteps > 0 ? decodeSteps / (decodeMs / 1000) : 0,
      timeToFirstTokenMs: firstTokenMs,
      tokensPerExpert: routing,
    };
  } finally {
    session.dispose();
  }
}

/**
 * Prefills what `session` does not hold yet of `promptIds` and runs the `onPrefill` hook,
 * disposing the session if either fails.
 */
async function prefillSession(model: MoEModel, session: ModelSession, promptIds: readonly number[], options: GenerateOptions): Promise<Prefill> {
  const t0 = performance.now();
  const reusedTokens = session.position;
  try {
    const step = await (options.stepper ?? model).forward(session, promptIds.slice(reusedTokens), { signal: options.signal });
    const prefillMs = performance.now() - t0;
    await options.onPrefill?.(session);
    return { step, promptTokens: promptIds.length, reusedTokens, prefillMs, t0 };
  } catch (err) {
    session.dispose();
    throw err;
  }
}

/**
 * Generates from `promptIds`, yielding text chunks; the return value carries the statistics.
 * The generation's session is disposed when it ends (finished, failed, or returned early).
 */
export async function* generate(
  model: MoEModel,
  tokenizer: ModelTokenizer,
  promptIds: readonly number[],
  options: GenerateOptions = {},
): AsyncGenerator<GeneratedChunk, GenerationStats, void> {
  checkOwning(model, promptIds, options);
  const sampler = new Sampler(options);
  const session = options.session ?? model.newSession();
  const prefill = await prefillSession(model, session, promptIds, options);
  return yield* decodeFrom(model, tokenizer, session, prefill, sampler, options);
}

/**
 * `n` independent generations of one prompt (OpenAI's `n`), prefilled once: after the prefill
 * the session is forked `n - 1` times (`MoEModel.forkSession` copies its KV cache), and every
 * choice samples its first token from the same prefill logits. Choice `i` samples with seed
 * `seed + i` (so choice 0 is what `generate` with `seed` gives); without a seed the choices
 * get consecutive seeds from one clock-based base. Each generator disposes its session when it
 * ends (finished, failed, or returned early); drain or `return()` every one of them (one never
 * started keeps its session until it is garbage-collected). Each choice's statistics report
 * the shared prefill.
 */
export async function generateChoices(
  model: MoEModel,
  tokenizer: ModelTokenizer,
  promptIds: readonly number[],
  n: number,
  options: GenerateOptions = {},
): Promise<AsyncGenerator<GeneratedChunk, GenerationStats, void>[]> {
  checkOwning(model, promptIds, options, () => {
    if (!Number.isInteger(n) || n < 1 || n > MAX_CHOICES) throw new ConfigError('n', `expected an integer in [1, ${MAX_CHOICES}], got ${n}`);
  });
  const base = options.seed ?? Date.now() % 2 ** 31;
  const samplers = Array.from({ length: n }, (_, i) => new Sampler({ ...options, seed: base + i }));
  const first = options.session ?? model.newSession();
  const prefill = await prefillSession(model, first, promptIds, options);
  const sessions = [first];
  try {
    for (let i = 1; i < n; i++) sessions.push(await model.forkSession(first));
  } catch (err) {
    for (const s of sessions) s.dispose();
    throw err;
  }
  return sessions.map((s, i) => decodeFrom(model, tokenizer, s, prefill, samplers[i], options));
}
