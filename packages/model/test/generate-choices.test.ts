import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { createRng, getBackend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generate,
  generateChoices,
  loadCheckpoint,
  MAX_PENDING_TOKENS,
  ModelTokenizer,
  MoEModel,
  tinyTokenizerJson,
  writeTinyCheckpoint,
  type GeneratedChunk,
  type GenerationStats,
  type ModelSession,
  type ModelStep,
} from '../src/index.js';

let root: string;
let model: MoEModel;
let tokenizer: ModelTokenizer;
/** Every session the model opened or forked, to check they are all disposed. */
const opened: ModelSession[] = [];
let prefills = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-choices-'));
  await writeTinyCheckpoint(root, { modelType: 'mixtral', seed: 41 });
  const { config, weights } = await loadCheckpoint(root);
  model = await MoEModel.create(config, weights, await getBackend('cpu'));
  tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(config.vocabSize));
  const newSession = model.newSession.bind(model);
  model.newSession = (o) => {
    const s = newSession(o);
    opened.push(s);
    return s;
  };
  const forward = model.forward.bind(model);
  model.forward = (s, tokens, o) => {
    if (tokens.length > 1) prefills++;
    return forward(s, tokens, o);
  };
});
afterAll(async () => {
  model.dispose();
  await rm(root, { recursive: true, force: true });
});

async function drain(it: AsyncGenerator<GeneratedChunk, GenerationStats, void>): Promise<{ ids: number[]; text: string; chunks: GeneratedChunk[]; stats: GenerationStats }> {
  const chunks: GeneratedChunk[] = [];
  let r = await it.next();
  while (!r.done) {
    chunks.push(r.value);
    r = await it.next();
  }
  return { ids: chunks.flatMap((c) => c.tokenIds), text: chunks.map((c) => c.text).join(''), chunks, stats: r.value };
}

const prompt = [1, 70, 104, 101, 32, 120, 44];
const sampling = { temperature: 1.3, topP: 0.95, maxTokens: 12, seed: 500 };

describe('generate disposes its session', () => {
  it('when it finishes, and when the caller stops early', async () => {
    const before = opened.length;
    await drain(generate(model, tokenizer, prompt, sampling));
    const early = generate(model, tokenizer, prompt, sampling);
    await early.next();
    await early.return(undefined as unknown as GenerationStats);
    const mine = opened.slice(before);
    expect(mine).toHaveLength(2);
    for (const s of mine) expect(s.disposed).toBe(true);
  });
});

describe('n choices of one prompt', () => {
  it('prefill once, fork the session, and give choice i what generate gives with seed + i', async () => {
    prefills = 0;
    const before = opened.length;
    const choices = await generateChoices(model, tokenizer, prompt, 3, sampling);
    expect(choices).toHaveLength(3);
    const got = await Promise.all(choices.map(drain));
    expect(prefills).toBe(1);
    // Every session (the prefilled one and its two forks) is disposed at the end.
    expect(opened.slice(before).every((s) => s.disposed)).toBe(true);
    for (let i = 0; i < 3; i++) {
      const alone = await drain(generate(model, tokenizer, prompt, { ...sampling, seed: sampling.seed + i }));
      expect(got[i].ids).toEqual(alone.ids);
      expect(got[i].text).toBe(alone.text);
      expect(got[i].stats.promptTokens).toBe(prompt.length);
    }
    expect(new Set(got.map((g) => g.ids.join(','))).size).toBeGreaterThan(1);
  });

  it('refuses n outside [1, 128], naming the field', async () => {
    await expect(generateChoices(model, tokenizer, prompt, 0)).rejects.toThrow(/n: expected an integer in \[1, 128\], got 0/);
    await expect(generateChoices(model, tokenizer, prompt, 1.5)).rejects.toThrow(/^n: /);
  });
});

describe('log-probabilities and penalties through generate', () => {
  it('give one entry per streamed token id, the token itself among the chosen ones', async () => {
    const { chunks, ids } = await drain(generate(model, tokenizer, prompt, { ...sampling, topLogprobs: 2 }));
    expect(ids.length).toBeGreaterThan(0);
    for (const c of chunks) {
      expect(c.logprobs!.map((l) => l.id)).toEqual(c.tokenIds);
      for (const l of c.logprobs!) {
        expect(l.logprob).toBeLessThanOrEqual(0);
        expect(l.topLogprobs).toHaveLength(2);
        expect(l.topLogprobs![0].logprob).toBeGreaterThanOrEqual(l.logprob!);
      }
    }
    const plain = await drain(generate(model, tokenizer, prompt, sampling));
    expect(plain.chunks.every((c) => c.logprobs === undefined)).toBe(true);
    expect(plain.ids).toEqual(ids);
  });

  it('greedy decoding with penalties follows logit - count * frequency - presence', async () => {
    const vocab = 384;
    const rng = createRng(8);
    const row = Float32Array.from({ length: vocab }, () => rng.normal());
    row[2] = -10; // EOS never wins
    const fake = {
      config: { vocabSize: vocab, eosTokenIds: [2], maxPositions: 4096 },
      newSession: () => ({ position: 0, dispose: () => undefined }),
      forward: async (session: { position: number }, tokens: ArrayLike<number>): Promise<ModelStep> => {
        session.position += tokens.length;
        return { logits: row, rows: 1, routing: [] };
      },
    } as unknown as MoEModel;
    const f = 0.3;
    const p = 0.2;
    const { ids } = await drain(generate(fake, ModelTokenizer.fromJson(tinyTokenizerJson(vocab)), [1], { maxTokens: 30, frequencyPenalty: f, presencePenalty: p }));
    const counts = new Map<number, number>();
    const want: number[] = [];
    for (let t = 0; t < 30; t++) {
      const adj = Array.from(row, (v, i) => v - (counts.get(i) ?? 0) * f - (counts.has(i) ? p : 0));
      const id = adj.indexOf(Math.max(...adj));
      want.push(id);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(ids).toEqual(want);
    expect(new Set(ids).size).toBeGreaterThan(3);
  });
});

describe('streaming cost', () => {
  it('decodes a bounded window per token, not the whole generated text again', async () => {
    const vocab = 384;
    const script = createRng(12);
    const fake = {
      config: { vocabSize: vocab, eosTokenIds: [2], maxPositions: 4096 },
      newSession: () => ({ position: 0, dispose: () => undefined }),
      forward: async (session: { position: number }, tokens: ArrayLike<number>): Promise<ModelStep> => {
        session.position += tokens.length;
        const logits = new Float32Array(vocab).fill(-1);
        logits[3 + 32 + script.int(90)] = 5; // printable ASCII byte tokens
        return { logits, rows: 1, routing: [] };
      },
    } as unknown as MoEModel;
    const base = ModelTokenizer.fromJson(tinyTokenizerJson(vocab));
    const windows: number[] = [];
    const counted = Object.create(base) as ModelTokenizer;
    counted.decode = (ids, o) => {
      windows.push(ids.length);
      return base.decode(ids, o);
    };
    const { ids, text } = await drain(generate(fake, counted, [1], { maxTokens: 300, stop: ['never-there'] }));
    expect(ids).toHaveLength(300);
    expect(text).toBe(base.decode(ids, { cleanUpSpaces: false }));
    expect(Math.max(...windows)).toBeLessThanOrEqual(2 * MAX_PENDING_TOKENS);
  });
});
