/**
 * GGUF round trip: tiny checkpoints of every architecture, in several storage formats, are
 * written as GGUF, loaded back layer by layer, and their logits checked against the float64
 * reference decoder run on the exact decoded weights read from the same file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { getBackend, ShapeError, type Backend, type DType } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmax, chosenExperts, loadCheckpoint, loadGgufCheckpoint, loadModel, GGUF_MODEL_TYPES, referenceModelLogits, TextModel, writeTinyCheckpoint, type ModelType, type ModelWeights } from '../src/index.js';
import { KQUANT_SHAPE, writeTinyGguf } from './gguf-fixtures.js';

let root: string;
let backend: Backend;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-gguf-'));
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

/** The stored bytes of every tensor of a model, in a fixed order. */
function storedBytes(w: ModelWeights): Uint8Array[] {
  const out: Uint8Array[] = [w.embed.bytes(), w.lmHead.bytes()];
  for (const l of w.layers) {
    // Latent attention's kv_b_proj comes back rebuilt in float32 from attn_k_b / attn_v_b: not compared here.
    const a = l.attention;
    for (const t of [a.q, a.k, a.v, a.kvA, a.o]) if (t) out.push(t.bytes());
    for (const e of l.moe.experts) out.push(e.gate!.bytes(), e.up.bytes(), e.down.bytes());
  }
  return out;
}

/**
 * Loads `path` on the cpu backend and checks every position against the reference on the
 * file's weights; those weights must be the Hugging Face folder's, byte for byte (so the
 * rotary permutation and the expert stacking are undone exactly).
 */
async function checkAgainstReference(path: string, folder?: string, format?: DType): Promise<number> {
  const { config, weights } = await loadGgufCheckpoint(path);
  if (folder) {
    const original = await loadCheckpoint(folder, { dtype: format });
    const want = storedBytes(original.weights);
    storedBytes(weights).forEach((b, i) => expect(Buffer.compare(b, want[i])).toBe(0));
  }
  const { model } = await loadModel(path, backend);
  const session = model.newSession();
  // Prefill in two chunks so the KV cache path is exercised too.
  const a = await model.forward(session, PROMPT.slice(0, 5), { allLogits: true });
  const b = await model.forward(session, PROMPT.slice(5), { allLogits: true });
  model.dispose();
  const got = new Float32Array(PROMPT.length * config.vocabSize);
  got.set(a.logits);
  got.set(b.logits, a.logits.length);
  const ref = referenceModelLogits(config, weights, PROMPT);
  const v = config.vocabSize;
  for (let p = 0; p < PROMPT.length; p++) expect(argmax(got, p * v, v)).toBe(argmax(ref.logits, p * v, v));
  const refExperts = chosenExperts(ref.plans);
  const gotExperts = chosenExperts(a.routing.map((r) => r.plan));
  for (let l = 0; l < config.numLayers; l++) expect(gotExperts[l]).toEqual(refExperts[l].slice(0, 5));
  const diff = maxAbsDiff(got, ref.logits);
  if (process.env.MOE_PRINT_DIFFS) console.log(`${path}: max abs ${diff.toExponential(2)}`);
  return diff;
}

// Weights decode exactly to float32 and the cpu backend computes in float32: measured max abs
// differences 2.4e-6 to 6.6e-6 (every type and format; MOE_PRINT_DIFFS=1 prints them); asserted 1e-4.
const TOLERANCE = 1e-4;

describe.each(GGUF_MODEL_TYPES)('%s GGUF round trip', (type: ModelType) => {
  it.each(['float32', 'bfloat16', 'q8_0', 'q4_0', 'q5_0', 'mxfp4'] as const)('%s: logits match the float64 reference on the decoded weights', async (format: DType) => {
    const { path } = await writeTinyGguf(root, `${type}-${format}`, { modelType: type, seed: 40 + type.length, format });
    expect(await checkAgainstReference(path, join(root, `${type}-${format}-hf`), format)).toBeLessThan(TOLERANCE);
  });

  it.each(['q4_k', 'q5_k', 'q6_k'] as const)('%s (256-value rows): logits match the float64 reference on the decoded weights', async (format: DType) => {
    const { path } = await writeTinyGguf(root, `${type}-${format}`, { modelType: type, seed: 50 + type.length, format, ...KQUANT_SHAPE });
    expect(await checkAgainstReference(path, join(root, `${type}-${format}-hf`), format)).toBeLessThan(TOLERANCE);
  });
});

describe('mixed formats (as llama.cpp Q4_K_M mixes q4_k and q6_k)', () => {
  it('attn_v and every other ffn_down_exps in q6_k, the rest in q4_k: the q/k/v projection runs as parts, logits match the reference', async () => {
    const { path } = await writeTinyGguf(root, 'qwen3-mixed', {
      modelType: 'qwen3_moe',
      seed: 61,
      format: 'q4_k',
      ...KQUANT_SHAPE,
      edit: (w) => ({
        ...w,
        layers: w.layers.map((l, i) => ({
          ...l,
          attention: { ...l.attention, v: l.attention.v!.to('q6_k') },
          moe: i % 2 === 0 ? { ...l.moe, experts: l.moe.experts.map((e) => ({ ...e, down: e.down.to('q6_k') })) } : l.moe,
        })),
      }),
    });
    const { weights } = await loadGgufCheckpoint(path);
    expect(weights.layers[0].attention.v?.dtype).toBe('q6_k');
    expect(weights.layers[0].attention.q.dtype).toBe('q4_k');
    expect(weights.layers[0].moe.experts[1].down.dtype).toBe('q6_k');
    expect(weights.layers[1].moe.experts[1].down.dtype).toBe('q4_k');
    expect(await checkAgainstReference(path)).toBeLessThan(TOLERANCE);
  });
});

describe('split GGUF checkpoints', () => {
  it('a checkpoint in 3 shards loads from its first shard and gives the same logits as the single file', async () => {
    const single = await writeTinyGguf(root, 'olmoe-single', { modelType: 'olmoe', seed: 62, format: 'q8_0' });
    const split = await writeTinyGguf(root, 'olmoe-split', { modelType: 'olmoe', seed: 62, format: 'q8_0', shards: 3 });
    expect(split.paths.map((p) => p.slice(root.length + 1))).toEqual(['olmoe-split-00001-of-00003.gguf', 'olmoe-split-00002-of-00003.gguf', 'olmoe-split-00003-of-00003.gguf']);
    const logits = async (path: string): Promise<Float32Array> => {
      const { model } = await loadModel(path, backend);
      const out = await model.forward(model.newSession(), PROMPT, { allLogits: true });
      model.dispose();
      return out.logits;
    };
    expect(maxAbsDiff(await logits(split.path), await logits(single.path))).toBe(0);
  });
});

describe('TextModel on a GGUF file', () => {
  it('loads, tokenizes like the folder it came from, reports memory and peak RSS, and generates', async () => {
    const { path } = await writeTinyGguf(root, 'text-q8', { modelType: 'qwen2_moe', seed: 63, format: 'q8_0' });
    const gguf = await TextModel.load(path, { backend: 'cpu' });
    const folder = await TextModel.load(join(root, 'text-q8-hf'), { backend: 'cpu' });
    for (const s of ['the router picks experts', 'Hello, world!  12345', 'héllo wörld 日本']) {
      // Same byte-level BPE: the folder's ByteLevel pre-tokenizer and GGUF's gpt-2 regex split alike.
      expect(gguf.tokenizer.encode(s)).toEqual(folder.tokenizer.encode(s));
    }
    expect(gguf.load.format).toBe('gguf');
    expect(gguf.memory.backendBytes).toBeGreaterThan(0);
    expect(gguf.load.peakRssBytes).toBeGreaterThan(0);
    expect(gguf.weightBytes).toBeLessThan(folder.weightBytes / 3);
    let text = '';
    for await (const c of gguf.complete('the router', { maxTokens: 4, seed: 1 })) text += c.text;
    expect(typeof text).toBe('string');
    gguf.dispose();
    folder.dispose();
  });

  it('takes the chat template, BOS and EOS from the metadata; the rendered special tokens encode as special ids', async () => {
    const chatTemplate = "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}";
    const { path } = await writeTinyGguf(root, 'chat', { modelType: 'olmoe', seed: 64, format: 'q8_0', chatTemplate });
    const tm = await TextModel.load(path, { backend: 'cpu' });
    expect(tm.tokenizer.hasChatTemplate).toBe(true);
    const text = tm.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]);
    expect(text).toBe('<s><|user|>hi</s>');
    const ids = tm.tokenizer.encode(text, false);
    expect(ids[0]).toBe(1);
    expect(ids[ids.length - 1]).toBe(2);
    expect(tm.tokenizer.eosTokenId).toBe(2);
    expect(tm.config.eosTokenIds).toEqual([2]);
    expect(tm.config.bosTokenId).toBe(1);
    tm.dispose();
  });
});

describe('quantize at load (--dtype)', () => {
  it('converts the weight matrices of a folder, never norms, biases or routers; says which', async () => {
    const dir = join(root, 'quantize-hf');
    await writeTinyCheckpoint(dir, { modelType: 'qwen2_moe', seed: 65, dtype: 'bfloat16' });
    const { model, converted } = await loadModel(dir, backend, { dtype: 'q8_0' });
    const byName = new Map(model.plannedTensors.map((t) => [t.name, t.dtype]));
    expect(byName.get('model.layers.0.self_attn.q_proj.weight')).toBe('q8_0');
    expect(byName.get('model.layers.1.mlp.experts.3.down_proj.weight')).toBe('q8_0');
    expect(byName.get('model.layers.0.mlp.shared_expert.up_proj.weight')).toBe('q8_0');
    expect(byName.get('model.embed_tokens.weight')).toBe('q8_0');
    expect(byName.get('model.layers.0.mlp.gate.weight')).toBe('bfloat16');
    expect(byName.get('model.layers.0.mlp.shared_expert_gate.weight')).toBe('bfloat16');
    expect(byName.get('model.layers.0.self_attn.q_proj.bias')).toBe('bfloat16');
    expect(byName.get('model.layers.0.input_layernorm.weight')).toBe('bfloat16');
    expect(converted).toContain('model.layers.0.self_attn.q_proj.weight');
    expect(converted).not.toContain('model.layers.0.mlp.gate.weight');
    model.dispose();
  });

  it('a target whose blocks do not divide a row is a ShapeError naming the tensor, before anything is read', async () => {
    const dir = join(root, 'quantize-rows');
    await writeTinyCheckpoint(dir, { modelType: 'olmoe', seed: 66 });
    await expect(loadModel(dir, backend, { dtype: 'q4_k' })).rejects.toThrow(ShapeError);
    await expect(loadModel(dir, backend, { dtype: 'q4_k' })).rejects.toThrow(/model\.embed_tokens\.weight \(converting to q4_k\): a q4_k row holds whole blocks of 256 values, but the last dimension is 64/);
  });
});
