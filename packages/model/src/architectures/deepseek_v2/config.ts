/**
 * DeepSeek-V2's `config.json` keys (`DeepseekV2Config` of modeling_deepseek): the latent
 * attention sizes, the softmax scale with YaRN's `mscale_all_dim`, the leading dense layers,
 * and the routed/shared experts with their softmax gate. What the decoder does not run is
 * refused naming the key.
 */
import type { MoELayerConfig } from '@moe-runtime/core';
import type { LatentAttentionConfig } from '../../model-config.js';
import type { ArchitectureShape } from '../architecture.js';
import type { HfConfigReader } from '../hf-config-reader.js';

const TOPK_METHODS = ['greedy', 'group_limited_greedy'] as const;

/** modeling_deepseek `yarn_get_mscale`. */
export function yarnGetMscale(scale: number, mscale: number): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

/** `DeepseekV2Attention.softmax_scale`: q_head_dim^-0.5, times mscale(factor, mscale_all_dim)^2 under rope_scaling. */
function softmaxScale(r: HfConfigReader, qHeadDim: number): number {
  const base = qHeadDim ** -0.5;
  const s = r.value('rope_scaling');
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return base;
  const { mscale_all_dim: all, factor } = s as Record<string, unknown>;
  if (typeof all !== 'number' || all === 0 || typeof factor !== 'number') return base;
  const m = yarnGetMscale(factor, all);
  return base * m * m;
}

/** The latent attention (with the low-rank q when `q_lora_rank` is set), the q/k head size and the leading dense layers. */
export function deepseekShape(r: HfConfigReader): ArchitectureShape {
  const q = r.value('q_lora_rank');
  const latent: Omit<LatentAttentionConfig, 'softmaxScale'> = {
    ...(q !== undefined && q !== null ? { qLoraRank: r.int('q_lora_rank') } : {}),
    kvLoraRank: r.int('kv_lora_rank'),
    qkNopeHeadDim: r.int('qk_nope_head_dim'),
    qkRopeHeadDim: r.int('qk_rope_head_dim'),
    vHeadDim: r.int('v_head_dim'),
  };
  if (latent.qkRopeHeadDim % 2 !== 0) throw r.error('qk_rope_head_dim', `expected an even integer (rotary pairs), got ${latent.qkRopeHeadDim}`);
  const headDim = latent.qkNopeHeadDim + latent.qkRopeHeadDim;
  const layers = r.int('num_hidden_layers');
  const dense = r.value('first_k_dense_replace') ?? 0;
  if (typeof dense !== 'number' || !Number.isInteger(dense) || dense < 0 || dense >= layers) {
    throw r.error('first_k_dense_replace', `expected an integer in [0, num_hidden_layers = ${layers}), got ${JSON.stringify(dense)}`);
  }
  return {
    headDim,
    latentAttention: { ...latent, softmaxScale: softmaxScale(r, headDim) },
    ...(dense > 0 ? { leadingDense: { count: dense, ffnSize: r.int('intermediate_size') } } : {}),
  };
}

/** The MoE layers: softmax gate (greedy or group-limited), routed_scaling_factor, the shared experts as one MLP. */
export function deepseekMoe(r: HfConfigReader, d: number): MoELayerConfig {
  const topK = r.int('num_experts_per_tok');
  const method = r.value('topk_method') ?? 'greedy';
  const grouped = method === 'group_limited_greedy';
  // DeepseekV2MoEGate: normalised when top_k > 1 and norm_topk_prob, else times routed_scaling_factor.
  const normalise = topK > 1 && r.bool('norm_topk_prob', false);
  const shared = r.value('n_shared_experts');
  const moeF = r.int('moe_intermediate_size');
  return {
    hiddenSize: d,
    numExperts: r.int('n_routed_experts'),
    topK,
    expert: { kind: 'swiglu', ffnSize: moeF },
    // DeepseekV2MLP(intermediate_size = moe_intermediate_size * n_shared_experts): one ungated MLP.
    ...(typeof shared === 'number' && shared > 0 ? { sharedExperts: { count: 1, ffnSize: moeF * r.int('n_shared_experts'), gated: false } } : {}),
    router: {
      name: 'softmax-group-topk',
      options: {
        nGroup: grouped ? r.int('n_group') : 1,
        topkGroup: grouped ? r.int('topk_group') : 1,
        normTopkProb: normalise,
        routedScalingFactor: normalise ? 1 : r.num('routed_scaling_factor', 1),
      },
    },
  };
}

/** What DeepseekV2Config can turn on that this decoder does not run. */
export function deepseekCheck(r: HfConfigReader): void {
  const method = r.value('topk_method') ?? 'greedy';
  if (!TOPK_METHODS.includes(method as (typeof TOPK_METHODS)[number])) throw r.error('topk_method', `expected one of ${TOPK_METHODS.join(', ')}, got ${JSON.stringify(method)}`);
  const scoring = r.value('scoring_func') ?? 'softmax';
  if (scoring !== 'softmax') throw r.error('scoring_func', `expected "softmax", got ${JSON.stringify(scoring)}`);
  const freq = r.value('moe_layer_freq') ?? 1;
  if (freq !== 1) throw r.error('moe_layer_freq', `expected 1 (every layer after first_k_dense_replace is MoE), got ${JSON.stringify(freq)}`);
  const experts = r.value('n_routed_experts');
  if (experts === null) throw r.error('n_routed_experts', 'expected a positive integer: a model without routed experts is dense, not supported');
  if (method === 'group_limited_greedy') {
    const e = r.int('n_routed_experts');
    const groups = r.int('n_group');
    if (e % groups !== 0) throw r.error('n_group', `expected a divisor of n_routed_experts (${e}), got ${groups}`);
    if (r.int('topk_group') > groups) throw r.error('topk_group', `expected at most n_group (${groups}), got ${r.int('topk_group')}`);
  }
}

/**
 * The DeepSeek keys of a tiny checkpoint: every block away from its neutral value, so leaving
 * one out shows. The latent sizes follow the hidden size D (kv_lora_rank 2D, so kv_a_layernorm
 * is the one norm not D wide; nope and v D / H, rope D / 2H), so every matrix row is a multiple
 * of D and the block formats that fit D fit them.
 */
export function deepseekTinyKeys(s: { hiddenSize: number; numExperts: number; ffnSize: number; sharedFfnSize?: number }, numHeads: number): Record<string, unknown> {
  const perHead = s.hiddenSize / numHeads;
  return {
    num_key_value_heads: numHeads,
    head_dim: undefined,
    n_routed_experts: s.numExperts,
    moe_intermediate_size: s.ffnSize,
    n_shared_experts: 2,
    intermediate_size: 2 * s.ffnSize,
    first_k_dense_replace: 1,
    moe_layer_freq: 1,
    kv_lora_rank: 2 * s.hiddenSize,
    q_lora_rank: null,
    qk_nope_head_dim: perHead,
    qk_rope_head_dim: perHead / 2,
    v_head_dim: perHead,
    topk_method: 'greedy',
    n_group: 1,
    topk_group: 1,
    norm_topk_prob: false,
    scoring_func: 'softmax',
    routed_scaling_factor: 2.5,
    attention_bias: false,
    // DeepSeek-V2-Lite's YaRN (mscale = mscale_all_dim = 0.707) with a short original context,
    // so the ramp and the softmax mscale both act on the tiny prompts.
    rope_scaling: { type: 'yarn', factor: 40, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707, original_max_position_embeddings: 64 },
  };
}
