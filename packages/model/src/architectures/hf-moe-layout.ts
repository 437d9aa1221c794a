/**
 * The Hugging Face tensors of one layer's MoE block, for an architecture whose layout no core
 * naming scheme describes (e.g. Granite's experts fused into `[E, 2F, D]` / `[E, D, F]`
 * tensors): which tensors a config implies, how they become core's per-expert weights, and
 * back. Names are relative to the layer prefix (`model.layers.N.`).
 */
import type { MoELayerConfig, MoEWeights, TensorSource, WritableTensor } from '@moe-runtime/core';
import type { HfModuleQuantization } from './hf-quantization.js';
import type { LayerTensor } from './layer-layout.js';

/**
 * One tensor of the layout, with the shape the config gives it (`convertible`: a weight
 * matrix a load-time dtype converts; `heldAs` / `heldShape` / `rawDType` / `partOf` as
 * {@link LayerTensor} says, for quantized stored forms such as mxfp4 blocks).
 */
export type HfMoeTensor = Omit<LayerTensor, 'use'>;

/**
 * An architecture's own Hugging Face MoE layout. `quantized` says which of the layer's modules
 * the checkpoint's `quantization_config` quantized (absent: none), so a layout with a quantized
 * stored form (gpt-oss's mxfp4 experts) picks its tensors by it.
 */
export interface HfMoeLayout {
  /** Every tensor one layer's MoE block stores. */
  tensors(moe: MoELayerConfig, quantized?: HfModuleQuantization): readonly HfMoeTensor[];
  /** Reads one layer's MoE block (under `prefix`) into core's weights. */
  read(src: TensorSource, prefix: string, moe: MoELayerConfig, quantized?: HfModuleQuantization): Promise<MoEWeights>;
  /** The stored tensors of core's weights, by name relative to the prefix (what a checkpoint writer writes). */
  write(moe: MoELayerConfig, weights: MoEWeights, quantized?: HfModuleQuantization): Map<string, WritableTensor>;
}
