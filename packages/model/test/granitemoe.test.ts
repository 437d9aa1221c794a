/**
 * Granite-MoE specifics: its config keys (multipliers, refusals naming the field), its fused
 * Hugging Face expert tensors, its router (top-k logits, softmax over those k), its GGUF
 * metadata, and llama.cpp on the GGUF export with a negative control (a multiplier left out
 * must fail the same comparison).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { ConfigError, getBackend, openCheckpoint } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaCppModel, loadNodeLlamaCpp } from '../src/bench/llama-cpp.js';
import { argmax, GgufCheckpoint, loadCheckpoint, loadGgufCheckpoint, MoEModel, parseModelConfig, referenceModelLogits, tinyConfigJson, writeTinyCheckpoint, type ModelConfig } from '../src/index.js';
import { writeTinyGguf } from './gguf-fixtures.js';

const { lib, reason } = await loadNodeLlamaCpp();
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-granite-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const json = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...tinyConfigJson({ modelType: 'granitemoe' }), ...extra });

describe('granitemoe config.json', () => {
  it('reads the four multipliers (defaults 1.0, as GraniteMoeConfig)', () => {
    expect(parseModelConfig(json()).multipliers).toEqual({ embedding: 12, attentionScale: 0.125, residual: 0.375, logitsScaling: 6 });
    const bare = json();
    for (const k of ['embedding_multiplier', 'attention_multiplier', 'residual_multiplier', 'logits_scaling']) delete bare[k];
    expect(parseModelConfig(bare).multipliers).toEqual({ embedding: 1, attentionScale: 1, residual: 1, logitsScaling: 1 });
    // The other architectures have none.
    expect(parseModelConfig(tinyConfigJson({ modelType: 'mixtral' })).multipliers).toBeUndefined();
  });

  it.each([
    [{ rope_scaling: { type: 'dynamic', factor: 2 } }, 'rope_scaling.rope_type'],
    [{ position_embedding_type: 'nope' }, 'config.json: position_embedding_type'],
    [{ head_dim: 8 }, 'config.json: head_dim'],
    [{ shared_intermediate_size: 64 }, 'config.json: shared_intermediate_size'],
    [{ attention_bias: true }, 'config.json: attention_bias'],
    [{ logits_scaling: 0 }, 'config.json: logits_scaling'],
    [{ residual_multiplier: -1 }, 'config.json: residual_multiplier'],
  ])('refuses %j with a ConfigError naming the field', (extra, field) => {
    expect(() => parseModelConfig(json(extra))).toThrow(ConfigError);
    expect(() => parseModelConfig(json(extra))).toThrow(field);
  });
});

describe('granitemoe Hugging Face layout', () => {
  it('stores the experts fused, gate rows before up rows, and reads them back per expert', async () => {
    const dir = join(root, 'fused');
    const { config, weights } = await writeTinyCheckpoint(dir, { modelType: 'granitemoe', seed: 4 });
    const raw = await openCheckpoint(dir);
    try {
      const e = config.moe.numExperts;
      const f = config.moe.expert.ffnSize;
      const d = config.hiddenSize;
      expect(raw.info('model.layers.0.block_sparse_moe.input_linear.weight').shape).toEqual([e, 2 * f, d]);
      expect(raw.info('model.layers.0.block_sparse_moe.output_linear.weight').shape).toEqual([e, d, f]);
      expect(raw.info('model.layers.1.block_sparse_moe.router.layer.weight').shape).toEqual([e, d]);
      expect(raw.names().some((n) => n.includes('experts.'))).toBe(false);
      // Expert 3's up projection is rows F..2F of its slice of input_linear.
      const input = (await raw.read('model.layers.0.block_sparse_moe.input_linear.weight')).toFloat32();
      const up3 = weights.layers[0].moe.experts[3].up.toFloat32();
      expect(input.subarray((3 * 2 * f + f) * d, (3 * 2 * f + 2 * f) * d)).toEqual(up3);
    } finally {
      await raw.close();
    }
    const back = await loadCheckpoint(dir);
    back.weights.layers.forEach((l, i) =>
      l.moe.experts.forEach((x, j) => {
        const w = weights.layers[i].moe.experts[j];
        expect(x.gate!.toFloat32()).toEqual(w.gate!.toFloat32());
        expect(x.up.toFloat32()).toEqual(w.up.toFloat32());
        expect(x.down.toFloat32()).toEqual(w.down.toFloat32());
      }),
    );
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).architectures).toEqual(['GraniteMoeForCausalLM']);
  });

  it('the reference router weighs each position\'s k experts by a softmax over their logits (summing to 1)', async () => {
    const { config, weights } = await loadCheckpoint(join(root, 'fused'));
    const ref = referenceModelLogits(config, weights, [1, 9, 44, 100]);
    for (const w of ref.plans[0].weights) expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});

describe('granitemoe GGUF export', () => {
  it('writes llama.cpp\'s multiplier keys, and reads them back into the same config', async () => {
    const { path, config } = await writeTinyGguf(root, 'meta', { modelType: 'granitemoe', seed: 6 });
    const file = await GgufCheckpoint.open(path);
    try {
      const m = file.metadata;
      expect(m.string('general.architecture')).toBe('granitemoe');
      expect(m.float('granitemoe.embedding_scale')).toBe(12);
      expect(m.float('granitemoe.attention.scale')).toBe(0.125);
      expect(m.float('granitemoe.residual_scale')).toBe(0.375);
      expect(m.float('granitemoe.logit_scale')).toBe(6);
      expect(file.has('blk.0.ffn_gate_exps.weight') && file.has('blk.0.ffn_up_exps.weight') && file.has('blk.0.ffn_down_exps.weight')).toBe(true);
    } finally {
      await file.close();
    }
    const back = await loadGgufCheckpoint(path);
    expect(back.config.modelType).toBe('granitemoe');
    expect(back.config.multipliers).toEqual(config.multipliers);
  });
});

/** Max abs difference over every position and logit. */
function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(!lib)(`granitemoe against llama.cpp${lib ? '' : ` (skipped: ${reason})`}`, () => {
  const PROMPT = [1, 80, 101, 33, 250, 7, 300, 42, 99, 120, 17, 64];
  // Measured 4.8e-7 max abs (float32 weights, F32 KV cache, 2026-12-02); asserted the issue's 1e-4.
  const BOUND = 1e-4;

  it('float32 GGUF export: logits within 1e-4 at every position, same argmax; each multiplier left out fails the check', async () => {
    const { path, config } = await writeTinyGguf(root, 'llama', { modelType: 'granitemoe', seed: 12 });
    const llama = await LlamaCppModel.open(lib!, path, { threads: 1 });
    const theirs = await llama.logits(PROMPT, config.vocabSize);
    await llama.dispose();
    const { weights } = await loadGgufCheckpoint(path);
    const backend = await getBackend('cpu');
    const ours = async (c: ModelConfig): Promise<Float32Array> => {
      const model = await MoEModel.create(c, weights, backend);
      try {
        return (await model.forward(model.newSession(), PROMPT, { allLogits: true })).logits;
      } finally {
        model.dispose();
      }
    };
    const clean = await ours(config);
    const v = config.vocabSize;
    if (process.env.MOE_PRINT_DIFFS) console.log(`granitemoe vs llama.cpp: max abs ${maxAbs(clean, theirs).toExponential(2)}`);
    expect(maxAbs(clean, theirs)).toBeLessThan(BOUND);
    for (let p = 0; p < PROMPT.length; p++) expect(argmax(clean, p * v, v)).toBe(argmax(theirs, p * v, v));
    const m = config.multipliers!;
    for (const left of [{ embedding: 1 }, { attentionScale: 1 / Math.sqrt(config.headDim) }, { residual: 1 }, { logitsScaling: 1 }]) {
      const broken = await ours({ ...config, multipliers: { ...m, ...left } });
      expect(maxAbs(broken, theirs), JSON.stringify(left)).toBeGreaterThan(100 * BOUND);
    }
  });
});
