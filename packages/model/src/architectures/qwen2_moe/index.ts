/**
 * Qwen2-MoE (Hugging Face `model_type` "qwen2_moe", modeling_qwen2_moe; GGUF `qwen2moe`):
 * q/k/v projections with biases, routing weights renormalised when `norm_topk_prob` (default
 * false), and one shared expert scaled by `sigmoid(shared_expert_gate x)`.
 */
import { defineArchitecture, topkSoftmaxRouter } from '../architecture.js';
import { LLAMA_GGUF_NAMES, LLAMA_HF_NAMES } from '../llama-style-names.js';
import { checkEveryLayerSparse } from '../qwen-sparse-layers.js';

/** The Qwen2-MoE module. */
export const qwen2Moe = defineArchitecture({
  modelType: 'qwen2_moe',
  modelling: 'modeling_qwen2_moe',
  block: { norm: 'rms', attention: 'causal-gqa', rotary: 'rotate-half', qkvBias: true, qkNorm: 'none', feedForward: 'moe', sharedExpert: 'sigmoid-gated', routerNormalisation: 'norm_topk_prob' },
  hf: {
    className: 'Qwen2MoeForCausalLM',
    defaults: { rmsNormEps: 1e-6, ropeTheta: 10000 },
    expertCountKey: 'num_experts',
    slidingWindowSwitch: 'use_sliding_window',
    moe: (r, d) => {
      const shared = r.int('shared_expert_intermediate_size');
      return {
        hiddenSize: d,
        numExperts: r.int('num_experts'),
        topK: r.int('num_experts_per_tok'),
        expert: { kind: 'swiglu', ffnSize: r.int('moe_intermediate_size') },
        sharedExperts: { count: 1, ffnSize: shared, gated: true },
        router: topkSoftmaxRouter(r.bool('norm_topk_prob', false)),
      };
    },
    check: checkEveryLayerSparse,
    tinyKeys: (s) => ({
      num_experts: s.numExperts,
      moe_intermediate_size: s.ffnSize,
      shared_expert_intermediate_size: s.sharedFfnSize ?? 2 * s.ffnSize,
      intermediate_size: 4 * s.hiddenSize,
      norm_topk_prob: false,
      decoder_sparse_step: 1,
      mlp_only_layers: [],
    }),
  },
  gguf: { architecture: 'qwen2moe', permutedRotary: false, renormalize: false, expertWidthKey: 'expert_feed_forward_length' },
  names: { hf: LLAMA_HF_NAMES, hfMoeScheme: 'qwen2-moe', gguf: LLAMA_GGUF_NAMES },
});
