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
    newSession: () => ({ position: 0 }),
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
