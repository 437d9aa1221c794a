/**
 * DeepSeek-V2 (Lite) end to end on a seeded tiny Hugging Face checkpoint: multi-head latent
 * attention with the latent KV cache, interleaved rotary with YaRN and the softmax mscale, a
 * leading dense layer, MoE layers with two shared experts and routed_scaling_factor, greedy and
 * group-limited softmax routing. Every backend against the independent float64 reference
 * (which computes MLA in its expanded form), the prefill split across calls; negative controls
 * showing the comparison catches a decoder that leaves a DeepSeek block out; DeepSeek-V2-Lite's
 * own config.json parsed, and unsupported variants refused naming the field.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import '@moe-runtime/backend-gpujs';
import '@moe-runtime/backend-onnx';
import '@moe-runtime/backend-tfjs';
import { getBackend, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, splitPrefill } from './split-prefill.js';
import { LlamaCppModel, loadNodeLlamaCpp } from '../src/bench/llama-cpp.js';
import { joinKvB } from '../src/architectures/deepseek_v2/layers.js';
import {
  argmax,
  chosenExperts,
  GgufCheckpoint,
  loadCheckpoint,
  loadGgufCheckpoint,
  modelMetadata,
  MoEModel,
  parseModelConfig,
  referenceModelLogits,
  vocabularyMetadata,
  writeGguf,
  writeTinyCheckpoint,
  openHfCheckpoint,
  type GgufTensor,
  type ModelConfig,
  type ModelWeights,
} from '../src/index.js';
import { tinyVocabulary, writeTinyGguf } from './gguf-fixtures.js';

const { lib, reason } = await loadNodeLlamaCpp();

const PROMPT = [1, 70, 104, 101, 32, 120, 200, 33, 90, 250, 301, 17, 5, 64];
const SPLIT = 6;

let root: string;
let config: ModelConfig;
let weights: ModelWeights;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'deepseek-v2-'));
  await writeTinyCheckpoint(join(root, 'hf'), { modelType: 'deepseek_v2', seed: 37, numLayers: 3, numExperts: 8, topK: 3, ffnSize: 32 });
  ({ config, weights } = await loadCheckpoint(join(root, 'hf')));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Production logits of every position (prefill in two calls) and the routing of both calls. */
const production = (backend: Backend, c: ModelConfig, w: ModelWeights = weights): ReturnType<typeof splitPrefill> => splitPrefill(backend, c, w, PROMPT, SPLIT);

async function checkAgainstReference(name: string, c: ModelConfig, w: ModelWeights, tag: string): Promise<void> {
  const got = await production(await getBackend(name), c, w);
  const ref = referenceModelLogits(c, w, PROMPT);
  const diff = maxAbsDiff(got.logits, ref.logits);
  console.log(`[deepseek_v2${tag}] ${name}: max abs ${diff.toExponential(2)}`);
  expect(diff).toBeLessThan(1e-4);
  const v = c.vocabSize;
  for (let p = 0; p < PROMPT.length; p++) expect(argmax(got.logits, p * v, v)).toBe(argmax(ref.logits, p * v, v));
  expect(got.experts).toEqual(chosenExperts(ref.plans));
}

describe('deepseek_v2 tiny checkpoint', () => {
  it('has what makes DeepSeek-V2: latent attention, YaRN with mscale, a dense first layer, shared experts, scaled routing', async () => {
    const m = config.latentAttention!;
    expect(m).toMatchObject({ kvLoraRank: 128, qkNopeHeadDim: 16, qkRopeHeadDim: 8, vHeadDim: 16 });
    expect(config.headDim).toBe(24);
    // q_head_dim^-0.5 * (0.1 * 0.707 * ln 40 + 1)^2.
    expect(m.softmaxScale).toBeCloseTo(24 ** -0.5 * (0.1 * 0.707 * Math.log(40) + 1) ** 2, 12);
    expect(config.ropeScaling).toMatchObject({ type: 'yarn', factor: 40, originalMaxPositions: 64, attentionFactor: 1 });
    expect(config.leadingDense).toEqual({ count: 1, ffnSize: 64 });
    expect(config.moe.sharedExperts).toEqual({ count: 1, ffnSize: 64, gated: false });
    expect(config.moe.router).toEqual({ name: 'softmax-group-topk', options: { nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 2.5 } });
    expect(weights.layers[0].moe.experts).toHaveLength(1);
    expect(weights.layers[1].moe.experts).toHaveLength(8);
    expect(weights.layers[1].attention.kvB?.shape).toEqual([4 * (16 + 16), 128]);
    // The cache holds the latent: one cached head of kv_lora_rank + rope keys and kv_lora_rank values.
    const model = await MoEModel.create(config, weights, await getBackend('cpu'));
    const session = model.newSession({ contextLength: 64 });
    expect(session.cache.spec).toMatchObject({ numKvHeads: 1, keyDim: 136, valueDim: 128 });
    session.dispose();
    model.dispose();
  });

  it.each(['cpu', 'onnx', 'tfjs', 'gpujs'])('%s: logits within 1e-4 of the reference, same argmax and experts at every position', async (name) => {
    await checkAgainstReference(name, config, weights, '');
  });

  it('group_limited_greedy with norm_topk_prob (DeepSeek-V2 routing): cpu within 1e-4 of the reference, same experts', async () => {
    const dir = join(root, 'grouped');
    const extraConfig = { topk_method: 'group_limited_greedy', n_group: 4, topk_group: 2, norm_topk_prob: true };
    await writeTinyCheckpoint(dir, { modelType: 'deepseek_v2', seed: 41, numLayers: 3, numExperts: 8, topK: 3, ffnSize: 32, extraConfig });
    const g = await loadCheckpoint(dir);
    expect(g.config.moe.router.options).toEqual({ nGroup: 4, topkGroup: 2, normTopkProb: true, routedScalingFactor: 1 });
    await checkAgainstReference('cpu', g.config, g.weights, ' grouped');
  });

  it('cpu, one token per call and two sequences in one batched step: each row within 1e-4 of the reference', async () => {
    const model = await MoEModel.create(config, weights, await getBackend('cpu'));
    try {
      const v = config.vocabSize;
      const ref = referenceModelLogits(config, weights, PROMPT).logits;
      const session = model.newSession();
      let max = 0;
      for (let p = 0; p < PROMPT.length; p++) {
        const { logits } = await model.forward(session, [PROMPT[p]]);
        max = Math.max(max, maxAbsDiff(logits, ref.subarray(p * v, (p + 1) * v)));
      }
      // Two sequences at different positions share one step (their latent caches apart).
      const other = [1, 9, 300, 41, 77];
      const refOther = referenceModelLogits(config, weights, other).logits;
      const a = model.newSession();
      const b = model.newSession();
      await model.forward(a, PROMPT.slice(0, 9));
      const step = await model.step([
        { session: a, tokens: PROMPT.slice(9), logits: 'all' },
        { session: b, tokens: other, logits: 'all' },
      ]);
      max = Math.max(max, maxAbsDiff(step.entries[0].logits, ref.subarray(9 * v)), maxAbsDiff(step.entries[1].logits, refOther));
      for (const x of [session, a, b]) x.dispose();
      console.log(`[deepseek_v2] cpu token by token and batched: max abs ${max.toExponential(2)}`);
      expect(max).toBeLessThan(1e-4);
    } finally {
      model.dispose();
    }
  });

  it.each(['cpu', 'onnx'])('q_lora_rank (DeepSeek-V2 / V2.5 low-rank q): %s within 1e-4 of the reference, same argmax and experts', async (name) => {
    const dir = join(root, `q-lora-${name}`);
    await writeTinyCheckpoint(dir, { modelType: 'deepseek_v2', seed: 53, numLayers: 3, numExperts: 8, topK: 3, ffnSize: 32, extraConfig: { q_lora_rank: 96 } });
    const g = await loadCheckpoint(dir);
    expect(g.config.latentAttention?.qLoraRank).toBe(96);
    expect([g.weights.layers[0].attention.qA?.shape, g.weights.layers[0].attention.q.shape]).toEqual([[96, 64], [4 * 24, 96]]);
    await checkAgainstReference(name, g.config, g.weights, ' q_lora');
  });

  // A decoder that drops one DeepSeek block must fail the same comparison by far.
  it.each([
    ['routed_scaling_factor left out', (c: ModelConfig): ModelConfig => ({ ...c, moe: { ...c.moe, router: { ...c.moe.router, options: { ...c.moe.router.options, routedScalingFactor: 1 } } } })],
    ['softmax mscale left out', (c: ModelConfig): ModelConfig => ({ ...c, latentAttention: { ...c.latentAttention!, softmaxScale: c.headDim ** -0.5 } })],
    ['YaRN frequencies ignored', (c: ModelConfig): ModelConfig => ({ ...c, ropeScaling: undefined })],
    ['shared experts left out', (c: ModelConfig): ModelConfig => ({ ...c, moe: { ...c.moe, sharedExperts: undefined } })],
  ])('negative control, %s: the comparison fails', async (_name, broken) => {
    const w = _name === 'shared experts left out' ? { ...weights, layers: weights.layers.map((l) => ({ ...l, moe: { ...l.moe, shared: undefined } })) } : weights;
    const got = await production(await getBackend('cpu'), broken(config), w);
    const ref = referenceModelLogits(config, weights, PROMPT);
    expect(maxAbsDiff(got.logits, ref.logits)).toBeGreaterThan(100 * 1e-4);
  });
  // kv_a_layernorm's negative control is reference-negative-control.test.ts's qk-norm-offset-weight.
});

/** Logits of every position from one forward over PROMPT on cpu. */
async function cpuLogits(c: ModelConfig, w: ModelWeights): Promise<Float32Array> {
  const model = await MoEModel.create(c, w, await getBackend('cpu'));
  try {
    return (await model.forward(model.newSession(), PROMPT, { allLogits: true })).logits;
  } finally {
    model.dispose();
  }
}

describe('deepseek_v2 GGUF (llama.cpp\'s `deepseek2` layout, split attn_k_b / attn_v_b)', () => {
  it('reads back the latent attention, dense layer, shared experts, routing and YaRN it writes; same logits', async () => {
    const { path } = await writeTinyGguf(root, 'rt', { modelType: 'deepseek_v2', seed: 37, numLayers: 3, numExperts: 8, topK: 3, ffnSize: 32, format: 'float32' });
    const g = await loadGgufCheckpoint(path);
    for (const key of ['leadingDense', 'headDim', 'numHeads', 'hiddenSize', 'numLayers'] as const) expect([key, g.config[key]]).toEqual([key, config[key]]);
    const { softmaxScale: _, ...sizes } = config.latentAttention!;
    expect(g.config.latentAttention).toMatchObject(sizes);
    expect(g.config.moe).toEqual(config.moe);
    expect(g.config.ropeScaling).toMatchObject({ type: 'yarn', factor: 40, originalMaxPositions: 64, attentionFactor: 1 });
    // yarn_log_multiplier is stored as f32.
    expect(g.config.latentAttention!.softmaxScale).toBeCloseTo(config.latentAttention!.softmaxScale, 6);
    expect(maxAbsDiff(await cpuLogits(g.config, g.weights), await cpuLogits(config, weights))).toBeLessThan(1e-5);
  });

  // llama.cpp's deepseek2 builds the plain attn_q ("lite") variant only for 26 or 27 layers (else it
  // requires q_lora_rank and attn_q_a/attn_q_b): the check runs a 26-layer tiny model, YaRN and the
  // softmax mscale on, branches at full size (so the negative control bites). Measured 2026-12-03:
  // ours vs llama.cpp 4.3e-5 (ours vs the float64 reference 4.1e-5, llama.cpp vs it 1.9e-5:
  // float32 rounding grown over 26 random layers). Asserted the issue's 1e-4.
  it.skipIf(!lib)(`llama.cpp on the F32 export: logits within 1e-4, same argmax; routed_scaling_factor left out fails${lib ? '' : ` (skipped: ${reason})`}`, async () => {
    const { path, config: c } = await writeTinyGguf(root, 'llama', { modelType: 'deepseek_v2', seed: 43, numLayers: 26, numExperts: 8, topK: 3, ffnSize: 32, format: 'float32' });
    const llama = await LlamaCppModel.open(lib!, path, { threads: 1 });
    const theirs = await llama.logits(PROMPT, c.vocabSize);
    await llama.dispose();
    const g = await loadGgufCheckpoint(path);
    const ours = await cpuLogits(g.config, g.weights);
    const diff = maxAbsDiff(ours, theirs);
    const ref = referenceModelLogits(g.config, g.weights, PROMPT).logits;
    console.log(`[deepseek_v2] llama.cpp F32: max abs ${diff.toExponential(2)} (ours vs reference ${maxAbsDiff(ours, ref).toExponential(2)}, llama.cpp vs reference ${maxAbsDiff(theirs, ref).toExponential(2)})`);
    expect(diff).toBeLessThan(1e-4);
    const v = c.vocabSize;
    for (let p = 0; p < PROMPT.length; p++) expect(argmax(ours, p * v, v)).toBe(argmax(theirs, p * v, v));
    const o = g.config.moe.router.options;
    const unscaled = { ...g.config, moe: { ...g.config.moe, router: { ...g.config.moe.router, options: { ...o, routedScalingFactor: 1 } } } };
    expect(maxAbsDiff(await cpuLogits(unscaled, g.weights), theirs)).toBeGreaterThan(100 * 1e-4);
  });

  it.skipIf(!lib)(`the older unsplit attn_kv_b layout: read as the split one (same logits), and llama.cpp on it agrees within 1e-4${lib ? '' : ` (skipped: ${reason})`}`, async () => {
    const { path, config: c } = await writeTinyGguf(root, 'split', { modelType: 'deepseek_v2', seed: 47, numLayers: 26, numExperts: 8, topK: 3, ffnSize: 32, format: 'float32' });
    const legacy = join(root, 'legacy.gguf');
    await writeUnsplit(path, legacy, c);
    const split = await loadGgufCheckpoint(path);
    const old = await loadGgufCheckpoint(legacy);
    expect(old.config.latentAttention).toEqual(split.config.latentAttention);
    const ours = await cpuLogits(old.config, old.weights);
    expect(maxAbsDiff(ours, await cpuLogits(split.config, split.weights))).toBeLessThan(1e-6);
    const llama = await LlamaCppModel.open(lib!, legacy, { threads: 1 });
    const theirs = await llama.logits(PROMPT, c.vocabSize);
    await llama.dispose();
    const diff = maxAbsDiff(ours, theirs);
    console.log(`[deepseek_v2] llama.cpp F32 on the unsplit attn_kv_b layout: max abs ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
  });

  // With q_lora_rank llama.cpp's deepseek2 reads attn_q_a / attn_q_a_norm / attn_q_b at any depth.
  it.skipIf(!lib)(`llama.cpp on a 3-layer F32 export with q_lora_rank: logits within 1e-4, same argmax${lib ? '' : ` (skipped: ${reason})`}`, async () => {
    const { path, config: c } = await writeTinyGguf(root, 'q-lora', { modelType: 'deepseek_v2', seed: 59, numLayers: 3, numExperts: 8, topK: 3, ffnSize: 32, format: 'float32', extraConfig: { q_lora_rank: 96 } });
    const g = await loadGgufCheckpoint(path);
    expect(g.config.latentAttention?.qLoraRank).toBe(96);
    const llama = await LlamaCppModel.open(lib!, path, { threads: 1 });
    const theirs = await llama.logits(PROMPT, c.vocabSize);
    await llama.dispose();
    const ours = await cpuLogits(g.config, g.weights);
    const diff = maxAbsDiff(ours, theirs);
    console.log(`[deepseek_v2] llama.cpp F32 with q_lora_rank (3 layers): max abs ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
    const v = c.vocabSize;
    for (let p = 0; p < PROMPT.length; p++) expect(argmax(ours, p * v, v)).toBe(argmax(theirs, p * v, v));
  });
});

/**
 * Rewrites a split deepseek2 file in the layout of conversions before llama.cpp's MLA cache:
 * `attn_kv_b` in place of `attn_k_b` / `attn_v_b`, per-head `key_length` / `value_length`, no
 * `_mla` keys, as many KV heads as heads.
 */
async function writeUnsplit(from: string, to: string, c: ModelConfig): Promise<void> {
  const file = await GgufCheckpoint.open(from);
  try {
    const meta = modelMetadata(c);
    const m = c.latentAttention!;
    meta.delete('deepseek2.attention.key_length_mla');
    meta.delete('deepseek2.attention.value_length_mla');
    meta.set('deepseek2.attention.key_length', { type: 'u32', value: c.headDim });
    meta.set('deepseek2.attention.value_length', { type: 'u32', value: m.vHeadDim });
    meta.set('deepseek2.attention.head_count_kv', { type: 'u32', value: c.numHeads });
    for (const [k, v] of vocabularyMetadata(tinyVocabulary('gpt2', c.vocabSize))) meta.set(k, v);
    const tensors: GgufTensor[] = [];
    for (const name of file.tensors.keys()) {
      if (name.endsWith('attn_v_b.weight')) continue;
      const block = name.replace(/attn_k_b\.weight$/, '');
      if (block !== name) tensors.push({ name: `${block}attn_kv_b.weight`, tensor: joinKvB(await file.read(name), await file.read(`${block}attn_v_b.weight`), c) });
      else tensors.push({ name, tensor: await file.read(name) });
    }
    await writeGguf(to, meta, tensors);
  } finally {
    await file.close();
  }
}

// DeepSeek-V2-Lite's config.json (the keys the decoder reads).
const DEEPSEEK_V2_LITE = {
  architectures: ['DeepseekV2ForCausalLM'],
  attention_bias: false,
  bos_token_id: 100000,
  eos_token_id: 100001,
  first_k_dense_replace: 1,
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 10944,
  kv_lora_rank: 512,
  max_position_embeddings: 163840,
  model_type: 'deepseek_v2',
  moe_intermediate_size: 1408,
  moe_layer_freq: 1,
  n_group: 1,
  n_routed_experts: 64,
  n_shared_experts: 2,
  norm_topk_prob: false,
  num_attention_heads: 16,
  num_experts_per_tok: 6,
  num_hidden_layers: 27,
  num_key_value_heads: 16,
  q_lora_rank: null,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  rms_norm_eps: 1e-6,
  rope_scaling: { beta_fast: 32, beta_slow: 1, factor: 40, mscale: 0.707, mscale_all_dim: 0.707, original_max_position_embeddings: 4096, type: 'yarn' },
  rope_theta: 10000,
  routed_scaling_factor: 1.0,
  scoring_func: 'softmax',
  tie_word_embeddings: false,
  topk_group: 1,
  topk_method: 'greedy',
  v_head_dim: 128,
  vocab_size: 102400,
};

// DeepSeek-V2's (236B) config.json: low-rank q, group-limited routing, routed_scaling_factor 16.
const DEEPSEEK_V2 = {
  ...DEEPSEEK_V2_LITE,
  hidden_size: 5120,
  intermediate_size: 12288,
  moe_intermediate_size: 1536,
  n_group: 8,
  n_routed_experts: 160,
  num_attention_heads: 128,
  num_hidden_layers: 60,
  num_key_value_heads: 128,
  q_lora_rank: 1536,
  routed_scaling_factor: 16.0,
  topk_group: 3,
  topk_method: 'group_limited_greedy',
};

describe('DeepSeek-V2 config.json', () => {
  it('parses the low-rank q and group-limited routing', () => {
    const c = parseModelConfig(DEEPSEEK_V2);
    expect(c.latentAttention).toMatchObject({ qLoraRank: 1536, kvLoraRank: 512, qkNopeHeadDim: 128, qkRopeHeadDim: 64, vHeadDim: 128 });
    expect(c.moe.router.options).toEqual({ nGroup: 8, topkGroup: 3, normTopkProb: false, routedScalingFactor: 16 });
    expect(c.moe.sharedExperts?.ffnSize).toBe(3072);
  });
});

describe('DeepSeek-V2-Lite config.json', () => {
  it('parses into the shape of the published model', () => {
    const c = parseModelConfig(DEEPSEEK_V2_LITE);
    expect([c.hiddenSize, c.numLayers, c.numHeads, c.headDim, c.vocabSize]).toEqual([2048, 27, 16, 192, 102400]);
    expect(c.latentAttention).toMatchObject({ kvLoraRank: 512, qkNopeHeadDim: 128, qkRopeHeadDim: 64, vHeadDim: 128 });
    expect(c.latentAttention!.softmaxScale).toBeCloseTo(192 ** -0.5 * (0.1 * 0.707 * Math.log(40) + 1) ** 2, 12);
    expect([c.moe.numExperts, c.moe.topK, c.moe.expert.ffnSize, c.moe.sharedExperts?.ffnSize]).toEqual([64, 6, 1408, 2816]);
    expect(c.leadingDense).toEqual({ count: 1, ffnSize: 10944 });
    expect(c.ropeScaling).toMatchObject({ type: 'yarn', factor: 40, originalMaxPositions: 4096, attentionFactor: 1 });
  });

  it('refuses what it would otherwise silently ignore, naming the field', () => {
    expect(() => parseModelConfig({ ...DEEPSEEK_V2_LITE, q_lora_rank: 0 })).toThrow(/config\.json: q_lora_rank: expected a positive integer/);
    expect(() => parseModelConfig({ ...DEEPSEEK_V2_LITE, topk_method: 'noaux_tc' })).toThrow(/config\.json: topk_method: expected one of greedy, group_limited_greedy/);
    expect(() => parseModelConfig({ ...DEEPSEEK_V2_LITE, scoring_func: 'sigmoid' })).toThrow(/config\.json: scoring_func: expected "softmax"/);
    expect(() => parseModelConfig({ ...DEEPSEEK_V2_LITE, moe_layer_freq: 2 })).toThrow(/config\.json: moe_layer_freq/);
    expect(() => parseModelConfig({ ...DEEPSEEK_V2_LITE, first_k_dense_replace: 27 })).toThrow(/config\.json: first_k_dense_replace/);
    expect(() => parseModelConfig({ ...DEEPSEEK_V2_LITE, topk_method: 'group_limited_greedy', n_group: 5, topk_group: 2 })).toThrow(/config\.json: n_group: expected a divisor of n_routed_experts/);
  });
});

describe('deepseek_v2 memory plan', () => {
  it('plans kv_b_proj as the float32 it is held in, whatever it is stored or converted to, and still reports its conversion', async () => {
    const source = await openHfCheckpoint(join(root, 'hf'), { dtype: 'q8_0' });
    try {
      const kvB = source.tensors.filter((t) => t.name.endsWith('self_attn.kv_b_proj.weight'));
      expect(kvB).toHaveLength(3);
      for (const t of kvB) expect(t.dtype).toBe('float32');
      const q = source.tensors.find((t) => t.name.endsWith('layers.1.self_attn.q_proj.weight'));
      expect(q?.dtype).toBe('q8_0');
      expect(source.converted.filter((n) => n.endsWith('kv_b_proj.weight'))).toHaveLength(3);
    } finally {
      await source.close();
    }
    const plain = await openHfCheckpoint(join(root, 'hf'));
    try {
      // No dtype: nothing is converted, though kv_b_proj is held in float32.
      expect(plain.converted).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});
