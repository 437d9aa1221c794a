import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { ConfigError, getBackend, SafetensorsError, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  argmax,
  chosenExperts,
  loadCheckpoint,
  MoEModel,
  MODEL_TYPES,
  referenceModelLogits,
  TextModel,
  writeTinyCheckpoint,
  type ModelType,
} from '../src/index.js';

let root: string;
let backend: Backend;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-model-'));
  backend = await getBackend('cpu');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const PROMPT = [1, 70, 104, 101, 32, 120, 200, 33, 90, 250, 301, 17];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.each(MODEL_TYPES)('%s tiny checkpoint', (type: ModelType) => {
  it('loads, and its logits match the float64 reference decoder at every position', async () => {
    const dir = join(root, `${type}-f32`);
    await writeTinyCheckpoint(dir, { modelType: type, seed: 11 + type.length });
    const { config, weights } = await loadCheckpoint(dir);
    const model = await MoEModel.create(config, weights, backend);
    const session = model.newSession();
    // Prefill in two chunks so the KV cache path is exercised too.
    const a = await model.forward(session, PROMPT.slice(0, 7), { allLogits: true });
    const b = await model.forward(session, PROMPT.slice(7), { allLogits: true });
    const ref = referenceModelLogits(config, weights, PROMPT);
    const v = config.vocabSize;
    const got = new Float32Array(PROMPT.length * v);
    got.set(a.logits);
    got.set(b.logits, a.logits.length);
    // measured 2.4e-6 to 3.2e-6 max abs (2026-12-02, four architectures); asserted 4e-5, about 12x
    expect(maxAbsDiff(got, ref.logits)).toBeLessThan(4e-5);
    for (let p = 0; p < PROMPT.length; p++) expect(argmax(got, p * v, v)).toBe(argmax(ref.logits, p * v, v));
    // Identical chosen experts in every layer.
    const refExperts = chosenExperts(ref.plans);
    const gotExperts = chosenExperts(a.routing.map((r) => r.plan));
    for (let l = 0; l < config.numLayers; l++) expect(gotExperts[l]).toEqual(refExperts[l].slice(0, 7));
    model.dispose();
  });
});

describe('weights in half precision', () => {
  it.each(['float16', 'bfloat16'] as const)('a %s checkpoint matches the reference on the same rounded weights', async (dtype) => {
    const dir = join(root, `mixtral-${dtype}`);
    await writeTinyCheckpoint(dir, { modelType: 'mixtral', seed: 5, dtype, shards: 3 });
    const { config, weights } = await loadCheckpoint(dir);
    expect(weights.embed.dtype).toBe(dtype);
    const model = await MoEModel.create(config, weights, backend);
    const out = await model.forward(model.newSession(), PROMPT, { allLogits: true });
    const ref = referenceModelLogits(config, weights, PROMPT);
    // measured 2.6e-6 (float16) and 2.5e-6 (bfloat16) max abs (2026-12-02); asserted 4e-5, about 15x
    expect(maxAbsDiff(out.logits, ref.logits)).toBeLessThan(4e-5);
    model.dispose();
  });
});

describe('generation', () => {
  it('greedy decoding with the cache equals re-running the full sequence', async () => {
    const dir = join(root, 'gen');
    await writeTinyCheckpoint(dir, { modelType: 'qwen3_moe', seed: 3 });
    const tm = await TextModel.load(dir, { backend: 'cpu' });
    const it = tm.complete('the router picks', { maxTokens: 6 });
    const generated: number[] = [];
    let r = await it.next();
    while (!r.done) {
      generated.push(...r.value.tokenIds);
      r = await it.next();
    }
    const stats = r.value;
    expect(stats.completionTokens).toBe(generated.length);
    expect(generated.length).toBeGreaterThan(0);
    expect(stats.prefillTokensPerSecond).toBeGreaterThan(0);
    // Rebuild the sequence without the cache: the greedy continuation must be the argmax.
    const prompt = tm.tokenizer.encode('the router picks');
    const seq = [...prompt, ...generated];
    const ref = referenceModelLogits(tm.config, (await loadCheckpoint(dir)).weights, seq);
    const v = tm.config.vocabSize;
    for (let i = 0; i < generated.length; i++) expect(argmax(ref.logits, (prompt.length - 1 + i) * v, v)).toBe(seq[prompt.length + i]);
    expect(stats.tokensPerExpert).toHaveLength(tm.config.numLayers);
    tm.dispose();
  });

  it('stops at a stop string without returning it, and seeds make sampling reproducible', async () => {
    const dir = join(root, 'gen2');
    await writeTinyCheckpoint(dir, { modelType: 'mixtral', seed: 8 });
    const tm = await TextModel.load(dir, { backend: 'cpu' });
    const collect = async (opts: Parameters<typeof tm.complete>[1]): Promise<string> => {
      let s = '';
      for await (const c of tm.complete('hello', opts)) s += c.text;
      return s;
    };
    const a = await collect({ maxTokens: 12, temperature: 0.9, topK: 50, topP: 0.95, seed: 1234 });
    const b = await collect({ maxTokens: 12, temperature: 0.9, topK: 50, topP: 0.95, seed: 1234 });
    expect(a).toBe(b);
    expect(a.length).toBeGreaterThan(0);
    const free = await collect({ maxTokens: 12 });
    const stop = free.slice(2, 4);
    const stopped = await collect({ maxTokens: 12, stop: [stop] });
    expect(stopped).toBe(free.slice(0, free.indexOf(stop)));
    tm.dispose();
  });

  it('renders the chat template', async () => {
    const dir = join(root, 'gen2');
    const tm = await TextModel.load(dir, { backend: 'cpu' });
    expect(tm.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('<s><|user|>\nhi</s>\n<|assistant|>\n');
    let n = 0;
    for await (const c of tm.chat([{ role: 'user', content: 'hi' }], { maxTokens: 3 })) n += c.tokenIds.length;
    expect(n).toBeGreaterThan(0);
    tm.dispose();
  });
});

describe('bad checkpoints', () => {
  it('names an unknown model type', async () => {
    const dir = join(root, 'bad-type');
    await writeTinyCheckpoint(dir, { modelType: 'mixtral' });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama' }));
    await expect(loadCheckpoint(dir)).rejects.toThrow(ConfigError);
    await expect(loadCheckpoint(dir)).rejects.toThrow(/model_type.*mixtral, qwen2_moe, qwen3_moe, olmoe.*llama/);
  });

  it('names a missing config file', async () => {
    await expect(loadCheckpoint(join(root, 'nowhere'))).rejects.toThrow(/config\.json/);
  });

  it('names a tensor whose shape disagrees with config.json', async () => {
    const dir = join(root, 'bad-shape');
    const { config } = await writeTinyCheckpoint(dir, { modelType: 'olmoe' });
    const json = JSON.parse(JSON.stringify({ ...(await import(join(dir, 'config.json'), { with: { type: 'json' } })).default }));
    json.num_attention_heads = 8;
    json.head_dim = config.headDim;
    await writeFile(join(dir, 'config.json'), JSON.stringify(json));
    await expect(loadCheckpoint(dir)).rejects.toThrow(SafetensorsError);
    await expect(loadCheckpoint(dir)).rejects.toThrow(/model\.layers\.0\.self_attn\.q_proj\.weight.*expected \[128, 64\]/);
  });

  it('rejects token ids outside the vocabulary', async () => {
    const { config, weights } = await loadCheckpoint(join(root, 'gen2'));
    const model = await MoEModel.create(config, weights, backend);
    await expect(model.forward(model.newSession(), [1, config.vocabSize])).rejects.toThrow(/outside the vocabulary/);
    model.dispose();
  });
});
