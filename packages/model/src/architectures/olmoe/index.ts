/**
 * OLMoE (Hugging Face `model_type` "olmoe", modeling_olmoe; GGUF `olmoe`): RMSNorm of the whole
 * q and k projections before rotary, no biases, routing weights renormalised when
 * `norm_topk_prob` (default false), no shared expert. `clip_qkv` is refused by the common checks.
 */
import { defineArchitecture, topkSoftmaxRouter } from '../architecture.js';
import { LLAMA_GGUF_NAMES, LLAMA_HF_NAMES } from '../llama-style-names.js';

/** The OLMoE module. */
export const olmoe = defineArchitecture({
  modelType: 'olmoe',
  modelling: 'modeling_olmoe',
  block: { norm: 'rms', attention: 'causal-gqa', rotary: 'rotate-half', qkvBias: false, qkNorm: 'full', feedForward: 'moe', sharedExpert: 'none', routerNormalisation: 'norm_topk_prob' },
  hf: {
    className: 'OlmoeForCausalLM',
    defaults: { rmsNormEps: 1e-5, ropeTheta: 10000 },
    expertCountKey: 'num_experts',
    moe: (r, d) => ({
      hiddenSize: d,
      numExperts: r.int('num_experts'),
      topK: r.int('num_experts_per_tok'),
      expert: { kind: 'swiglu', ffnSize: r.int('intermediate_size') },
      router: topkSoftmaxRouter(r.bool('norm_topk_prob', false)),
    }),
    tinyKeys: (s) => ({ num_experts: s.numExperts, intermediate_size: s.ffnSize, norm_topk_prob: false }),
  },
  gguf: { architecture: 'olmoe', permutedRotary: false, renormalize: false },
  names: { hf: LLAMA_HF_NAMES, hfMoeScheme: 'olmoe', gguf: LLAMA_GGUF_NAMES },
});
