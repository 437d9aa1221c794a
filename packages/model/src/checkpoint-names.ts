/** Hugging Face tensor names of the non-MoE parts of a decoder (shared by every supported type). */
import type { ModelType } from './model-config.js';

/** Names used by the loader and the tiny-checkpoint writer. */
export const CHECKPOINT_NAMES = {
  embed: 'model.embed_tokens.weight',
  finalNorm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  layerPrefix: (i: number): string => `model.layers.${i}.`,
  inputNorm: 'input_layernorm.weight',
  postAttentionNorm: 'post_attention_layernorm.weight',
  proj: (p: 'q' | 'k' | 'v' | 'o', kind: 'weight' | 'bias' = 'weight'): string => `self_attn.${p}_proj.${kind}`,
  qNorm: 'self_attn.q_norm.weight',
  kNorm: 'self_attn.k_norm.weight',
} as const;

/** core's MoE naming scheme of each model type. */
export function moeScheme(type: ModelType): string {
  return type === 'mixtral' ? 'mixtral' : type === 'olmoe' ? 'olmoe' : type === 'qwen2_moe' ? 'qwen2-moe' : 'qwen3-moe';
}
