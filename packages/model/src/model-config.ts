/**
 * Model configuration: the Hugging Face `config.json` of a supported MoE model type, parsed
 * into one normalised shape the decoder uses.
 */
import { ConfigError, type MoELayerConfig } from '@moe-runtime/core';

/** Model types this package runs. */
export type ModelType = 'mixtral' | 'qwen2_moe' | 'qwen3_moe' | 'olmoe';

/** Every supported model type. */
export const MODEL_TYPES: readonly ModelType[] = ['mixtral', 'qwen2_moe', 'qwen3_moe', 'olmoe'];

/** Where q/k normalisation applies: none, per head over head_dim (Qwen3), over the whole projection (OLMoE). */
export type QkNorm = 'none' | 'per-head' | 'full';

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
  readonly maxPositions: number;
  /** Attention q/k/v projections carry biases (Qwen2-MoE). */
  readonly qkvBias: boolean;
  readonly qkNorm: QkNorm;
  readonly tieWordEmbeddings: boolean;
  /** The MoE feed-forward of every layer. */
  readonly moe: MoELayerConfig;
  readonly bosTokenId?: number;
  readonly eosTokenIds: readonly number[];
}

type Json = Record<string, unknown>;

/** Defaults of the Hugging Face config classes, for keys a config.json leaves out. */
const DEFAULTS: Readonly<Record<ModelType, { readonly rmsNormEps: number; readonly ropeTheta: number }>> = {
  mixtral: { rmsNormEps: 1e-5, ropeTheta: 1e6 },
  qwen2_moe: { rmsNormEps: 1e-6, ropeTheta: 10000 },
  qwen3_moe: { rmsNormEps: 1e-6, ropeTheta: 10000 },
  olmoe: { rmsNormEps: 1e-5, ropeTheta: 10000 },
};

function int(cfg: Json, file: string, key: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ConfigError(`${file}: ${key}`, `expected a positive integer, got ${JSON.stringify(cfg[key])}`);
  }
  return v;
}

function num(cfg: Json, file: string, key: string, fallback: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(`${file}: ${key}`, `expected a positive number, got ${JSON.stringify(cfg[key])}`);
  return v;
}

function bool(cfg: Json, key: string, fallback: boolean): boolean {
  const v = cfg[key];
  return typeof v === 'boolean' ? v : fallback;
}

/** `eos_token_id`: absent, one id or a list of ids, each a token of the vocabulary. */
function ids(v: unknown, file: string, key: string, vocabSize: number): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  for (const x of list) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= vocabSize) {
      throw new ConfigError(`${file}: ${key}`, `expected token ids in [0, ${vocabSize}), got ${JSON.stringify(v)}`);
    }
  }
  return list as number[];
}

/** Head size: head_dim, or hidden_size / num_attention_heads; even, as rotary pairs i with i + hd/2. */
function headDimOf(cfg: Json, file: string, d: number, numHeads: number): number {
  if (cfg.head_dim === undefined || cfg.head_dim === null) {
    if (d % numHeads !== 0) {
      throw new ConfigError(`${file}: head_dim`, `absent, and hidden_size (${d}) is not a multiple of num_attention_heads (${numHeads}); expected an explicit head_dim`);
    }
  }
  const hd = int(cfg, file, 'head_dim', d / numHeads);
  if (hd % 2 !== 0) throw new ConfigError(`${file}: head_dim`, `expected an even integer, got ${hd}`);
  return hd;
}

/** Only plain rotary is implemented: a scaling (linear, dynamic, yarn, ...) would be silently ignored. */
function checkRopeScaling(cfg: Json, file: string): void {
  const r = cfg.rope_scaling;
  if (r !== undefined && r !== null) {
    throw new ConfigError(`${file}: rope_scaling`, `expected null (only unscaled rotary embeddings are supported), got ${JSON.stringify(r)}`);
  }
}

/**
 * Features of these model types that the decoder does not implement: a config that turns one on
 * is refused rather than run with it silently ignored.
 */
function checkUnsupported(type: ModelType, cfg: Json, file: string, maxPositions: number): void {
  const act = cfg.hidden_act;
  if (act !== undefined && act !== 'silu') throw new ConfigError(`${file}: hidden_act`, `expected "silu", got ${JSON.stringify(act)}`);
  const clip = cfg.clip_qkv;
  if (clip !== undefined && clip !== null) throw new ConfigError(`${file}: clip_qkv`, `expected null, got ${JSON.stringify(clip)}`);
  if (type !== 'qwen2_moe' && cfg.attention_bias === true) throw new ConfigError(`${file}: attention_bias`, `expected false for ${type}, got true`);
  // Qwen configs carry a sliding_window that only use_sliding_window switches on.
  const windowOn = type === 'qwen2_moe' || type === 'qwen3_moe' ? cfg.use_sliding_window === true : true;
  const window = cfg.sliding_window;
  if (windowOn && typeof window === 'number' && window < maxPositions) {
    throw new ConfigError(`${file}: sliding_window`, `expected null or at least max_position_embeddings (${maxPositions}): sliding-window attention is not supported, got ${window}`);
  }
}

/** The layer's topK cannot exceed its expert count; named by the config.json keys. */
function checkTopK(moe: MoELayerConfig, type: ModelType, file: string): void {
  if (moe.topK > moe.numExperts) {
    const experts = type === 'mixtral' ? 'num_local_experts' : 'num_experts';
    throw new ConfigError(`${file}: num_experts_per_tok`, `expected at most ${experts} (${moe.numExperts}), got ${moe.topK}`);
  }
}

function moeOf(type: ModelType, cfg: Json, file: string, d: number): MoELayerConfig {
  const router = (renormalize: boolean): MoELayerConfig['router'] => ({ name: 'topk-softmax', options: { renormalize } });
  switch (type) {
    case 'mixtral':
      return {
        hiddenSize: d,
        numExperts: int(cfg, file, 'num_local_experts'),
        topK: int(cfg, file, 'num_experts_per_tok'),
        expert: { kind: 'swiglu', ffnSize: int(cfg, file, 'intermediate_size') },
        router: router(true),
      };
    case 'qwen2_moe': {
      const shared = int(cfg, file, 'shared_expert_intermediate_size');
      return {
        hiddenSize: d,
        numExperts: int(cfg, file, 'num_experts'),
        topK: int(cfg, file, 'num_experts_per_tok'),
        expert: { kind: 'swiglu', ffnSize: int(cfg, file, 'moe_intermediate_size') },
        sharedExperts: { count: 1, ffnSize: shared, gated: true },
        router: router(bool(cfg, 'norm_topk_prob', false)),
      };
    }
    case 'qwen3_moe':
      return {
        hiddenSize: d,
        numExperts: int(cfg, file, 'num_experts'),
        topK: int(cfg, file, 'num_experts_per_tok'),
        expert: { kind: 'swiglu', ffnSize: int(cfg, file, 'moe_intermediate_size') },
        router: router(bool(cfg, 'norm_topk_prob', false)),
      };
    case 'olmoe':
      return {
        hiddenSize: d,
        numExperts: int(cfg, file, 'num_experts'),
        topK: int(cfg, file, 'num_experts_per_tok'),
        expert: { kind: 'swiglu', ffnSize: int(cfg, file, 'intermediate_size') },
        router: router(bool(cfg, 'norm_topk_prob', false)),
      };
  }
}

function checkSparseEveryLayer(type: ModelType, cfg: Json, file: string): void {
  if (type !== 'qwen2_moe' && type !== 'qwen3_moe') return;
  const step = cfg.decoder_sparse_step ?? 1;
  const dense = cfg.mlp_only_layers;
  if (step !== 1 || (Array.isArray(dense) && dense.length > 0)) {
    throw new ConfigError(`${file}: decoder_sparse_step / mlp_only_layers`, 'only models whose every layer is sparse (decoder_sparse_step 1, no mlp_only_layers) are supported');
  }
}

/** Parses a Hugging Face `config.json` object; `file` names it in errors. */
export function parseModelConfig(cfg: unknown, file = 'config.json'): ModelConfig {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new ConfigError(file, 'expected a JSON object');
  const json = cfg as Json;
  const type = json.model_type;
  if (typeof type !== 'string' || !MODEL_TYPES.includes(type as ModelType)) {
    throw new ConfigError(`${file}: model_type`, `expected one of ${MODEL_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  }
  const modelType = type as ModelType;
  checkSparseEveryLayer(modelType, json, file);
  const d = int(json, file, 'hidden_size');
  const numHeads = int(json, file, 'num_attention_heads');
  const numKvHeads = int(json, file, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) throw new ConfigError(`${file}: num_key_value_heads`, `expected a divisor of num_attention_heads (${numHeads}), got ${numKvHeads}`);
  const headDim = headDimOf(json, file, d, numHeads);
  checkRopeScaling(json, file);
  const maxPositions = int(json, file, 'max_position_embeddings', 4096);
  checkUnsupported(modelType, json, file, maxPositions);
  const vocabSize = int(json, file, 'vocab_size');
  const moe = moeOf(modelType, json, file, d);
  checkTopK(moe, modelType, file);
  return {
    modelType,
    vocabSize,
    hiddenSize: d,
    numLayers: int(json, file, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num(json, file, 'rms_norm_eps', DEFAULTS[modelType].rmsNormEps),
    ropeTheta: num(json, file, 'rope_theta', DEFAULTS[modelType].ropeTheta),
    maxPositions,
    qkvBias: modelType === 'qwen2_moe',
    qkNorm: modelType === 'qwen3_moe' ? 'per-head' : modelType === 'olmoe' ? 'full' : 'none',
    tieWordEmbeddings: bool(json, 'tie_word_embeddings', false),
    moe,
    bosTokenId: typeof json.bos_token_id === 'number' ? json.bos_token_id : undefined,
    eosTokenIds: ids(json.eos_token_id, file, 'eos_token_id', vocabSize),
  };
}
