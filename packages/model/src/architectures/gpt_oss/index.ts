/**
 * gpt-oss (Hugging Face `model_type` "gpt_oss", modeling_gpt_oss; GGUF `gpt-oss`): attention
 * with biases on q/k/v/o, one learned sink logit per head, sliding-window (`sliding_window`,
 * 128) and full layers alternating as `layer_types` says, YaRN rotary; a router with a bias
 * whose top-k logits are softmaxed (the same weights as a softmax over all experts
 * renormalised over the chosen), and experts with biases computing the clamped SwiGLU
 * (core's `clamped-swiglu`: limit 7, alpha 1.702, `(up + 1)`), stored stacked (`hf-experts.ts`),
 * as floats or, as released, in mxfp4 (`quantization_config`, repacked to core's `mxfp4`).
 */
import { CLAMPED_SWIGLU_LIMIT } from '@moe-runtime/core';
import { defineArchitecture, topkSoftmaxRouter } from '../architecture.js';
import type { HfConfigReader } from '../hf-config-reader.js';
import { LLAMA_GGUF_NAMES, LLAMA_HF_NAMES } from '../llama-style-names.js';
import { GPT_OSS_HF_MOE } from './hf-experts.js';

const LAYER_TYPES = ['sliding_attention', 'full_attention'] as const;

/** `layer_types` (default as GptOssConfig: even layers sliding, odd full) and `sliding_window`. */
function layerWindows(r: HfConfigReader, numLayers: number): (number | null)[] {
  const given = r.value('layer_types');
  const types = given ?? Array.from({ length: numLayers }, (_, i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention'));
  if (!Array.isArray(types) || types.length !== numLayers || types.some((t) => !LAYER_TYPES.includes(t))) {
    throw r.error('layer_types', `expected ${numLayers} entries, each ${LAYER_TYPES.join(' or ')}, got ${JSON.stringify(given)}`);
  }
  const window = r.int('sliding_window', 128);
  return types.map((t) => (t === 'sliding_attention' ? window : null));
}

/** The clamped SwiGLU's limit is core's constant; another `swiglu_limit` would be silently ignored. */
function check(r: HfConfigReader): void {
  const limit = r.value('swiglu_limit');
  if (limit !== undefined && limit !== CLAMPED_SWIGLU_LIMIT) throw r.error('swiglu_limit', `expected ${CLAMPED_SWIGLU_LIMIT} (the clamped SwiGLU core computes), got ${JSON.stringify(limit)}`);
  if (r.value('attention_bias') === false) throw r.error('attention_bias', 'expected true (gpt-oss projections carry biases), got false');
}

/** The gpt-oss module. */
export const gptOss = defineArchitecture({
  modelType: 'gpt_oss',
  modelling: 'modeling_gpt_oss',
  block: {
    norm: 'rms',
    attention: 'causal-gqa-sinks',
    rotary: 'rotate-half',
    qkvBias: true,
    oBias: true,
    routerBias: true,
    qkNorm: 'none',
    feedForward: 'moe',
    sharedExpert: 'none',
    routerNormalisation: 'always',
  },
  hf: {
    className: 'GptOssForCausalLM',
    defaults: { rmsNormEps: 1e-5, ropeTheta: 150000 },
    expertCountKey: 'num_local_experts',
    moe: (r, d) => ({
      hiddenSize: d,
      numExperts: r.int('num_local_experts'),
      topK: r.int('num_experts_per_tok'),
      expert: { kind: 'clamped-swiglu', ffnSize: r.int('intermediate_size'), bias: true },
      router: topkSoftmaxRouter(true),
    }),
    layerWindows,
    // The released checkpoints' experts (`*_blocks` / `*_scales`, hf-experts.ts).
    quantMethods: ['mxfp4'],
    check,
    tinyKeys: (s) => ({
      num_local_experts: s.numExperts,
      intermediate_size: s.ffnSize,
      attention_bias: true,
      swiglu_limit: CLAMPED_SWIGLU_LIMIT,
      hidden_act: 'silu',
      // A window far below the tiny prompts, so the sliding layers differ from full ones.
      sliding_window: 4,
      layer_types: Array.from({ length: s.numLayers ?? 2 }, (_, i) => LAYER_TYPES[i % 2]),
      // gpt-oss's YaRN with original context 128: max_position_embeddings (4096) / 128 = factor 32.
      rope_scaling: { rope_type: 'yarn', factor: 32, beta_fast: 32, beta_slow: 1, original_max_position_embeddings: 128, truncate: false },
    }),
  },
  gguf: {
    architecture: 'gpt-oss',
    permutedRotary: false,
    renormalize: true,
    expertWidthKey: 'expert_feed_forward_length',
    experts: { kind: 'clamped-swiglu', bias: true },
    swaPattern: 2,
  },
  // llama.cpp's LLM_ARCH_OPENAI_MOE names the norm before the MoE `post_attention_norm`.
  names: { hf: LLAMA_HF_NAMES, hfMoeScheme: 'mixtral', hfMoe: GPT_OSS_HF_MOE, gguf: { ...LLAMA_GGUF_NAMES, ffnNorm: 'post_attention_norm' } },
});
