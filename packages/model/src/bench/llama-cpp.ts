/**
 * llama.cpp (through node-llama-cpp, a dev dependency with its prebuilt CPU binaries from the npm
 * registry) as an independent implementation: the same weights exported to GGUF are evaluated
 * there, for the external logits check and the decode benchmark. Not part of the public API.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelConfig } from '../model-config.js';
import type { ModelWeights } from '../model-weights.js';
import { ggufTokenizerFromJson, writeLlamaGguf } from '../gguf/llama-gguf.js';

import type { LlamaContextSequence, Token } from 'node-llama-cpp';

type NodeLlamaCpp = typeof import('node-llama-cpp');

// node-llama-cpp brands token ids; ours are plain vocabulary indices.
const tok = (id: number): Token => id as Token;

/** Loads node-llama-cpp, or explains why it is unavailable. */
export async function loadNodeLlamaCpp(): Promise<{ lib?: NodeLlamaCpp; reason?: string }> {
  try {
    return { lib: await import('node-llama-cpp') };
  } catch (err) {
    // Only an absent package is a reason to skip: an installed package that fails to load is a
    // broken install, and hiding it would let the external check silently stop running.
    if (isMissingPackage(err, 'node-llama-cpp')) {
      return { reason: `node-llama-cpp is not installed (${err instanceof Error ? err.message : String(err)})` };
    }
    throw err;
  }
}

/** True when `err` says `name` itself could not be found (not one of its own imports). */
function isMissingPackage(err: unknown, name: string): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && err.message.includes(`'${name}'`);
}

/** Writes `<dir>/model.gguf` from a tiny/real mixtral checkpoint folder's weights. */
export async function exportGguf(dir: string, config: ModelConfig, weights: ModelWeights): Promise<string> {
  const tokenizer = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const path = join(dir, 'model.gguf');
  const bos = config.bosTokenId ?? 1;
  const eos = config.eosTokenIds[0] ?? 2;
  await writeLlamaGguf(path, config, weights, ggufTokenizerFromJson(tokenizer, bos, eos));
  return path;
}

/** KV cache types of a llama.cpp context this helper opens. */
export type LlamaKvType = 'F32' | 'F16';

/** A llama.cpp context over one GGUF file, with a float32 KV cache unless told (llama.cpp's default is f16). */
export class LlamaCppModel {
  private constructor(
    private readonly disposeAll: () => Promise<void>,
    private readonly sequence: LlamaContextSequence,
  ) {}

  static async open(lib: NodeLlamaCpp, ggufPath: string, options: { threads: number; contextSize?: number; batchSize?: number; kvType?: LlamaKvType }): Promise<LlamaCppModel> {
    const llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: lib.LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: ggufPath });
    const context = await model.createContext({
      contextSize: options.contextSize ?? 512,
      batchSize: options.batchSize ?? 512,
      threads: options.threads,
      flashAttention: false,
      experimentalKvCacheKeyType: options.kvType ?? 'F32',
      experimentalKvCacheValueType: options.kvType ?? 'F32',
    });
    const dispose = async (): Promise<void> => {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    };
    return new LlamaCppModel(dispose, context.getSequence());
  }

  /** Raw logits `[n, V]` after each of `tokens` (from a fresh sequence). */
  async logits(tokens: readonly number[], vocab: number): Promise<Float64Array> {
    await this.sequence.clearHistory();
    const res = await this.sequence.controlledEvaluate(tokens.map((t) => [tok(t), { generateNext: { logits: true } }] as [Token, { generateNext: { logits: true } }]));
    const out = new Float64Array(tokens.length * vocab);
    res.forEach((r, p) => {
      for (const [tok, v] of r?.next?.logits ?? []) out[p * vocab + tok] = v;
    });
    return out;
  }

  /** Prefill of `prompt` then `steps` greedy decode tokens; returns both durations in ms. */
  async timeGeneration(prompt: readonly number[], steps: number): Promise<{ prefillMs: number; decodeMs: number }> {
    await this.sequence.clearHistory();
    const t0 = performance.now();
    const first = await this.sequence.controlledEvaluate([...prompt.slice(0, -1).map(tok), [tok(prompt[prompt.length - 1]), { generateNext: { token: true } }]]);
    const prefillMs = performance.now() - t0;
    let next: number = first[prompt.length - 1]?.next?.token ?? 0;
    const t1 = performance.now();
    for (let i = 0; i < steps; i++) {
      const r = await this.sequence.controlledEvaluate([[tok(next), { generateNext: { token: true } }]]);
      next = r[0]?.next?.token ?? 0;
    }
    return { prefillMs, decodeMs: performance.now() - t1 };
  }

  /**
   * Prefill of `prompt`, untimed evaluations of `warmup`, then one evaluation per token of `steps` (given, not sampled: the
   * caller picks inputs that change every step); returns both durations in ms. Each evaluation
   * computes the last position's logits and picks its greedy token inside llama.cpp (copying
   * the whole vocabulary's logits to JavaScript would time node-llama-cpp, not llama.cpp).
   */
  async timeSteps(prompt: readonly number[], warmup: readonly number[], steps: readonly number[]): Promise<{ prefillMs: number; decodeMs: number }> {
    await this.sequence.clearHistory();
    const t0 = performance.now();
    await this.sequence.controlledEvaluate([...prompt.slice(0, -1).map(tok), [tok(prompt[prompt.length - 1]), { generateNext: { token: true } }]]);
    const prefillMs = performance.now() - t0;
    for (const t of warmup) await this.sequence.controlledEvaluate([[tok(t), { generateNext: { token: true } }]]);
    const t1 = performance.now();
    for (const t of steps) await this.sequence.controlledEvaluate([[tok(t), { generateNext: { token: true } }]]);
    return { prefillMs, decodeMs: performance.now() - t1 };
  }

  async dispose(): Promise<void> {
    await this.disposeAll();
  }
}

/** One llama.cpp context with several sequences, evaluated together (llama.cpp's batched decoding). */
export class LlamaCppBatch {
  private constructor(
    private readonly disposeAll: () => Promise<void>,
    private readonly sequences: readonly LlamaContextSequence[],
  ) {}

  static async open(lib: NodeLlamaCpp, ggufPath: string, options: { threads: number; sequences: number; contextSize: number }): Promise<LlamaCppBatch> {
    const llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: lib.LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: ggufPath });
    const context = await model.createContext({
      sequences: options.sequences,
      contextSize: options.contextSize,
      threads: options.threads,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    const sequences = Array.from({ length: options.sequences }, () => context.getSequence());
    const dispose = async (): Promise<void> => {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    };
    return new LlamaCppBatch(dispose, sequences);
  }

  /**
   * Prefills each sequence with its prompt (untimed), then runs `steps` greedy decode steps on
   * every sequence concurrently (node-llama-cpp batches concurrent evaluations of one context);
   * returns the decode time in ms.
   */
  async timeDecode(prompts: readonly (readonly number[])[], steps: number): Promise<number> {
    const next = await Promise.all(
      this.sequences.map(async (s, i) => {
        await s.clearHistory();
        const p = prompts[i];
        const r = await s.controlledEvaluate([...p.slice(0, -1).map(tok), [tok(p[p.length - 1]), { generateNext: { token: true } }]]);
        return r[p.length - 1]?.next?.token ?? 0;
      }),
    );
    const t0 = performance.now();
    await Promise.all(
      this.sequences.map(async (s, i) => {
        let t: number = next[i];
        for (let k = 0; k < steps; k++) t = (await s.controlledEvaluate([[tok(t), { generateNext: { token: true } }]]))[0]?.next?.token ?? 0;
      }),
    );
    return performance.now() - t0;
  }

  async dispose(): Promise<void> {
    await this.disposeAll();
  }
}
