/**
 * DeepSeek-V2 (Hugging Face `model_type` "deepseek_v2", modeling_deepseek; GGUF `deepseek2`),
 * Lite (`q_lora_rank` null, a plain `q_proj`) or with the low-rank q of V2 / V2.5
 * (`q_a_proj`, `q_a_layernorm`, `q_b_proj`): multi-head latent attention whose KV cache holds the
 * compressed latent (`kv_a_layernorm(c)`) and the shared k_rope, `kv_b_proj` absorbed into the
 * queries and the output; interleaved rotary on the rope part with YaRN and the softmax
 * `mscale_all_dim` factor; the first `first_k_dense_replace` layers dense SwiGLU; MoE layers
 * with a softmax gate (greedy or group-limited, through core's `softmax-group-topk`),
 * `routed_scaling_factor` and the `n_shared_experts` as one ungated MLP.
 */
import { defineArchitecture } from '../architecture.js';
import { LLAMA_GGUF_NAMES, LLAMA_HF_NAMES } from '../llama-style-names.js';
import { deepseekCheck, deepseekMoe, deepseekShape, deepseekTinyKeys } from './config.js';
import { deepseekGgufConfig, deepseekGgufMetadata } from './gguf-config.js';
import { DEEPSEEK_GGUF_LAYERS, DEEPSEEK_HF_LAYERS } from './layers.js';

/** The DeepSeek-V2 module. */
export const deepseekV2 = defineArchitecture({
  modelType: 'deepseek_v2',
  modelling: 'modeling_deepseek',
  block: {
    norm: 'rms',
    attention: 'latent',
    rotary: 'interleaved',
    qkvBias: false,
    qkNorm: 'none',
    feedForward: 'leading-dense-then-moe',
    sharedExpert: 'ungated',
    routerNormalisation: 'norm_topk_prob',
  },
  hf: {
    className: 'DeepseekV2ForCausalLM',
    defaults: { rmsNormEps: 1e-6, ropeTheta: 10000 },
    expertCountKey: 'n_routed_experts',
    moe: deepseekMoe,
    shape: deepseekShape,
    check: deepseekCheck,
    tinyKeys: (s) => deepseekTinyKeys(s, s.numHeads ?? 4),
  },
  gguf: { architecture: 'deepseek2', permutedRotary: false, renormalize: false, expertWidthKey: 'expert_feed_forward_length', config: deepseekGgufConfig, metadata: deepseekGgufMetadata },
  names: { hf: LLAMA_HF_NAMES, hfMoeScheme: 'deepseek', gguf: LLAMA_GGUF_NAMES, layers: { hf: DEEPSEEK_HF_LAYERS, gguf: DEEPSEEK_GGUF_LAYERS } },
});
