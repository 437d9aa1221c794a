/**
 * The Hugging Face tensors of one layer's MoE block, for an architecture whose layout no core
 * naming scheme describes (e.g. Granite's experts fused into `[E, 2F, D]` / `[E, D, F]`
 * tensors): which tensors a config implies, how they become core's per-expert weights, and
 * back. Names are relative to the layer prefix (`model.layers.N.`).
 */
import type { HostTensor, MoELayerConfig, MoEWeights, TensorSource } from '@moe-runtime/core';

/** One tensor of the layout, with the shape the config gives it. */
export interface HfMoeTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** A weight matrix that a load-time dtype converts (experts: yes; routers: no). */
  readonly convertible: boolean;
}

/** An architecture's own Hugging Face MoE layout. */
export interface HfMoeLayout {
  /** Every tensor one layer's MoE block stores. */
  tensors(moe: MoELayerConfig): readonly HfMoeTensor[];
  /** Reads one layer's MoE block (under `prefix`) into core's weights. */
  read(src: TensorSource, prefix: string, moe: MoELayerConfig): Promise<MoEWeights>;
  /** The stored tensors of core's weights, by name relative to the prefix (what a checkpoint writer writes). */
  write(moe: MoELayerConfig, weights: MoEWeights): Map<string, HostTensor>;
}
