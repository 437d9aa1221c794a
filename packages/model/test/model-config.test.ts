import { ConfigError, ShapeError } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { inverseFrequencies, parseModelConfig, tinyConfigJson } from '../src/index.js';

describe('parseModelConfig rejects shapes the decoder cannot run', () => {
  const base = tinyConfigJson({ modelType: 'mixtral' });

  it('accepts the tiny config', () => {
    expect(parseModelConfig(base).headDim).toBe(16);
  });

  it('names hidden_size when it does not split into num_attention_heads and head_dim is absent', () => {
    const { head_dim: _omit, ...rest } = base;
    const bad = { ...rest, hidden_size: 66, num_attention_heads: 4 };
    expect(() => parseModelConfig(bad)).toThrow(ConfigError);
    expect(() => parseModelConfig(bad)).toThrow(/config\.json: head_dim.*hidden_size \(66\).*num_attention_heads \(4\)/);
  });

  it('names an odd head_dim (rotary pairs dimension i with i + head_dim/2)', () => {
    expect(() => parseModelConfig({ ...base, head_dim: 15 })).toThrow(/config\.json: head_dim: expected an even integer, got 15/);
  });

  it('names num_experts_per_tok above the expert count', () => {
    expect(() => parseModelConfig({ ...base, num_experts_per_tok: 9 })).toThrow(/config\.json: num_experts_per_tok: expected at most num_local_experts \(8\), got 9/);
  });

  it('names an eos_token_id that is not a token of the vocabulary', () => {
    expect(() => parseModelConfig({ ...base, eos_token_id: '2' })).toThrow(/config\.json: eos_token_id/);
    expect(() => parseModelConfig({ ...base, eos_token_id: [2, 384] })).toThrow(/config\.json: eos_token_id: expected .*\[0, 384\).*384/);
    expect(parseModelConfig({ ...base, eos_token_id: [2, 7] }).eosTokenIds).toEqual([2, 7]);
  });

  it('names a rope_scaling type it would otherwise silently ignore', () => {
    expect(() => parseModelConfig({ ...base, rope_scaling: { type: 'dynamic', factor: 4 } })).toThrow(/config\.json: rope_scaling\.rope_type: .*got "dynamic"/);
    expect(parseModelConfig({ ...base, rope_scaling: { type: 'yarn', factor: 4 } }).ropeScaling?.type).toBe('yarn');
    expect(parseModelConfig({ ...base, rope_scaling: null }).headDim).toBe(16);
  });
});

describe('parseModelConfig rejects features it would otherwise silently ignore', () => {
  const base = tinyConfigJson({ modelType: 'mixtral' });

  it('names a hidden_act other than silu', () => {
    expect(() => parseModelConfig({ ...base, hidden_act: 'gelu' })).toThrow(/config\.json: hidden_act: expected "silu", got "gelu"/);
    expect(parseModelConfig({ ...base, hidden_act: 'silu' }).modelType).toBe('mixtral');
  });

  it('names an active sliding window', () => {
    expect(() => parseModelConfig({ ...base, sliding_window: 128 })).toThrow(/config\.json: sliding_window: .*got 128/);
    expect(parseModelConfig({ ...base, sliding_window: null }).maxPositions).toBe(4096);
    expect(parseModelConfig({ ...base, sliding_window: 4096 }).maxPositions).toBe(4096); // never reached: no effect
    const qwen = tinyConfigJson({ modelType: 'qwen2_moe' });
    expect(parseModelConfig({ ...qwen, use_sliding_window: false, sliding_window: 64 }).modelType).toBe('qwen2_moe');
    expect(() => parseModelConfig({ ...qwen, use_sliding_window: true, sliding_window: 64 })).toThrow(/config\.json: sliding_window/);
  });

  it('names OLMoE clip_qkv and attention biases the decoder does not apply', () => {
    const olmoe = tinyConfigJson({ modelType: 'olmoe' });
    expect(() => parseModelConfig({ ...olmoe, clip_qkv: 8 })).toThrow(/config\.json: clip_qkv: expected null, got 8/);
    expect(parseModelConfig({ ...olmoe, clip_qkv: null }).qkNorm).toBe('full');
    const qwen3 = tinyConfigJson({ modelType: 'qwen3_moe' });
    expect(() => parseModelConfig({ ...qwen3, attention_bias: true })).toThrow(/config\.json: attention_bias: expected false for qwen3_moe, got true/);
    expect(parseModelConfig({ ...qwen3, attention_bias: false }).qkvBias).toBe(false);
  });
});

describe('parseModelConfig defaults follow the Hugging Face config classes', () => {
  const without = (json: Record<string, unknown>, ...keys: string[]): Record<string, unknown> =>
    Object.fromEntries(Object.entries(json).filter(([k]) => !keys.includes(k)));

  it('qwen3_moe without norm_topk_prob does not renormalise (Qwen3MoeConfig default False)', () => {
    const c = parseModelConfig(without(tinyConfigJson({ modelType: 'qwen3_moe' }), 'norm_topk_prob'));
    expect(c.moe.router.options).toEqual({ renormalize: false });
    expect(parseModelConfig(tinyConfigJson({ modelType: 'qwen3_moe' })).moe.router.options).toEqual({ renormalize: true });
  });

  it('rope_theta and rms_norm_eps default per model type', () => {
    const mixtral = parseModelConfig(without(tinyConfigJson({ modelType: 'mixtral' }), 'rope_theta', 'rms_norm_eps'));
    expect([mixtral.ropeTheta, mixtral.rmsNormEps]).toEqual([1e6, 1e-5]);
    const olmoe = parseModelConfig(without(tinyConfigJson({ modelType: 'olmoe' }), 'rope_theta', 'rms_norm_eps'));
    expect([olmoe.ropeTheta, olmoe.rmsNormEps]).toEqual([10000, 1e-5]);
    for (const type of ['qwen2_moe', 'qwen3_moe'] as const) {
      const q = parseModelConfig(without(tinyConfigJson({ modelType: type }), 'rope_theta', 'rms_norm_eps'));
      expect([q.ropeTheta, q.rmsNormEps]).toEqual([10000, 1e-6]);
    }
  });
});

describe('rotary frequencies', () => {
  it('reject an odd head size', () => {
    expect(() => inverseFrequencies(7, 10000)).toThrow(ShapeError);
    expect(inverseFrequencies(8, 10000)).toHaveLength(4);
  });
});

