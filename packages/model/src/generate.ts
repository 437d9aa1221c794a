/**
 * Text generation: the prompt is prefilled in one batched forward pass, then tokens are decoded
 * one at a time with the KV cache and streamed as an async iterator of text deltas. Stop
 * strings are honoured without ever emitting a partial stop string.
 */
import { ConfigError } from '@moe-runtime/core';
import type { ForwardStepper } from './continuous-batcher.js';
import type { MoEModel } from './moe-model.js';
import { Sampler, type SamplingOptions } from './sampling.js';
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
}

/** One streamed piece of text. */
export interface GeneratedChunk {
  /** New text since the previous chunk. */
  readonly text: string;
  /** The token ids produced for this chunk. */
  readonly tokenIds: readonly number[];
}

/** What a finished generation reports. */
export interface GenerationStats {
  readonly promptTokens: number;
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
  /** `[layer][expert]`: routed rows over the whole generation. */
  readonly tokensPerExpert: number[][];
}

function addRouting(acc: number[][], step: { routing: readonly { stats: { tokensPerExpert: number[] } }[] }): void {
  step.routing.forEach((r, l) => {
    acc[l] ??= new Array(r.stats.tokensPerExpert.length).fill(0);
    r.stats.tokensPerExpert.forEach((v, e) => (acc[l][e] += v));
  });
}

/** The earliest index where any stop string starts in `text`, or -1. */
function findStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Streamed text must only grow as tokens arrive, so the space clean-up stays off (see decode). */
const STREAM_DECODE = { cleanUpSpaces: false } as const;

/** Generates from `promptIds`, yielding text chunks; the return value carries the statistics. */
export async function* generate(
  model: MoEModel,
  tokenizer: ModelTokenizer,
  promptIds: readonly number[],
  options: GenerateOptions = {},
): AsyncGenerator<GeneratedChunk, GenerationStats, void> {
  const maxTokens = options.maxTokens ?? 128;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new ConfigError('max_tokens', `expected a positive integer, got ${maxTokens}`);
  if (promptIds.length === 0) throw new ConfigError('prompt', 'expected at least one prompt token');
  const stops = (options.stop ?? []).filter((s) => s.length > 0);
  const holdBack = stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
  const eos = new Set([...model.config.eosTokenIds, ...(options.stopTokenIds ?? [])]);
  if (tokenizer.eosTokenId !== undefined) eos.add(tokenizer.eosTokenId);
  const sampler = new Sampler(options);
  const stepper = options.stepper ?? model;
  if (options.stepper && 'model' in options.stepper && options.stepper.model !== model) throw new ConfigError('stepper', 'runs another model');
  const session = model.newSession();
  // The session's KV cache is released however the generation ends (done, error, return()).
  try {
    const routing: number[][] = [];
    const t0 = performance.now();
    let step = await stepper.forward(session, promptIds, { signal: options.signal });
    const prefillMs = performance.now() - t0;
    addRouting(routing, step);
    const generated: number[] = [];
    let emitted = 0; // characters of the decoded text already yielded
    let pending: number[] = [];
    let finishReason: 'stop' | 'length' = 'length';
    let stoppedByString = false;
    let firstTokenMs = 0;
    // Decode speed: the forward passes after the first token over the time from that token on
    // (the pass whose logits sampled EOS counts too: it was computed).
    let tDecode = 0;
    let decodeSteps = 0;
    while (generated.length < maxTokens) {
      options.signal?.throwIfAborted();
      const next = sampler.next(step.logits, (step.rows - 1) * model.config.vocabSize, model.config.vocabSize);
      if (generated.length === 0) {
        tDecode = performance.now();
        firstTokenMs = tDecode - t0;
      }
      if (eos.has(next)) {
        finishReason = 'stop';
        break;
      }
      generated.push(next);
      pending.push(next);
      const text = tokenizer.decode(generated, STREAM_DECODE);
      const stopAt = findStop(text, stops);
      if (stopAt >= 0) {
        if (stopAt > emitted) yield { text: text.slice(emitted, stopAt), tokenIds: pending };
        finishReason = 'stop';
        stoppedByString = true;
        break;
      }
      // Hold back what could still become a stop string, and an incomplete UTF-8 sequence.
      let safe = text.length - holdBack;
      if (text.endsWith('\uFFFD')) safe = Math.min(safe, text.length - 1);
      if (safe > emitted) {
        yield { text: text.slice(emitted, safe), tokenIds: pending };
        emitted = safe;
        pending = [];
      }
      if (generated.length === maxTokens) break;
      // The context window is full: the token just sampled cannot be fed back, so this is the end.
      if (session.position >= session.contextLength) break;
      step = await stepper.forward(session, [next], { signal: options.signal });
      decodeSteps++;
      addRouting(routing, step);
    }
    if (!stoppedByString) {
      // Flush what was held back for stop strings or an unfinished UTF-8 sequence.
      const text = tokenizer.decode(generated, STREAM_DECODE);
      if (text.length > emitted || pending.length) yield { text: text.slice(emitted), tokenIds: pending };
    }
    const decodeMs = decodeSteps > 0 ? performance.now() - tDecode : 0;
    return {
      promptTokens: promptIds.length,
      completionTokens: generated.length,
      finishReason,
      prefillMs,
      decodeMs,
      prefillTokensPerSecond: promptIds.length / (prefillMs / 1000),
      decodeTokensPerSecond: decodeSteps > 0 ? decodeSteps / (decodeMs / 1000) : 0,
      timeToFirstTokenMs: firstTokenMs,
      tokensPerExpert: routing,
    };
  } finally {
    session.dispose();
  }
}
