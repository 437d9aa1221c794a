/**
 * Model configuration: the Hugging Face `config.json` of a supported MoE model type, parsed
 * into one normalised shape the decoder uses. The keys common to every architecture are read
 * here; the architecture's module (found by `model_type` in the registry) reads its own.
 */
import { ConfigError, type MoELayerConfig } from '@moe-runtime/core';
import type { Architecture } from './architectures/architecture.js';
import { HfConfigReader } from './architectures/hf-config-reader.js';
import { parseHfQuantization, type HfQuantization } from './architectures/hf-quantization.js';
import { findArchitecture, MODEL_TYPES, type ModelType } from './architectures/registry.js';
import { parseRopeScaling, type RopeScaling } from './rope-scaling.js';

export { MODEL_TYPES, type ModelType } from './architectures/registry.js';

/** Where q/k normalisation applies: none, per head over head_dim (Qwen3), over the whole projection (OLMoE). */
export type QkNorm = 'none' | 'per-head' | 'full';

/**
 * muP-style multipliers (Granite-MoE): `h = embed * embedding`, each residual branch added as
 * `h += branch * residual`, attention scores scaled by `attentionScale` (not 1/sqrt(head_dim)),
 * the logits divided by `logitsScaling`.
 */
export interface ModelMultipliers {
  readonly embedding: number;
  readonly attentionScale: number;
  readonly residual: number;
  readonly logitsScaling: number;
}

/**
 * Multi-head latent attention (DeepSeek-V2 `DeepseekV2Attention`): q is `q_proj(x)` (or, with
 * `q_lora_rank`, `q_b_proj(q_a_layernorm(q_a_proj(x)))`), per head `[nope | rope]`; `kv_a_proj_with_mqa(x)` is `[latent c | k_rope]`, k_rope
 * shared by every head; `kv_b_proj(kv_a_layernorm(c))` is per head `[k_nope | v]`. The config's
 * `headDim` is the q/k head size `qkNopeHeadDim + qkRopeHeadDim`; rotary covers the rope part only.
 */
export interface LatentAttentionConfig {
  /** The low-rank q's width (DeepSeek-V2 / V2.5); absent: a plain q_proj (V2-Lite). */
  readonly qLoraRank?: number;
  readonly kvLoraRank: number;
  readonly qkNopeHeadDim: number;
  readonly qkRopeHeadDim: number;
  readonly vHeadDim: number;
  /** The q.k scale: (qkNope + qkRope)^-0.5, times YaRN's mscale(factor, mscale_all_dim)^2 when the config has it. */
  readonly softmaxScale: number;
}

/** The first layers' dense SwiGLU feed-forward (DeepSeek `first_k_dense_replace`, `intermediate_size`). */
export interface LeadingDenseLayers {
  readonly count: number;
  readonly ffnSize: number;
}

/** A decoder-only MoE model's shape and conventions. */
export interface ModelConfig {
  readonly modelType: ModelType;
  readonly vocabSize: number;
  /** D */
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  /** `rope_scaling` (linear, yarn, llama3); absent for plain rotary. */
  readonly ropeScaling?: RopeScaling;
  readonly maxPositions: number;
  /** Attention q/k/v projections carry biases (Qwen2-MoE). */
  readonly qkvBias: boolean;
  /** The o projection carries a bias (gpt-oss). */
  readonly oBias?: boolean;
  /** One learned sink logit per query head joins every attention softmax (gpt-oss `sinks`). */
  readonly attentionSinks?: boolean;
  /** The sliding window of each layer (null: full attention); absent: every layer full. */
  readonly layerWindows?: readonly (number | null)[];
  /** The router projection carries a bias `[E]` (gpt-oss). */
  readonly routerBias?: boolean;
  readonly qkNorm: QkNorm;
  readonly tieWordEmbeddings: boolean;
  /** The MoE feed-forward of every layer. */
  readonly moe: MoELayerConfig;
  readonly bosTokenId?: number;
  readonly eosTokenIds: readonly number[];
  /** The architecture's muP multipliers; absent: none (1, and the 1/sqrt(head_dim) attention scale). */
  readonly multipliers?: ModelMultipliers;
  /** Multi-head latent attention in place of q/k/v projections (DeepSeek-V2); absent: GQA. */
  readonly latentAttention?: LatentAttentionConfig;
  /** The first layers are dense SwiGLU MLPs, not MoE (DeepSeek-V2); absent: every layer MoE. */
  readonly leadingDense?: LeadingDenseLayers;
  /**
   * A Hugging Face checkpoint's `quantization_config` (gpt-oss: mxfp4 experts stored as
   * `*_blocks` / `*_scales`); absent: weights stored as floats (and always for GGUF, whose
   * tensors name their own formats).
   */
  readonly hfQuantization?: HfQuantization;
}

/**
 * The feed-forward of layer `l`: `config.moe`, or, for a leading dense layer, a one-expert MoE
 * of the dense width whose router has one logit (softmax weight exactly 1), so every backend's
 * expert kernel runs the dense SwiGLU unchanged and the layer still reports a routing.
 */
export function layerMoeConfig(config: ModelConfig, l: number): MoELayerConfig {
  const dense = config.leadingDense;
  if (!dense || l >= dense.count) return config.moe;
  return { hiddenSize: config.hiddenSize, numExperts: 1, topK: 1, expert: { kind: 'swiglu', ffnSize: dense.ffnSize }, router: { name: 'topk-softmax', options: { renormalize: false } } };
}

/** `eos_token_id`: absent, one id or a list of ids, each a token of the vocabulary. */
function ids(r: HfConfigReader, key: string, vocabSize: number): number[] {
  const v = r.value(key);
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  for (const x of list) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= vocabSize) throw r.error(key, `expected token ids in [0, ${vocabSize}), got ${JSON.stringify(v)}`);
  }
  return list as number[];
}

/** Head size: head_dim, or hidden_size / num_attention_heads; even, as rotary pairs i with i + hd/2. */
function headDimOf(r: HfConfigReader, d: number, numHeads: number): number {
  const given = r.value('head_dim');
  if ((given === undefined || given === null) && d % numHeads !== 0) {
    throw r.error('head_dim', `absent, and hidden_size (${d}) is not a multiple of num_attention_heads (${numHeads}); expected an explicit head_dim`);
  }
  const hd = r.int('head_dim', d / numHeads);
  if (hd % 2 !== 0) throw r.error('head_dim', `expected an even integer, got ${hd}`);
  return hd;
}

/**
 * Features that the decoder does not implement: a config that turns one on is refused rather
 * than run with it silently ignored. The architecture's module adds its own checks.
 */
function checkUnsupported(arch: Architecture, r: HfConfigReader, maxPositions: number): void {
  const act = r.value('hidden_act');
  if (act !== undefined && act !== 'silu') throw r.error('hidden_act', `expected "silu", got ${JSON.stringify(act)}`);
  const clip = r.value('clip_qkv');
  if (clip !== undefined && clip !== null) throw r.error('clip_qkv', `expected null, got ${JSON.stringify(clip)}`);
  if (!arch.block.qkvBias && r.value('attention_bias') === true) throw r.error('attention_bias', `expected false for ${arch.modelType}, got true`);
  // Qwen configs carry a sliding_window that only use_sliding_window switches on.
  const switchKey = arch.hf.slidingWindowSwitch;
  const windowOn = switchKey ? r.value(switchKey) === true : true;
  const window = r.value('sliding_window');
  // An architecture that reads its per-layer windows (gpt-oss) runs them; elsewhere they are refused.
  if (!arch.hf.layerWindows && windowOn && typeof window === 'number' && window < maxPositions) {
    throw r.error('sliding_window', `expected null or at least max_position_embeddings (${maxPositions}): sliding-window attention is not supported, got ${window}`);
  }
  arch.hf.check?.(r);
}

/** The layer's topK cannot exceed its expert count; named by the config.json keys. */
function checkTopK(moe: MoELayerConfig, arch: Architecture, r: HfConfigReader): void {
  if (moe.topK > moe.numExperts) {
    throw r.error('num_experts_per_tok', `expected at most ${arch.hf.expertCountKey} (${moe.numExperts}), got ${moe.topK}`);
  }
}

/** Parses a Hugging Face `config.json` object; `file` names it in errors. */
export function parseModelConfig(cfg: unknown, file = 'config.json'): ModelConfig {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new ConfigError(file, 'expected a JSON object');
  const r = new HfConfigReader(cfg as Readonly<Record<string, unknown>>, file);
  const arch = findArchitecture(r.value('model_type'));
  if (!arch) throw r.error('model_type', `expected one of ${MODEL_TYPES.join(', ')}, got ${JSON.stringify(r.value('model_type'))}`);
  const d = r.int('hidden_size');
  const numHeads = r.int('num_attention_heads');
  const numKvHeads = r.int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) throw r.error('num_key_value_heads', `expected a divisor of num_attention_heads (${numHeads}), got ${numKvHeads}`);
  const shape = arch.hf.shape?.(r);
  const headDim = shape?.headDim ?? headDimOf(r, d, numHeads);
  const maxPositions = r.int('max_position_embeddings', 4096);
  // A type not implemented (dynamic, longrope, ...) is refused, naming the field.
  const ropeScaling = parseRopeScaling(r.value('rope_scaling'), `${file}: rope_scaling`, maxPositions);
  checkUnsupported(arch, r, maxPositions);
  const vocabSize = r.int('vocab_size');
  const moe = arch.hf.moe(r, d);
  checkTopK(moe, arch, r);
  const hfQuantization = parseHfQuantization(r, arch.hf.quantMethods ?? [], arch.modelType);
  const bos = r.value('bos_token_id');
  const numLayers = r.int('num_hidden_layers');
  const b = arch.block;
  return {
    modelType: arch.modelType,
    vocabSize,
    hiddenSize: d,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: r.num('rms_norm_eps', arch.hf.defaults.rmsNormEps),
    ropeTheta: r.num('rope_theta', arch.hf.defaults.ropeTheta),
    ropeScaling,
    maxPositions,
    qkvBias: b.qkvBias,
    ...(b.oBias ? { oBias: true } : {}),
    ...(b.attention === 'causal-gqa-sinks' ? { attentionSinks: true } : {}),
    ...(arch.hf.layerWindows ? { layerWindows: arch.hf.layerWindows(r, numLayers) } : {}),
    ...(b.routerBias ? { routerBias: true } : {}),
    qkNorm: b.qkNorm,
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    moe,
    bosTokenId: typeof bos === 'number' ? bos : undefined,
    eosTokenIds: ids(r, 'eos_token_id', vocabSize),
    ...(arch.hf.multipliers ? { multipliers: arch.hf.multipliers(r) } : {}),
    ...(shape?.latentAttention ? { latentAttention: shape.latentAttention } : {}),
    ...(shape?.leadingDense ? { leadingDense: shape.leadingDense } : {}),
    ...(hfQuantization ? { hfQuantization } : {}),
  };
}
