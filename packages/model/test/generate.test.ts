import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { getBackend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  argmax,
  generate,
  loadCheckpoint,
  ModelTokenizer,
  MoEModel,
  referenceModelLogits,
  tinyTokenizerConfig,
  tinyTokenizerJson,
  writeTinyCheckpoint,
  type GeneratedChunk,
  type GenerationStats,
  type ModelStep,
} from '../src/index.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-generate-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function drain(it: AsyncGenerator<GeneratedChunk, GenerationStats, void>): Promise<{ chunks: GeneratedChunk[]; stats: GenerationStats }> {
  const chunks: GeneratedChunk[] = [];
  let r = await it.next();
  while (!r.done) {
    chunks.push(r.value);
    r = await it.next();
  }
  return { chunks, stats: r.value };
}

describe('generation at the end of the context window', () => {
  it('stops with finish reason length instead of throwing when max_position_embeddings is reached', async () => {
    const dir = join(root, 'ctx');
    await writeTinyCheckpoint(dir, { modelType: 'mixtral', seed: 17 });
    const { config, weights } = await loadCheckpoint(dir);
    const maxPositions = 9;
    const model = await MoEModel.create({ ...config, maxPositions }, weights, await getBackend('cpu'));
    const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(config.vocabSize));
    const prompt = [1, 70, 104, 101, 32, 120];
    const { chunks, stats } = await drain(generate(model, tokenizer, prompt, { maxTokens: 50 }));
    const ids = chunks.flatMap((c) => c.tokenIds);
    expect(stats.finishReason).toBe('length');
    expect(stats.completionTokens).toBe(ids.length);
    // Positions 0..8 are fed; the last token is sampled from position 8's logits and not fed back.
    expect(prompt.length + ids.length).toBe(maxPositions + 1);
    const ref = referenceModelLogits(config, weights, [...prompt, ...ids.slice(0, -1)]);
    const v = config.vocabSize;
    for (let i = 0; i < ids.length; i++) expect(argmax(ref.logits, (prompt.length - 1 + i) * v, v)).toBe(ids[i]);
    model.dispose();
  });
});

/** A model stand-in that emits a scripted token sequence (one-hot logits). */
function scriptedModel(script: readonly number[], vocabSize: number): MoEModel {
  let step = 0;
  const fake = {
    config: { vocabSize, eosTokenIds: [2], maxPositions: 4096 },
    newSession: () => ({ position: 0, dispose: () => undefined }),
    forward: async (session: { position: number }, tokens: ArrayLike<number>): Promise<ModelStep> => {
      session.position += tokens.length;
      const logits = new Float32Array(vocabSize).fill(-1);
      logits[script[Math.min(step++, script.length - 1)]] = 5;
      return { logits, rows: 1, routing: [] };
    },
  };
  return fake as unknown as MoEModel;
}

describe('streamed text', () => {
  const vocab = 384;
  const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(vocab));
  const byteIds = (s: string): number[] => [...new TextEncoder().encode(s)].map((b) => 3 + b); // byte tokens start at id 3

  it('never yields half of a UTF-8 sequence split over byte tokens', async () => {
    const text = 'a€b😀c';
    const { chunks, stats } = await drain(generate(scriptedModel([...byteIds(text), 2], vocab), tokenizer, [1], { maxTokens: 40 }));
    for (const c of chunks) expect(c.text).not.toMatch(/\uFFFD/);
    expect(chunks.map((c) => c.text).join('')).toBe(text);
    expect(stats.finishReason).toBe('stop');
    expect(chunks.flatMap((c) => c.tokenIds)).toEqual(byteIds(text));
  });

  it('cuts a stop string that arrives over several tokens, never yielding its start', async () => {
    const { chunks, stats } = await drain(generate(scriptedModel(byteIds('one STOP two'), vocab), tokenizer, [1], { maxTokens: 40, stop: ['STOP'] }));
    for (const c of chunks) expect(c.text).not.toMatch(/S/);
    expect(chunks.map((c) => c.text).join('')).toBe('one ');
    expect(stats.finishReason).toBe('stop');
  });
});

describe('streamed text with a tokenizer that cleans up spaces', () => {
  it('streams every character even though the cleaned full decode is not prefix-stable', async () => {
    // clean_up_tokenization_spaces turns "a ." into "a." once the "." arrives: a streamer that
    // diffs full decodes against what it already sent would lose the "." and ",".
    const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(384), { ...tinyTokenizerConfig(), clean_up_tokenization_spaces: true });
    const text = 'a . b , c!';
    const ids = [...new TextEncoder().encode(text)].map((b) => 3 + b);
    const { chunks } = await drain(generate(scriptedModel([...ids, 2], 384), tokenizer, [1], { maxTokens: 40 }));
    expect(chunks.map((c) => c.text).join('')).toBe(text);
    expect(chunks.flatMap((c) => c.tokenIds)).toEqual(ids);
  });
});

describe('generate options', () => {
  const vocab = 384;
  const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(vocab));

  it('names max_tokens 0, an empty prompt and bad sampling options before running the model', async () => {
    const model = scriptedModel([40, 41, 2], vocab);
    const first = (opts: Parameters<typeof generate>[3], prompt: number[] = [1]): Promise<unknown> => generate(model, tokenizer, prompt, opts).next();
    await expect(first({ maxTokens: 0 })).rejects.toThrow(/max_tokens: expected a positive integer, got 0/);
    await expect(first({ maxTokens: 2.5 })).rejects.toThrow(/max_tokens/);
    await expect(first({}, [])).rejects.toThrow(/prompt: expected at least one prompt token/);
    await expect(first({ temperature: -1 })).rejects.toThrow(/temperature: expected a number >= 0, got -1/);
    await expect(first({ topP: 0 })).rejects.toThrow(/top_p: expected a number in \(0, 1\], got 0/);
    await expect(first({ topK: -2 })).rejects.toThrow(/top_k: expected an integer >= 0, got -2/);
  });

  it('maxTokens 1 yields exactly one token and reports finish reason length', async () => {
    const { chunks, stats } = await drain(generate(scriptedModel([3 + 104, 3 + 105, 2], vocab), tokenizer, [1], { maxTokens: 1 }));
    expect(chunks.map((c) => c.text).join('')).toBe('h');
    expect(stats.completionTokens).toBe(1);
    expect(stats.finishReason).toBe('length');
    expect(stats.decodeTokensPerSecond).toBe(0);
  });

  it('flushes text held back for a stop string when EOS ends the generation', async () => {
    const { chunks, stats } = await drain(generate(scriptedModel([3 + 97, 3 + 98, 2], vocab), tokenizer, [1], { maxTokens: 10, stop: ['bcd'] }));
    expect(chunks.map((c) => c.text).join('')).toBe('ab');
    expect(stats.finishReason).toBe('stop');
    expect(stats.completionTokens).toBe(2);
  });
});

describe('decode speed', () => {
  it('divides the decode forward passes by the time they took, EOS step included', async () => {
    const vocab = 384;
    const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(vocab));
    const script = [3 + 104, 3 + 105, 3 + 106, 3 + 107, 2]; // four tokens, then EOS
    let step = 0;
    let decodeForwards = 0;
    let decodeForwardMs = 0;
    const model = {
      config: { vocabSize: vocab, eosTokenIds: [2], maxPositions: 4096 },
      newSession: () => ({ position: 0, dispose: () => undefined }),
      forward: async (session: { position: number }, tokens: ArrayLike<number>): Promise<ModelStep> => {
        const t = performance.now();
        await new Promise((r) => setTimeout(r, 15));
        session.position += tokens.length;
        const logits = new Float32Array(vocab).fill(-1);
        logits[script[step++]] = 5;
        if (step > 1) {
          decodeForwards++;
          decodeForwardMs += performance.now() - t;
        }
        return { logits, rows: 1, routing: [] };
      },
    } as unknown as MoEModel;
    const { stats } = await drain(generate(model, tokenizer, [1], { maxTokens: 10 }));
    expect(stats.completionTokens).toBe(4);
    expect(stats.finishReason).toBe('stop');
    expect(decodeForwards).toBe(4);
    const expected = decodeForwards / (decodeForwardMs / 1000);
    // The measured rate only adds sampling and detokenising to the forward time: within 20% below (leaving the EOS pass out would give 3/4).
    expect(stats.decodeTokensPerSecond).toBeLessThanOrEqual(expected * 1.0001);
    expect(stats.decodeTokensPerSecond).toBeGreaterThan(expected * 0.8);
  });
});
