/**
 * GGUF architectures this runtime runs, and their hyper-parameters from metadata, mapped onto
 * the same {@link ModelConfig} a Hugging Face `config.json` gives. Each architecture's facts
 * come from its module (`src/architectures/<name>/`). Keys and defaults follow llama.cpp
 * (`src/llama-arch.cpp`, `src/models/<arch>.cpp`):
 *
 * | GGUF arch  | model type | rotary                         | router weights renormalised | q/k norm      | shared expert |
 * |------------|------------|--------------------------------|-----------------------------|---------------|---------------|
 * | `llama`    | mixtral    | interleaved pairs (q/k rows permuted by the converter) | yes | none          | no            |
 * | `qwen2moe` | qwen2_moe  | NEOX (rotate-half, unpermuted) | no                          | none          | yes, gated    |
 * | `qwen3moe` | qwen3_moe  | NEOX                           | yes                         | per head      | no            |
 * | `olmoe`    | olmoe      | NEOX                           | no                          | whole q / k   | no            |
 * | `granitemoe` | granitemoe | interleaved pairs (permuted)  | yes                         | none          | no            |
 * | `deepseek2` | deepseek_v2 | interleaved pairs (unpermuted), rope part of each head | `expert_weights_norm` | latent attention | yes, ungated |
 *
 * `deepseek2` reads its own keys (its module's `gguf.config`: MLA sizes, leading dense layers,
 * `expert_weights_scale`, `expert_shared_count`).
 *
 * `granitemoe` also carries its muP multipliers: `embedding_scale`, `attention.scale` (0:
 * 1/sqrt(head_dim)), `residual_scale` (0: none) and `logit_scale` (the logits divided; required).
 *
 * `<arch>.expert_weights_norm`, where present, overrides the renormalisation. Features the
 * decoder does not implement (rotary scaling, partial rotary, sliding windows, expert weight
 * scales) are refused with the key named rather than silently ignored.
 */
import { GgufError, type ExpertKind, type MoELayerConfig } from '@moe-runtime/core';
import type { RopeScaling } from '../rope-scaling.js';
import { architectureOf, ARCHITECTURES, findGgufArchitecture, GGUF_ARCHITECTURES, type GgufArchitecture } from '../architectures/registry.js';
import type { ModelConfig, ModelMultipliers, ModelType, QkNorm } from '../model-config.js';
import type { GgufMetadata } from './gguf-metadata.js';

export { GGUF_ARCHITECTURES, type GgufArchitecture } from '../architectures/registry.js';

/** What each architecture means for the decoder. */
export interface GgufArchitectureFacts {
  readonly modelType: ModelType;
  /** llama.cpp's converter permuted q/k rows to interleaved rotary pairs; reading undoes it. */
  readonly permutedRotary: boolean;
  readonly renormalize: boolean;
  readonly qkNorm: QkNorm;
  readonly sharedExpert: boolean;
  /** The expert width key llama.cpp reads first (else feed_forward_length, divided by k for Qwen). */
  readonly expertWidthKey?: string;
  readonly experts?: { readonly kind: ExpertKind; readonly bias: boolean };
  readonly swaPattern?: number;
  /** The block has muP multipliers (Granite). */
  readonly multipliers: boolean;
}

/** The facts of every supported architecture, from the architecture modules. */
export const GGUF_ARCHITECTURE_FACTS: Readonly<Record<GgufArchitecture, GgufArchitectureFacts>> = Object.fromEntries(
  ARCHITECTURES.map((a) => [
    a.gguf.architecture,
    { modelType: a.modelType, permutedRotary: a.gguf.permutedRotary, renormalize: a.gguf.renormalize, qkNorm: a.block.qkNorm, sharedExpert: a.block.sharedExpert !== 'none', expertWidthKey: a.gguf.expertWidthKey, experts: a.gguf.experts, swaPattern: a.gguf.swaPattern, multipliers: a.block.multipliers === 'mup' },
  ]),
) as Record<GgufArchitecture, GgufArchitectureFacts>;

/** The GGUF architecture that stores a model type. */
export function ggufArchitectureOf(type: ModelType): GgufArchitecture {
  return architectureOf(type).gguf.architecture;
}

/** The checkpoint's architecture, checked. */
export function readArchitecture(meta: GgufMetadata): GgufArchitecture {
  const arch = meta.string('general.architecture');
  const found = findGgufArchitecture(arch);
  if (!found) throw new GgufError(meta.file, 'general.architecture', `expected one of ${GGUF_ARCHITECTURES.join(', ')} (MoE architectures), got ${JSON.stringify(arch)}`);
  return found.gguf.architecture;
}

/**
 * The GGUF path reads and writes Llama-style blocks only: an architecture whose block needs
 * sinks, windows, o/router biases or another expert kind (gpt-oss) is refused, not read
 * without them.
 */
export function checkGgufReadable(arch: GgufArchitecture, fail: (why: string) => never): void {
  const a = findGgufArchitecture(arch)!;
  const b = a.block;
  // Sinks and windows are read where the module says how llama.cpp lays them out.
  if (b.attention === 'causal-gqa-sinks' && a.gguf.swaPattern === undefined) fail(`the GGUF layout of ${JSON.stringify(arch)} (attention sinks, sliding windows) is not implemented yet`);
}

/** The model types whose GGUF layout this package reads and writes. */
export const GGUF_MODEL_TYPES: readonly ModelType[] = ARCHITECTURES.filter((a) => {
  try {
    checkGgufReadable(a.gguf.architecture, (why) => {
      throw new Error(why);
    });
    return true;
  } catch {
    return false;
  }
}).map((a) => a.modelType);

function refuse(meta: GgufMetadata, key: string, why: string): never {
  throw new GgufError(meta.file, key, why);
}

/**
 * Partial rotary would be silently wrong: refused. Scaling: none, linear with factor 1, or
 * YaRN as llama.cpp computes it (`ggml_rope_yarn_corr_dims` rounds the correction range
 * outward, i.e. `truncate`; mscale 0.1 ln(factor) + 1 times `yarn_attn_factor`).
 */
function ropeScalingOf(meta: GgufMetadata, a: string, headDim: number, maxPositions: number): RopeScaling | undefined {
  const dims = meta.uint(`${a}.rope.dimension_count`, headDim);
  if (dims !== headDim) refuse(meta, `${a}.rope.dimension_count`, `expected the head size (${headDim}): partial rotary embeddings are not supported, got ${dims}`);
  const type = meta.string(`${a}.rope.scaling.type`, 'none');
  const factor = meta.float(`${a}.rope.scaling.factor`, 1);
  if (type === 'yarn') {
    const attn = meta.float(`${a}.rope.scaling.yarn_attn_factor`, 1);
    const orig = meta.uint(`${a}.rope.scaling.original_context_length`, maxPositions);
    return { type: 'yarn', factor, originalMaxPositions: orig, betaFast: meta.float(`${a}.rope.scaling.yarn_beta_fast`, 32), betaSlow: meta.float(`${a}.rope.scaling.yarn_beta_slow`, 1), truncate: true, attentionFactor: attn * (factor <= 1 ? 1 : 0.1 * Math.log(factor) + 1) };
  }
  if (type !== 'none' && !(type === 'linear' && factor === 1)) refuse(meta, `${a}.rope.scaling.type`, `expected "none" or "yarn": other scaled rotary embeddings are not supported, got ${JSON.stringify(type)}`);
  if (type === 'none' && factor !== 1 && factor !== 0) refuse(meta, `${a}.rope.scaling.factor`, `expected 1 (no scaling), got ${factor}`);
  return undefined;
}

/** The layers' windows under llama.cpp's fixed pattern (`set_swa_pattern`), where the architecture has one. */
function layerWindowsOf(meta: GgufMetadata, a: string, pattern: number | undefined, numLayers: number): (number | null)[] | undefined {
  if (pattern === undefined) return undefined;
  const window = meta.uint(`${a}.attention.sliding_window`, 0);
  if (window < 1) refuse(meta, `${a}.attention.sliding_window`, 'missing; expected the sliding layers\' window');
  return Array.from({ length: numLayers }, (_, i) => (i % pattern < pattern - 1 ? window : null));
}

function checkUnsupported(meta: GgufMetadata, a: string, maxPositions: number, windowed: boolean): void {
  const window = meta.uint(`${a}.attention.sliding_window`, 0);
  if (!windowed && window !== 0 && window < maxPositions) refuse(meta, `${a}.attention.sliding_window`, `sliding-window attention is not supported (window ${window} < context ${maxPositions})`);
  const scale = meta.float(`${a}.expert_weights_scale`, 0);
  if (scale !== 0 && scale !== 1) refuse(meta, `${a}.expert_weights_scale`, `expected 1 (unscaled routing weights), got ${scale}`);
  const value = meta.uint(`${a}.attention.value_length`, 0);
  const key = meta.uint(`${a}.attention.key_length`, 0);
  if (value !== 0 && key !== 0 && value !== key) refuse(meta, `${a}.attention.value_length`, `expected the key length (${key}), got ${value}`);
}

function moeOf(meta: GgufMetadata, a: string, facts: GgufArchitectureFacts, d: number, layers: number): MoELayerConfig {
  const numExperts = meta.uint(`${a}.expert_count`, 0);
  if (numExperts < 1) refuse(meta, `${a}.expert_count`, `expected an MoE model (expert_count >= 1), got ${numExperts}: dense models are not supported`);
  const topK = meta.uint(`${a}.expert_used_count`, 0);
  if (topK < 1 || topK > numExperts) refuse(meta, `${a}.expert_used_count`, `expected an integer in [1, expert_count = ${numExperts}], got ${topK}`);
  const width = facts.expertWidthKey ? meta.uint(`${a}.${facts.expertWidthKey}`, 0) : 0;
  const ffn = meta.has(`${a}.feed_forward_length`) ? meta.uniformUint(`${a}.feed_forward_length`, layers) : 0;
  // llama.cpp: the expert width key when set, else feed_forward_length (divided by k for Qwen).
  const ffnSize = width || (facts.expertWidthKey ? Math.floor(ffn / topK) : ffn);
  if (ffnSize < 1) refuse(meta, `${a}.${facts.expertWidthKey ?? 'feed_forward_length'}`, 'missing; expected the experts\' inner size');
  const renormalize = meta.bool(`${a}.expert_weights_norm`, facts.renormalize);
  const moe: MoELayerConfig = {
    hiddenSize: d,
    numExperts,
    topK,
    expert: facts.experts ? { kind: facts.experts.kind, ffnSize, bias: facts.experts.bias } : { kind: 'swiglu', ffnSize },
    router: { name: 'topk-softmax', options: { renormalize } },
  };
  if (!facts.sharedExpert) return moe;
  const shared = meta.uint(`${a}.expert_shared_feed_forward_length`, 0) || ffn;
  if (shared < 1) refuse(meta, `${a}.expert_shared_feed_forward_length`, 'missing; expected the shared expert\'s inner size');
  return { ...moe, sharedExperts: { count: 1, ffnSize: shared, gated: true } };
}

/** llama.cpp's Granite multipliers (`llama_model_granite::load_arch_hparams`): 0 or absent means none. */
function multipliersOf(meta: GgufMetadata, a: string, headDim: number): ModelMultipliers {
  const optional = (key: string, none: number): number => {
    const v = meta.float(key, 0);
    if (v < 0) refuse(meta, key, `expected a positive multiplier (or 0: none), got ${v}`);
    return v === 0 ? none : v;
  };
  const logits = meta.float(`${a}.logit_scale`);
  if (!(logits > 0)) refuse(meta, `${a}.logit_scale`, `expected a positive divisor of the logits, got ${logits}`);
  return {
    embedding: optional(`${a}.embedding_scale`, 1),
    attentionScale: optional(`${a}.attention.scale`, 1 / Math.sqrt(headDim)),
    residual: optional(`${a}.residual_scale`, 1),
    logitsScaling: logits,
  };
}

function specialIds(meta: GgufMetadata, vocabSize: number): { bos?: number; eos: number[] } {
  const id = (key: string): number | undefined => {
    if (!meta.has(key)) return undefined;
    const v = meta.uint(key);
    if (v >= vocabSize) refuse(meta, key, `expected a token id in [0, ${vocabSize}), got ${v}`);
    return v;
  };
  const eos = [id('tokenizer.ggml.eos_token_id'), id('tokenizer.ggml.eot_token_id'), id('tokenizer.ggml.eom_token_id')].filter((x): x is number => x !== undefined);
  return { bos: id('tokenizer.ggml.bos_token_id'), eos: [...new Set(eos)] };
}

/** What the metadata gives beyond what tensors show. */
export interface GgufModelFacts {
  readonly arch: GgufArchitecture;
  readonly facts: GgufArchitectureFacts;
  readonly config: ModelConfig;
}

/**
 * The model config from a checkpoint's metadata. `vocabSize` is the vocabulary's length (the
 * tokenizer's, else `token_embd`'s rows); `qkvBias` and `tied` come from which tensors exist.
 */
export function ggufModelConfig(meta: GgufMetadata, vocabSize: number, shape: { readonly qkvBias: boolean; readonly tied: boolean }): GgufModelFacts {
  const arch = readArchitecture(meta);
  const facts = GGUF_ARCHITECTURE_FACTS[arch];
  const a = arch;
  const numLayers = meta.uint(`${a}.block_count`);
  if (numLayers < 1) refuse(meta, `${a}.block_count`, 'expected at least one layer');
  const d = meta.uint(`${a}.embedding_length`);
  const numHeads = meta.uniformUint(`${a}.attention.head_count`, numLayers);
  const own = architectureOf(facts.modelType).gguf.config;
  // An architecture whose keys the Llama-style reader does not describe (deepseek2) reads them itself.
  if (own) {
    if (meta.has(`${a}.vocab_size`) && meta.uint(`${a}.vocab_size`) !== vocabSize) refuse(meta, `${a}.vocab_size`, `says ${meta.uint(`${a}.vocab_size`)}, the vocabulary has ${vocabSize} tokens`);
    const ids = specialIds(meta, vocabSize);
    const base = {
      modelType: facts.modelType,
      vocabSize,
      hiddenSize: d,
      numLayers,
      numHeads,
      rmsNormEps: meta.float(`${a}.attention.layer_norm_rms_epsilon`),
      ropeTheta: meta.float(`${a}.rope.freq_base`, 10000),
      maxPositions: meta.uint(`${a}.context_length`),
      tieWordEmbeddings: shape.tied,
      bosTokenId: ids.bos,
      eosTokenIds: ids.eos,
    };
    return { arch, facts, config: own(meta, base) };
  }
  const numKvHeads = meta.uniformUint(`${a}.attention.head_count_kv`, numLayers, numHeads);
  if (numHeads < 1 || numKvHeads < 1 || numHeads % numKvHeads !== 0) {
    refuse(meta, `${a}.attention.head_count_kv`, `expected a divisor of attention.head_count (${numHeads}), got ${numKvHeads}`);
  }
  if (!meta.has(`${a}.attention.key_length`) && d % numHeads !== 0) {
    refuse(meta, `${a}.attention.key_length`, `missing, and embedding_length (${d}) is not a multiple of attention.head_count (${numHeads})`);
  }
  const headDim = meta.uint(`${a}.attention.key_length`, d / numHeads);
  if (headDim < 2 || headDim % 2 !== 0) refuse(meta, `${a}.attention.key_length`, `expected an even head size, got ${headDim}`);
  const maxPositions = meta.uint(`${a}.context_length`);
  const ropeScaling = ropeScalingOf(meta, a, headDim, maxPositions);
  checkUnsupported(meta, a, maxPositions, facts.swaPattern !== undefined);
  const block = architectureOf(facts.modelType).block;
  const layerWindows = layerWindowsOf(meta, a, facts.swaPattern, numLayers);
  if (meta.has(`${a}.vocab_size`) && meta.uint(`${a}.vocab_size`) !== vocabSize) {
    refuse(meta, `${a}.vocab_size`, `says ${meta.uint(`${a}.vocab_size`)}, the vocabulary has ${vocabSize} tokens`);
  }
  const ids = specialIds(meta, vocabSize);
  const config: ModelConfig = {
    modelType: facts.modelType,
    vocabSize,
    hiddenSize: d,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: meta.float(`${a}.attention.layer_norm_rms_epsilon`),
    ropeTheta: meta.float(`${a}.rope.freq_base`, 10000),
    ...(ropeScaling ? { ropeScaling } : {}),
    maxPositions,
    qkvBias: shape.qkvBias,
    ...(block.oBias ? { oBias: true } : {}),
    ...(block.attention === 'causal-gqa-sinks' ? { attentionSinks: true } : {}),
    ...(layerWindows ? { layerWindows } : {}),
    ...(block.routerBias ? { routerBias: true } : {}),
    qkNorm: facts.qkNorm,
    tieWordEmbeddings: shape.tied,
    moe: moeOf(meta, a, facts, d, numLayers),
    bosTokenId: ids.bos,
    eosTokenIds: ids.eos,
    ...(facts.multipliers ? { multipliers: multipliersOf(meta, a, headDim) } : {}),
  };
  return { arch, facts, config };
}
