/**
 * llama.cpp `deepseek2` metadata (`llama_model_deepseek2::load_arch_hparams`, the converter's
 * `DeepseekV2Model.set_gguf_parameters`) read into the decoder's config, and written back.
 * The current converter stores MLA as MQA over the latent: `head_count_kv` 1, `key_length`
 * kv_lora_rank + rope, `value_length` kv_lora_rank, and the per-head sizes in
 * `key_length_mla` / `value_length_mla`; older conversions (unsplit `attn_kv_b`) have no `_mla`
 * keys and give the per-head sizes as `key_length` / `value_length`. YaRN's `mscale_all_dim` travels as
 * `rope.scaling.yarn_log_multiplier` = 0.1 * mscale_all_dim; llama.cpp assumes mscale equal to
 * it (every DeepSeek-V2 release), so cos/sin keep factor 1.
 */
import { GgufError, type MoELayerConfig } from '@moe-runtime/core';
import type { GgufMetadata } from '../../gguf/gguf-metadata.js';
import type { GgufValue } from '../../gguf/gguf-writer.js';
import type { ModelConfig } from '../../model-config.js';
import type { GgufBaseConfig } from '../architecture.js';
import { yarnGetMscale } from './config.js';

const A = 'deepseek2';
/** llama.cpp `LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX`. */
const GATING_SOFTMAX = 1;

function refuse(meta: GgufMetadata, key: string, why: string): never {
  throw new GgufError(meta.file, key, why);
}

function moeOf(meta: GgufMetadata, d: number): MoELayerConfig {
  const numExperts = meta.uint(`${A}.expert_count`);
  const topK = meta.uint(`${A}.expert_used_count`);
  if (topK < 1 || topK > numExperts) refuse(meta, `${A}.expert_used_count`, `expected an integer in [1, expert_count = ${numExperts}], got ${topK}`);
  const f = meta.uint(`${A}.expert_feed_forward_length`);
  const shared = meta.uint(`${A}.expert_shared_count`, 0);
  const gating = meta.uint(`${A}.expert_gating_func`, GATING_SOFTMAX);
  if (gating !== GATING_SOFTMAX) refuse(meta, `${A}.expert_gating_func`, `expected ${GATING_SOFTMAX} (softmax; DeepSeek-V2), got ${gating}`);
  const nGroup = meta.uint(`${A}.expert_group_count`, 1) || 1;
  const topkGroup = meta.uint(`${A}.expert_group_used_count`, 1) || 1;
  return {
    hiddenSize: d,
    numExperts,
    topK,
    expert: { kind: 'swiglu', ffnSize: f },
    ...(shared > 0 ? { sharedExperts: { count: 1, ffnSize: shared * f, gated: false } } : {}),
    router: {
      name: 'softmax-group-topk',
      options: { nGroup, topkGroup, normTopkProb: meta.bool(`${A}.expert_weights_norm`, false), routedScalingFactor: meta.float(`${A}.expert_weights_scale`, 1) || 1 },
    },
  };
}

/** The config of a `deepseek2` file (the split-`attn_k_b` MLA layout; no q_lora). */
export function deepseekGgufConfig(meta: GgufMetadata, base: GgufBaseConfig): ModelConfig {
  const q = meta.uint(`${A}.attention.q_lora_rank`, 0);
  const mla = meta.has(`${A}.attention.key_length_mla`) ? '_mla' : '';
  const kvLoraRank = meta.uint(`${A}.attention.kv_lora_rank`);
  const headDim = meta.uint(`${A}.attention.key_length${mla}`);
  const vHeadDim = meta.uint(`${A}.attention.value_length${mla}`);
  const rope = meta.uint(`${A}.rope.dimension_count`);
  if (rope % 2 !== 0 || rope >= headDim) refuse(meta, `${A}.rope.dimension_count`, `expected an even size below key_length_mla (${headDim}), got ${rope}`);
  const dense = meta.uint(`${A}.leading_dense_block_count`, 0);
  if (dense >= base.numLayers) refuse(meta, `${A}.leading_dense_block_count`, `expected fewer than block_count (${base.numLayers}), got ${dense}`);
  const type = meta.string(`${A}.rope.scaling.type`, 'none');
  if (type !== 'none' && type !== 'yarn') refuse(meta, `${A}.rope.scaling.type`, `expected "none" or "yarn", got ${JSON.stringify(type)}`);
  const factor = meta.float(`${A}.rope.scaling.factor`, 1);
  const logMul = meta.float(`${A}.rope.scaling.yarn_log_multiplier`, 0);
  const mscale = type === 'yarn' && logMul !== 0 ? yarnGetMscale(factor, logMul / 0.1) : 1;
  const yarn = type === 'yarn'
    ? { ropeScaling: { type: 'yarn' as const, factor, originalMaxPositions: meta.uint(`${A}.rope.scaling.original_context_length`), betaFast: meta.float(`${A}.rope.scaling.yarn_beta_fast`, 32), betaSlow: meta.float(`${A}.rope.scaling.yarn_beta_slow`, 1), truncate: true, attentionFactor: 1 } }
    : {};
  return {
    ...base,
    numKvHeads: base.numHeads,
    headDim,
    ...yarn,
    qkvBias: false,
    qkNorm: 'none',
    moe: moeOf(meta, base.hiddenSize),
    latentAttention: { ...(q > 0 ? { qLoraRank: q } : {}), kvLoraRank, qkNopeHeadDim: headDim - rope, qkRopeHeadDim: rope, vHeadDim, softmaxScale: headDim ** -0.5 * mscale * mscale },
    ...(dense > 0 ? { leadingDense: { count: dense, ffnSize: meta.uint(`${A}.feed_forward_length`) } } : {}),
  };
}

/** The `deepseek2.*` keys of a config (beside `general.*` and the vocabulary). */
export function deepseekGgufMetadata(c: ModelConfig): [string, GgufValue][] {
  const m = c.latentAttention!;
  const moe = c.moe;
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  const f32 = (value: number): GgufValue => ({ type: 'f32', value });
  const o = moe.router.options as { nGroup: number; topkGroup: number; normTopkProb: boolean; routedScalingFactor: number };
  const f = moe.expert.ffnSize;
  const shared = moe.sharedExperts ? moe.sharedExperts.ffnSize / f : 0;
  if (!Number.isInteger(shared)) throw new GgufError('deepseek2 export', `${A}.expert_shared_count`, `the shared width ${moe.sharedExperts!.ffnSize} is not a multiple of the expert width ${f}`);
  const out: [string, GgufValue][] = [
    ['context_length', u32(c.maxPositions)],
    ['embedding_length', u32(c.hiddenSize)],
    ['block_count', u32(c.numLayers)],
    ['feed_forward_length', u32(c.leadingDense?.ffnSize ?? f)],
    ['attention.head_count', u32(c.numHeads)],
    ['attention.head_count_kv', u32(1)],
    ['attention.key_length', u32(m.kvLoraRank + m.qkRopeHeadDim)],
    ['attention.value_length', u32(m.kvLoraRank)],
    ['attention.key_length_mla', u32(c.headDim)],
    ['attention.value_length_mla', u32(m.vHeadDim)],
    ['attention.kv_lora_rank', u32(m.kvLoraRank)],
    ['attention.layer_norm_rms_epsilon', f32(c.rmsNormEps)],
    ['rope.dimension_count', u32(m.qkRopeHeadDim)],
    ['rope.freq_base', f32(c.ropeTheta)],
    ['leading_dense_block_count', u32(c.leadingDense?.count ?? 0)],
    ['expert_count', u32(moe.numExperts)],
    ['expert_used_count', u32(moe.topK)],
    ['expert_feed_forward_length', u32(f)],
    ['expert_shared_count', u32(shared)],
    ['expert_weights_scale', f32(o.routedScalingFactor)],
    ['expert_weights_norm', { type: 'bool', value: o.normTopkProb }],
    ['expert_gating_func', u32(GATING_SOFTMAX)],
    ['vocab_size', u32(c.vocabSize)],
  ];
  if (m.qLoraRank !== undefined) out.push(['attention.q_lora_rank', u32(m.qLoraRank)]);
  if (o.nGroup > 1) out.push(['expert_group_count', u32(o.nGroup)], ['expert_group_used_count', u32(o.topkGroup)]);
  const r = c.ropeScaling;
  if (r?.type === 'yarn') {
    if (r.attentionFactor !== 1) throw new GgufError('deepseek2 export', `${A}.rope.scaling.yarn_log_multiplier`, `llama.cpp assumes mscale = mscale_all_dim (cos/sin factor 1), got factor ${r.attentionFactor}`);
    const mscale = (c.latentAttention!.softmaxScale * Math.sqrt(c.headDim)) ** 0.5;
    const logMul = r.factor > 1 ? (mscale - 1) / Math.log(r.factor) : 0;
    out.push(['rope.scaling.type', { type: 'string', value: 'yarn' }], ['rope.scaling.factor', f32(r.factor)], ['rope.scaling.original_context_length', u32(r.originalMaxPositions)]);
    out.push(['rope.scaling.yarn_beta_fast', f32(r.betaFast)], ['rope.scaling.yarn_beta_slow', f32(r.betaSlow)], ['rope.scaling.yarn_log_multiplier', f32(logMul)]);
  } else if (r) throw new GgufError('deepseek2 export', 'rope_scaling', `the GGUF export writes yarn scaling only, got ${r.type}`);
  return out.map(([k, v]) => [`${A}.${k}`, v]);
}
