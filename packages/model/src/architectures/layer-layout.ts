/**
 * An architecture's own layout of whole decoder layers, for checkpoints whose layers the
 * Llama-style readers cannot describe (DeepSeek-V2: latent attention, dense-then-MoE). One
 * layout per side (Hugging Face safetensors, GGUF): which tensors a layer stores with the
 * shapes the config gives them, how they become the decoder's weights, and back. Names are
 * relative to the layer prefix (`model.layers.N.` / `blk.N.`) and complete (`.weight` included).
 */
import type { DType, HostTensor } from '@moe-runtime/core';
import type { ModelConfig } from '../model-config.js';
import type { TensorUse } from '../model-source.js';
import type { DecoderLayerWeights } from '../model-weights.js';

/** One tensor a layer stores. */
export interface LayerTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly use: TensorUse;
  /** A weight matrix that a load-time dtype converts (norms and routers are not). */
  readonly convertible: boolean;
  /** A stacked tensor prepared as this many slices (`[E, F, D]` experts). */
  readonly slices?: number;
  /**
   * The format the decoder holds it in when that is not the stored (or converted) one, so the
   * memory check counts what is held: latent attention's absorbed kv_b_proj is prepared in float32.
   */
  readonly heldAs?: DType;
  /**
   * The shape it is held in when that differs from the stored one: gpt-oss's mxfp4
   * `gate_up_proj_blocks` `[E, 2F, D/32, 16]` (U8) is held as `[2E, F, D]` mxfp4 gate and up
   * projections. With {@link heldAs}; `slices` then counts slices of this shape.
   */
  readonly heldShape?: readonly number[];
  /**
   * Stored as raw bytes of this safetensors dtype (read with `readBytes`, no float decoding);
   * a file holding another dtype is refused naming the tensor.
   */
  readonly rawDType?: 'U8';
  /**
   * Held inside another tensor of the layout (relative name), whose planned bytes count it:
   * mxfp4 `*_scales` are the E8M0 byte of each 17-byte block planned with `*_blocks`. Checked
   * against the file, not planned on its own.
   */
  readonly partOf?: string;
}

/** Reads one tensor by its relative name (the caller adds the prefix and any conversion). */
export type LayerTensorReader = (name: string) => Promise<HostTensor>;

/** Whether the checkpoint stores a tensor of layer i (relative name), for layouts with variants. */
export type LayerTensorProbe = (name: string) => boolean;

/** One side's layout of the architecture's layers. */
export interface LayerLayout {
  /** Every tensor layer `i` stores (`has` tells a layout's variants apart, e.g. an older converter's). */
  tensors(c: ModelConfig, i: number, has?: LayerTensorProbe): readonly LayerTensor[];
  /** Reads layer `i` into the decoder's weights. */
  read(read: LayerTensorReader, c: ModelConfig, i: number, has?: LayerTensorProbe): Promise<DecoderLayerWeights>;
  /** The stored tensors of layer `i` (what `read` undoes), by relative name. */
  write(c: ModelConfig, w: DecoderLayerWeights, i: number): Map<string, HostTensor>;
}
