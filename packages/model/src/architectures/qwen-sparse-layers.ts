/** A check the Qwen-MoE modules share: every layer sparse. */
import type { HfConfigReader } from './hf-config-reader.js';

/**
 * Qwen2-MoE and Qwen3-MoE can make some layers dense (`decoder_sparse_step`, `mlp_only_layers`);
 * the decoder runs MoE layers only, so such a config is refused.
 */
export function checkEveryLayerSparse(r: HfConfigReader): void {
  const step = r.value('decoder_sparse_step') ?? 1;
  const dense = r.value('mlp_only_layers');
  if (step !== 1 || (Array.isArray(dense) && dense.length > 0)) {
    throw r.error('decoder_sparse_step / mlp_only_layers', 'only models whose every layer is sparse (decoder_sparse_step 1, no mlp_only_layers) are supported');
  }
}
