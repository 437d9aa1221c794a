/**
 * Qwen3-MoE (Hugging Face `model_type` "qwen3_moe", modeling_qwen3_moe; GGUF `qwen3moe`):
 * RMSNorm of q and k per head (over head_dim) before rotary, no biases, routing weights
 * renormalised when `norm_topk_prob` (default false; llama.cpp's qwen3moe renormalises), no
 * shared expert.
 */
import { defineArchitecture, topkSoftmaxRouter } from '../architecture.js';
import { LLAMA_GGUF_NAMES, LLAMA_HF_NAMES } from '../llama-style-names.js';
import { checkEveryLayerSparse } from '../qwen-sparse-layers.js';

/** The Qwen3-MoE module. */
export const qwen3Moe = defineArchitecture({
  modelType: 'qwen3_moe',
  modelling: 'modeling_qwen3_moe',
  block: { norm: 'rms', attention: 'causal-gqa', rotary: 'rotate-half', qkvBias: false, qkNorm: 'per-head', feedForward: 'moe', sharedExpert: 'none', routerNormalisation: 'norm_topk_prob' },
  hf: {
    className: 'Qwen3MoeForCausalLM',
    defaults: { rmsNormEps: 1e-6, ropeTheta: 10000 },
    expertCountKey: 'num_experts',
    slidingWindowSwitch: 'use_sliding_window',
    moe: (r, d) => ({
      hiddenSize: d,
      numExperts: r.int('num_experts'),
      topK: r.int('num_experts_per_tok'),
      expert: { kind: 'swiglu', ffnSize: r.int('moe_intermediate_size') },
      router: topkSoftmaxRouter(r.bool('norm_topk_prob', false)),
    }),
    check: checkEveryLayerSparse,
    tinyKeys: (s) => ({
      num_experts: s.numExperts,
      moe_intermediate_size: s.ffnSize,
      intermediate_size: 4 * s.hiddenSize,
      norm_topk_prob: true,
      decoder_sparse_step: 1,
      mlp_only_layers: [],
    }),
  },
  gguf: { architecture: 'qwen3moe', permutedRotary: false, renormalize: true, expertWidthKey: 'expert_feed_forward_length' },
  names: { hf: LLAMA_HF_NAMES, hfMoeScheme: 'qwen3-moe', gguf: LLAMA_GGUF_NAMES },
});
