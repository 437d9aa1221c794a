/**
 * Mixtral (Hugging Face `model_type` "mixtral", modeling_mixtral; GGUF `llama`): Llama-style
 * attention without biases or q/k norms, 8 experts with top-2 routing weights always
 * renormalised, no shared expert. llama.cpp's converter permutes q/k rows for its
 * interleaved rotary.
 */
import { defineArchitecture, topkSoftmaxRouter } from '../architecture.js';
import { LLAMA_GGUF_NAMES, LLAMA_HF_NAMES } from '../llama-style-names.js';

/** The Mixtral module. */
export const mixtral = defineArchitecture({
  modelType: 'mixtral',
  modelling: 'modeling_mixtral',
  block: { norm: 'rms', attention: 'causal-gqa', rotary: 'rotate-half', qkvBias: false, qkNorm: 'none', feedForward: 'moe', sharedExpert: 'none', routerNormalisation: 'always' },
  hf: {
    className: 'MixtralForCausalLM',
    defaults: { rmsNormEps: 1e-5, ropeTheta: 1e6 },
    expertCountKey: 'num_local_experts',
    moe: (r, d) => ({
      hiddenSize: d,
      numExperts: r.int('num_local_experts'),
      topK: r.int('num_experts_per_tok'),
      expert: { kind: 'swiglu', ffnSize: r.int('intermediate_size') },
      router: topkSoftmaxRouter(true),
    }),
    tinyKeys: (s) => ({ num_local_experts: s.numExperts, intermediate_size: s.ffnSize }),
  },
  gguf: { architecture: 'llama', permutedRotary: true, renormalize: true },
  names: { hf: LLAMA_HF_NAMES, hfMoeScheme: 'mixtral', gguf: LLAMA_GGUF_NAMES },
});
