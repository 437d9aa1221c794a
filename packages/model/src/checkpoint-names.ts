/** Hugging Face tensor names of a model type, from its architecture module. */
import { architectureOf, type ModelType } from './architectures/registry.js';
import { LLAMA_HF_NAMES, type HfTensorNames } from './architectures/llama-style-names.js';

/** The Llama-style Hugging Face names of the non-MoE tensors (every built-in architecture uses them). */
export const CHECKPOINT_NAMES = LLAMA_HF_NAMES;

/** The Hugging Face names of the non-MoE tensors of a model type. */
export function hfTensorNames(type: ModelType): HfTensorNames {
  return architectureOf(type).names.hf;
}

/** core's MoE naming scheme of each model type. */
export function moeScheme(type: ModelType): string {
  return architectureOf(type).names.hfMoeScheme;
}
