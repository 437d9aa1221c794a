/**
 * Granite-MoE (Hugging Face `model_type` "granitemoe", modeling_granitemoe; GGUF `granitemoe`):
 * Llama-style attention without q/k norms, muP multipliers (`embedding_multiplier` on the
 * embeddings, `residual_multiplier` on each residual branch, `attention_multiplier` as the
 * attention scale in place of 1/sqrt(head_dim), the logits divided by `logits_scaling`), and a
 * router that takes the top-k logits and softmaxes over those k (the same weights as a softmax
 * over every expert renormalised over the top k). The experts are fused per layer:
 * `input_linear` `[E, 2F, D]` (gate rows, then up rows) and `output_linear` `[E, D, F]`.
 * llama.cpp's converter (GraniteMoeModel, a LlamaModel) splits `input_linear` into
 * `ffn_gate_exps` / `ffn_up_exps` and permutes q/k rows for its interleaved rotary.
 */
import type { ModelMultipliers } from '../../model-config.js';
import { defineArchitecture, topkSoftmaxRouter } from '../architecture.js';
import type { HfConfigReader } from '../hf-config-reader.js';
import { LLAMA_GGUF_NAMES, LLAMA_HF_NAMES } from '../llama-style-names.js';
import { GRANITE_MOE_LAYOUT } from './fused-experts.js';

/** `GraniteMoeConfig`'s multipliers (each 1.0 by default). */
function multipliers(r: HfConfigReader): ModelMultipliers {
  return {
    embedding: r.num('embedding_multiplier', 1),
    attentionScale: r.num('attention_multiplier', 1),
    residual: r.num('residual_multiplier', 1),
    logitsScaling: r.num('logits_scaling', 1),
  };
}

/** What GraniteMoeConfig can turn on that this decoder does not run. */
function check(r: HfConfigReader): void {
  const pe = r.value('position_embedding_type');
  if (pe !== undefined && pe !== null && pe !== 'rope') throw r.error('position_embedding_type', `expected "rope", got ${JSON.stringify(pe)}`);
  // GraniteMoeAttention sizes heads as hidden_size / num_attention_heads, whatever head_dim says.
  const d = r.int('hidden_size');
  const heads = r.int('num_attention_heads');
  const hd = r.value('head_dim');
  if (d % heads !== 0) throw r.error('num_attention_heads', `expected a divisor of hidden_size (${d}), got ${heads}`);
  if (hd !== undefined && hd !== null && hd !== d / heads) throw r.error('head_dim', `expected hidden_size / num_attention_heads (${d / heads}) or none, got ${JSON.stringify(hd)}`);
  const shared = r.value('shared_intermediate_size');
  if (typeof shared === 'number' && shared > 0) throw r.error('shared_intermediate_size', `expected 0 (a shared expert is granitemoeshared, not supported), got ${shared}`);
}

/** The Granite-MoE module. */
export const graniteMoe = defineArchitecture({
  modelType: 'granitemoe',
  modelling: 'modeling_granitemoe',
  block: { norm: 'rms', attention: 'causal-gqa', rotary: 'rotate-half', qkvBias: false, qkNorm: 'none', feedForward: 'moe', sharedExpert: 'none', routerNormalisation: 'always', multipliers: 'mup' },
  hf: {
    className: 'GraniteMoeForCausalLM',
    defaults: { rmsNormEps: 1e-6, ropeTheta: 10000 },
    expertCountKey: 'num_local_experts',
    moe: (r, d) => ({
      hiddenSize: d,
      numExperts: r.int('num_local_experts'),
      topK: r.int('num_experts_per_tok'),
      expert: { kind: 'swiglu', ffnSize: r.int('intermediate_size') },
      // softmax over the top-k logits == softmax over all, renormalised over the top k.
      router: topkSoftmaxRouter(true),
    }),
    check,
    multipliers,
    // Multipliers away from 1 (as the real models' are) so that leaving one out shows.
    tinyKeys: (s) => ({
      num_local_experts: s.numExperts,
      intermediate_size: s.ffnSize,
      embedding_multiplier: 12,
      attention_multiplier: 0.125,
      residual_multiplier: 0.375,
      logits_scaling: 6,
      attention_bias: false,
      position_embedding_type: 'rope',
    }),
  },
  gguf: { architecture: 'granitemoe', permutedRotary: true, renormalize: true },
  names: { hf: LLAMA_HF_NAMES, hfMoeScheme: 'granitemoe-fused', gguf: LLAMA_GGUF_NAMES, hfMoe: GRANITE_MOE_LAYOUT },
});
