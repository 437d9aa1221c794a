/**
 * What an architecture module declares: its decoder block, its Hugging Face `config.json`
 * parsing, its GGUF metadata facts and its tensor names. The decoder, the loaders, the
 * generators, the CLI and the server ask the registry (`registry.ts`) for these instead of
 * testing model types, so an architecture is one folder plus one registry entry.
 */
import type { ExpertKind, MoELayerConfig } from '@moe-runtime/core';
import type { GgufMetadata } from '../gguf/gguf-metadata.js';
import type { GgufValue } from '../gguf/gguf-writer.js';
import type { LatentAttentionConfig, LeadingDenseLayers, ModelConfig, ModelMultipliers, QkNorm } from '../model-config.js';
import type { LayerLayout } from './layer-layout.js';
import type { HfConfigReader } from './hf-config-reader.js';
import type { HfMoeLayout } from './hf-moe-layout.js';
import type { HfQuantMethod } from './hf-quantization.js';
import type { GgufTensorNames, HfTensorNames } from './llama-style-names.js';

/** The decoder block an architecture composes (every field is a choice the decoder makes). */
export interface DecoderBlock {
  /** Norm before attention, before the feed-forward and at the end. */
  readonly norm: 'rms';
  /**
   * Causal grouped-query attention with the 1/sqrt(head_dim) scale: no window, no sinks
   * (`causal-gqa`), or with one learned sink logit per head joining each softmax and the
   * config's per-layer sliding windows (`causal-gqa-sinks`, gpt-oss), or multi-head latent
   * attention (`latent`, DeepSeek-V2: the KV cache holds the compressed latent).
   */
  readonly attention: 'causal-gqa' | 'causal-gqa-sinks' | 'latent';
  /**
   * Rotary embeddings: `rotate-half` (dimension i pairs with i + head_dim/2 on the Hugging Face
   * layout) or `interleaved` (DeepSeek-V2: dimensions 2i and 2i+1 pair up).
   */
  readonly rotary: 'rotate-half' | 'interleaved';
  /** Biases on the q/k/v projections. */
  readonly qkvBias: boolean;
  /** A bias on the o projection too (gpt-oss). */
  readonly oBias?: boolean;
  /** A bias on the router projection (gpt-oss `router.bias`). */
  readonly routerBias?: boolean;
  /** RMSNorm of q and k before rotary: none, per head, or over the whole projection. */
  readonly qkNorm: QkNorm;
  /** The feed-forward of every layer, or dense SwiGLU for the first layers and MoE after (DeepSeek). */
  readonly feedForward: 'moe' | 'leading-dense-then-moe';
  /** A shared expert beside the routed ones: none, scaled by sigmoid(shared_expert_gate x), or added ungated. */
  readonly sharedExpert: 'none' | 'sigmoid-gated' | 'ungated';
  /** Top-k routing weights renormalised always, or when `norm_topk_prob` says so. */
  readonly routerNormalisation: 'always' | 'norm_topk_prob';
  /**
   * muP-style multipliers (Granite): the embeddings times one, each residual branch times
   * another, the attention scale given instead of 1/sqrt(head_dim), the logits divided.
   * Absent: none of these.
   */
  readonly multipliers?: 'mup';
}

/** Sizes a tiny generated checkpoint is made of. */
export interface TinyShape {
  readonly hiddenSize: number;
  readonly numExperts: number;
  readonly ffnSize: number;
  readonly sharedFfnSize?: number;
  readonly numLayers?: number;
  readonly numHeads?: number;
}

/** The Hugging Face side: `config.json` parsing of the keys that differ between architectures. */
export interface HfConfigRules {
  /** `architectures[0]` of the config, e.g. `MixtralForCausalLM`. */
  readonly className: string;
  /** Defaults of the config class for keys a `config.json` leaves out. */
  readonly defaults: { readonly rmsNormEps: number; readonly ropeTheta: number };
  /** The key holding the routed expert count (named when num_experts_per_tok exceeds it). */
  readonly expertCountKey: string;
  /** `sliding_window` only applies when this boolean key is true (Qwen); else whenever set. */
  readonly slidingWindowSwitch?: string;
  /** The MoE feed-forward of every layer, from the config's keys (`d` the hidden size). */
  moe(r: HfConfigReader, d: number): MoELayerConfig;
  /**
   * The sliding window of each layer (null: full attention), for architectures whose config
   * says per layer (gpt-oss `layer_types` with `sliding_window`); `sliding_window` is then
   * not refused. Absent: a window below max_position_embeddings is refused.
   */
  layerWindows?(r: HfConfigReader, numLayers: number): readonly (number | null)[];
  /**
   * `quantization_config.quant_method` values whose stored layout the module's Hugging Face
   * tensors read (gpt-oss: `mxfp4` experts); absent: a quantized checkpoint is refused.
   */
  readonly quantMethods?: readonly HfQuantMethod[];
  /** Refuses features of the config the decoder does not implement (beyond the common checks). */
  check?(r: HfConfigReader): void;
  /** The architecture's own keys of a tiny checkpoint's `config.json`. */
  tinyKeys(s: TinyShape): Record<string, unknown>;
  /** The muP multipliers, for a block with `multipliers: 'mup'`. */
  multipliers?(r: HfConfigReader): ModelMultipliers;
  /**
   * Shape facts the common keys do not give: the q/k head size, multi-head latent attention and
   * leading dense layers (DeepSeek-V2). Absent: head_dim (or hidden / heads), GQA, every layer MoE.
   */
  shape?(r: HfConfigReader): ArchitectureShape;
}

/** What {@link HfConfigRules.shape} returns. */
export interface ArchitectureShape {
  readonly headDim?: number;
  readonly latentAttention?: LatentAttentionConfig;
  readonly leadingDense?: LeadingDenseLayers;
}

/** The GGUF side (keys and defaults follow llama.cpp's `src/llama-arch.cpp` and `src/models/<arch>.cpp`). */
export interface GgufRules {
  /** `general.architecture`. */
  readonly architecture: string;
  /** llama.cpp's converter permuted q/k rows to interleaved rotary pairs; reading undoes it. */
  readonly permutedRotary: boolean;
  /** Routing weights renormalised unless `<arch>.expert_weights_norm` says otherwise. */
  readonly renormalize: boolean;
  /** The expert width key llama.cpp reads first (else feed_forward_length, divided by k for Qwen). */
  readonly expertWidthKey?: string;
  /** The experts' kind and biases (default SwiGLU without biases). */
  readonly experts?: { readonly kind: ExpertKind; readonly bias: boolean };
  /** llama.cpp's `set_swa_pattern(n)`: layer i slides (`attention.sliding_window`) when i % n < n - 1. */
  readonly swaPattern?: number;
  /**
   * The whole config from metadata, for an architecture whose keys the Llama-style reader does
   * not describe (deepseek2); `base` holds what every architecture stores alike.
   */
  readonly config?: (meta: GgufMetadata, base: GgufBaseConfig) => ModelConfig;
  /** The `<arch>.*` keys to write, in place of the Llama-style ones (with `config`). */
  readonly metadata?: (c: ModelConfig) => [string, GgufValue][];
}

/** What every GGUF architecture stores alike (the input of {@link GgufRules.config}). */
export type GgufBaseConfig = Pick<
  ModelConfig,
  'modelType' | 'vocabSize' | 'hiddenSize' | 'numLayers' | 'numHeads' | 'rmsNormEps' | 'ropeTheta' | 'maxPositions' | 'tieWordEmbeddings' | 'bosTokenId' | 'eosTokenIds'
>;

/** Tensor names of the architecture. */
export interface ArchitectureNames {
  /** Hugging Face names of the non-MoE tensors. */
  readonly hf: HfTensorNames;
  /** core's naming scheme of the MoE tensors (`schemeNames`, `loadMoELayerFrom`). */
  readonly hfMoeScheme: string;
  /** llama.cpp's GGUF names. */
  readonly gguf: GgufTensorNames;
  /**
   * The Hugging Face MoE tensors when they follow no core naming scheme (Granite's fused
   * `input_linear` / `output_linear` experts); absent: core's scheme `hfMoeScheme`.
   */
  readonly hfMoe?: HfMoeLayout;
  /**
   * Whole decoder layers whose tensors follow no Llama-style layout (DeepSeek-V2's latent
   * attention and dense-then-MoE layers), on both sides; absent: the Llama-style readers.
   */
  readonly layers?: { readonly hf: LayerLayout; readonly gguf: LayerLayout };
}

/** One architecture module. */
export interface Architecture<T extends string = string, G extends string = string> {
  /** Hugging Face `model_type`. */
  readonly modelType: T;
  /** Which Hugging Face modelling file it follows, for messages and docs. */
  readonly modelling: string;
  readonly block: DecoderBlock;
  readonly hf: HfConfigRules;
  readonly gguf: GgufRules & { readonly architecture: G };
  readonly names: ArchitectureNames;
}

/** Declares an architecture module, keeping its model type and GGUF architecture as literal types. */
export function defineArchitecture<const T extends string, const G extends string>(a: Architecture<T, G>): Architecture<T, G> {
  return a;
}

/** The `topk-softmax` router spec of core, with or without renormalisation. */
export function topkSoftmaxRouter(renormalize: boolean): MoELayerConfig['router'] {
  return { name: 'topk-softmax', options: { renormalize } };
}
