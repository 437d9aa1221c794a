/**
 * gpt-oss end to end on a seeded tiny Hugging Face checkpoint (sliding window 4 on alternating
 * layers, learned sinks, YaRN, biases on q/k/v/o, router bias, clamped SwiGLU experts with
 * biases, stacked `gate_up_proj`): every backend against the independent float64 reference,
 * with the prefill split across calls; negative controls showing the comparison catches a
 * decoder that leaves out the sinks, ignores the window or the YaRN scaling; gpt-oss-20b's own
 * config.json parsed, and its unsupported variants refused naming the field.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import '@moe-runtime/backend-gpujs';
import '@moe-runtime/backend-onnx';
import '@moe-runtime/backend-tfjs';
import { ConfigError, getBackend, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaCppModel, loadNodeLlamaCpp } from '../src/bench/llama-cpp.js';
import { writeTinyGguf } from './gguf-fixtures.js';
import { maxAbsDiff, splitPrefill } from './split-prefill.js';
import { argmax, chosenExperts, loadCheckpoint, loadGgufCheckpoint, MoEModel, parseModelConfig, referenceModelLogits, writeTinyCheckpoint, type ModelConfig, type ModelWeights } from '../src/index.js';

const { lib, reason } = await loadNodeLlamaCpp();
const PROMPT = [1, 70, 104, 101, 32, 120, 200, 33, 90, 250, 301, 17, 5, 64];
const SPLIT = 6;

let root: string;
let config: ModelConfig;
let weights: ModelWeights;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gpt-oss-'));
  await writeTinyCheckpoint(join(root, 'hf'), { modelType: 'gpt_oss', seed: 29, numLayers: 2, numExperts: 8, topK: 4 });
  ({ config, weights } = await loadCheckpoint(join(root, 'hf')));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Production logits of every position (prefill in two calls) and the routing of both calls. */
const production = (backend: Backend, c: ModelConfig): ReturnType<typeof splitPrefill> => splitPrefill(backend, c, weights, PROMPT, SPLIT);

describe('gpt_oss tiny checkpoint', () => {
  it('has what makes gpt-oss: alternating windows, sinks, YaRN, biases, clamped experts', () => {
    expect(config.layerWindows).toEqual([4, null]);
    expect(config.attentionSinks).toBe(true);
    expect(config.ropeScaling).toMatchObject({ type: 'yarn', factor: 32, truncate: false });
    expect([config.qkvBias, config.oBias, config.routerBias]).toEqual([true, true, true]);
    expect(config.moe.expert).toEqual({ kind: 'clamped-swiglu', ffnSize: 96, bias: true });
    expect(weights.layers[0].attention.sinks?.shape).toEqual([config.numHeads]);
    expect(weights.layers[0].moe.experts[3].gateBias?.shape).toEqual([96]);
    expect(PROMPT.length).toBeGreaterThan(3 * config.layerWindows![0]!);
  });

  // Measured max abs (2026-12-02): see the README's gpt-oss line; asserted 1e-4 (f32 bound of the issue).
  it.each(['cpu', 'onnx', 'tfjs', 'gpujs'])('%s: logits within 1e-4 of the reference, same argmax and experts at every position', async (name) => {
    const backend = await getBackend(name);
    const got = await production(backend, config);
    const ref = referenceModelLogits(config, weights, PROMPT);
    const diff = maxAbsDiff(got.logits, ref.logits);
    console.log(`[gpt-oss] ${name}: max abs ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-4);
    const v = config.vocabSize;
    for (let p = 0; p < PROMPT.length; p++) expect(argmax(got.logits, p * v, v)).toBe(argmax(ref.logits, p * v, v));
    expect(got.experts).toEqual(chosenExperts(ref.plans));
  });

  // A decoder that drops one gpt-oss block must fail the same comparison by far.
  it.each([
    ['sinks left out', (c: ModelConfig): ModelConfig => ({ ...c, attentionSinks: false })],
    ['window ignored', (c: ModelConfig): ModelConfig => ({ ...c, layerWindows: undefined })],
    ['YaRN ignored', (c: ModelConfig): ModelConfig => ({ ...c, ropeScaling: undefined })],
  ])('negative control, %s: the comparison fails', async (_name, broken) => {
    const got = await production(await getBackend('cpu'), broken(config));
    const ref = referenceModelLogits(config, weights, PROMPT);
    expect(maxAbsDiff(got.logits, ref.logits)).toBeGreaterThan(100 * 1e-4);
  });
});

// gpt-oss-20b's config.json (the keys the decoder reads).
const GPT_OSS_20B = {
  architectures: ['GptOssForCausalLM'],
  attention_bias: true,
  attention_dropout: 0.0,
  eos_token_id: 200002,
  experts_per_token: 4,
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2880,
  initial_context_length: 4096,
  intermediate_size: 2880,
  layer_types: Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention')),
  max_position_embeddings: 131072,
  model_type: 'gpt_oss',
  num_attention_heads: 64,
  num_experts_per_tok: 4,
  num_hidden_layers: 24,
  num_key_value_heads: 8,
  num_local_experts: 32,
  pad_token_id: 199999,
  rms_norm_eps: 1e-5,
  rope_scaling: { beta_fast: 32.0, beta_slow: 1.0, factor: 32.0, original_max_position_embeddings: 4096, rope_type: 'yarn', truncate: false },
  rope_theta: 150000,
  router_aux_loss_coef: 0.9,
  sliding_window: 128,
  swiglu_limit: 7.0,
  tie_word_embeddings: false,
  vocab_size: 201088,
};

describe('gpt-oss GGUF (llama.cpp\'s `gpt-oss` layout)', () => {
  it('reads back the sinks, windows, YaRN and biases it writes', async () => {
    const { path } = await writeTinyGguf(root, 'rt', { modelType: 'gpt_oss', seed: 29, format: 'float32' });
    const g = await loadGgufCheckpoint(path);
    expect(g.config.layerWindows).toEqual([4, null]);
    expect([g.config.attentionSinks, g.config.oBias, g.config.routerBias]).toEqual([true, true, true]);
    // llama.cpp rounds YaRN's correction range outward (truncate) whatever config.json said.
    expect(g.config.ropeScaling).toMatchObject({ type: 'yarn', factor: 32, originalMaxPositions: 128, truncate: true });
    expect(g.config.moe.expert).toEqual({ kind: 'clamped-swiglu', ffnSize: 96, bias: true });
    expect(g.weights.layers[1].attention.sinks?.shape).toEqual([g.config.numHeads]);
    expect(g.weights.layers[1].moe.experts[2].downBias?.shape).toEqual([g.config.hiddenSize]);
  });

  // The F32 figures of llama-cpp-gguf.test.ts (5.0e-6 measured for gpt_oss): a decoder missing a
  // gpt-oss block must land far outside that bound against llama.cpp too.
  it.skipIf(!lib)(`negative control against llama.cpp: sinks left out or window ignored fail the F32 check${lib ? '' : ` (skipped: ${reason})`}`, async () => {
    const { path, config: c } = await writeTinyGguf(root, 'neg', { modelType: 'gpt_oss', seed: 31, format: 'float32' });
    const llama = await LlamaCppModel.open(lib!, path, { threads: 1 });
    const theirs = await llama.logits(PROMPT, c.vocabSize);
    await llama.dispose();
    const g = await loadGgufCheckpoint(path);
    const cpu = await getBackend('cpu');
    const run = async (cfg: ModelConfig): Promise<number> => {
      const model = await MoEModel.create(cfg, g.weights, cpu);
      const ours = (await model.forward(model.newSession(), PROMPT, { allLogits: true })).logits;
      model.dispose();
      return maxAbsDiff(ours, theirs);
    };
    expect(await run(g.config)).toBeLessThan(5e-5);
    expect(await run({ ...g.config, attentionSinks: false })).toBeGreaterThan(100 * 5e-5);
    expect(await run({ ...g.config, layerWindows: undefined })).toBeGreaterThan(100 * 5e-5);
  });
});

describe('gpt-oss-20b config.json', () => {
  it('parses into the shape of the published model', () => {
    const c = parseModelConfig(GPT_OSS_20B);
    expect([c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.vocabSize]).toEqual([2880, 24, 64, 8, 64, 201088]);
    expect([c.moe.numExperts, c.moe.topK, c.moe.expert.ffnSize]).toEqual([32, 4, 2880]);
    expect(c.layerWindows?.slice(0, 3)).toEqual([128, null, 128]);
    expect(c.ropeScaling).toMatchObject({ type: 'yarn', factor: 32, originalMaxPositions: 4096 });
  });

  it('refuses what it would otherwise silently ignore, naming the field', () => {
    expect(() => parseModelConfig({ ...GPT_OSS_20B, swiglu_limit: 10 })).toThrow(/config\.json: swiglu_limit: expected 7/);
    expect(() => parseModelConfig({ ...GPT_OSS_20B, layer_types: ['full_attention'] })).toThrow(/config\.json: layer_types: expected 24 entries/);
    expect(() => parseModelConfig({ ...GPT_OSS_20B, layer_types: GPT_OSS_20B.layer_types.map(() => 'chunked_attention') })).toThrow(ConfigError);
    expect(() => parseModelConfig({ ...GPT_OSS_20B, rope_scaling: { rope_type: 'longrope', factor: 2 } })).toThrow(/rope_scaling\.rope_type/);
  });
});
