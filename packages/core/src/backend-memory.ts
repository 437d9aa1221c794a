/**
 * Memory accounting for backends that hold weights in a form whose size is a fixed multiple of
 * the values (decoded to float32, plus whatever packed copy the library keeps): bytes per value
 * by storage format, and the bytes of every prepared handle counted until it is disposed. The
 * model loader checks a model against these figures before it allocates anything.
 */
import type { BackendMemory, LinearWeights } from './backend.js';
import type { ExpertGroup, ExpertWeights } from './expert.js';
import type { DType } from './formats/block-formats.js';
import type { HostTensor } from './tensor.js';

/** Bytes a backend holds per weight value, by the format the weight is stored in. */
export type BytesPerValue = (dtype: DType) => number;

function values(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A BackendMemory whose resident bytes are counted per prepared handle. */
export class ResidentBytes implements BackendMemory {
  private held = 0;

  constructor(
    private readonly bytesPerValue: BytesPerValue,
    /** The backend's own ceiling, if it has one. */
    readonly limitBytes?: number,
  ) {}

  residentBytesFor(dtype: DType, shape: readonly number[]): number {
    return Math.ceil(values(shape) * this.bytesPerValue(dtype));
  }

  get residentBytes(): number {
    return this.held;
  }

  /** Bytes of an expert group's weights once prepared. */
  groupBytes(group: ExpertGroup): number {
    return group.experts.reduce((s, e) => s + this.expertBytes(e), 0);
  }

  /** Bytes of a linear layer's weights once prepared. */
  linearBytes(weights: LinearWeights): number {
    return this.tensorBytes(weights.weight) + this.tensorBytes(weights.bias);
  }

  /** Counts `bytes` for `handle` until its first dispose(); returns the handle. */
  track<T extends { dispose(): void }>(handle: T, bytes: number): T {
    this.held += bytes;
    const dispose = handle.dispose.bind(handle);
    let released = false;
    handle.dispose = () => {
      if (!released) {
        released = true;
        this.held -= bytes;
      }
      dispose();
    };
    return handle;
  }

  private expertBytes(e: ExpertWeights): number {
    return [e.gate, e.up, e.down, e.gateBias, e.upBias, e.downBias].reduce((s, t) => s + this.tensorBytes(t), 0);
  }

  private tensorBytes(t: HostTensor | undefined): number {
    return t ? this.residentBytesFor(t.dtype, t.shape) : 0;
  }
}
