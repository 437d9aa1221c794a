/**
 * A KV cache whose buffers onnxruntime reads without a copy: per layer one key buffer
 * `[positions, numKvHeads, keyDim]` and one value buffer `[positions, numKvHeads, valueDim]` in
 * the cache's format (float32, or float16 as raw 16-bit codes, rounded to nearest even as the
 * host cache rounds them),
 * position-major (the layout `attend` takes its rows in, so a step's rows are one contiguous
 * copy, and the prefix a run reads is a view handed to `ort.Tensor` as it is). Allocated once,
 * for the capacity rounded up to a multiple of {@link KEY_BLOCK} (a run reads whole blocks).
 */
import { BackendError, describeKvLayout, float32ToFloat16, KvStepOrder, validateKvCacheSpec, type KvCache, type KvCacheSpec } from '@moe-runtime/core';
import { Tensor } from 'onnxruntime-node';
import { KEY_BLOCK } from './matmul-attention-graph.js';

/** The keys and values a run reads: positions 0 .. keys-1 of one layer, as tensors over the cache's buffers. */
export interface KvPrefix {
  readonly keys: Tensor;
  readonly values: Tensor;
}

/** `positions` rounded up to whole blocks of {@link KEY_BLOCK}: what a cache of that capacity allocates, and the keys a run reads. */
export function paddedCapacity(capacity: number): number {
  return Math.ceil(capacity / KEY_BLOCK) * KEY_BLOCK;
}

/** Storage of one layer's keys or values. */
type Rows = Float32Array | Uint16Array;

/** A float32 or float16 KV cache read by onnxruntime in place. */
export class OnnxKvCache implements KvCache {
  readonly spec: KvCacheSpec;
  /** Positions allocated: the capacity rounded up to whole key blocks. */
  readonly allocated: number;
  private readonly order: KvStepOrder;
  private keyData: Rows[];
  private valueData: Rows[];
  private isDisposed = false;

  constructor(spec: KvCacheSpec) {
    validateKvCacheSpec(spec);
    if (spec.format === 'q8_0') throw new BackendError(`an onnxruntime KV cache holds float32 or float16 keys and values, not ${describeKvLayout(spec)}`);
    this.spec = Object.freeze({ ...spec });
    this.order = new KvStepOrder(spec.numLayers);
    this.allocated = paddedCapacity(spec.capacity);
    const { numLayers, numKvHeads, keyDim, valueDim } = spec;
    try {
      const rows = (n: number): Rows => (spec.format === 'float16' ? new Uint16Array(n) : new Float32Array(n));
      this.keyData = Array.from({ length: numLayers }, () => rows(this.allocated * numKvHeads * keyDim));
      this.valueData = Array.from({ length: numLayers }, () => rows(this.allocated * numKvHeads * valueDim));
    } catch (err) {
      // A RangeError from a typed array too large for this engine or this machine.
      throw new BackendError(`onnxruntime KV cache of ${this.allocatedBytes()} bytes (${describeKvLayout(spec)}, ${spec.capacity} positions) could not be allocated: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  get length(): number {
    return this.order.length;
  }

  /** The bytes allocated: the capacity's, plus the positions rounding it up to a whole key block. */
  get bytes(): number {
    return this.isDisposed ? 0 : this.allocatedBytes();
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    // Drop the buffers so the memory goes back even while the handle is still referenced.
    this.keyData = [];
    this.valueData = [];
  }

  /**
   * Stores `rows` rows of keys `[rows, numKvHeads * keyDim]` and values at positions
   * `position ..` of `layer`. Layer l > 0 must follow layer l-1 of the same step (the host
   * cache's rule and message).
   */
  write(layer: number, position: number, rows: number, k: Float32Array, v: Float32Array): void {
    this.checkWrite(layer, position, rows);
    const { numKvHeads, keyDim, valueDim } = this.spec;
    store(this.keyData[layer], k, position * numKvHeads * keyDim);
    store(this.valueData[layer], v, position * numKvHeads * valueDim);
    this.order.wrote(layer, position + rows);
  }

  /** Throws (before anything is written) unless layer l > 0 follows layer l-1 of the same step (core's KvStepOrder). */
  checkWrite(layer: number, position: number, rows: number): void {
    this.order.check(layer, position, rows);
  }

  /** Positions `0 .. keys-1` of `layer` as tensors over the cache's own buffers (`keys` at most {@link allocated}). */
  prefix(layer: number, keys: number): KvPrefix {
    const { numKvHeads: h, keyDim, valueDim } = this.spec;
    return { keys: tensor(this.keyData[layer].subarray(0, keys * h * keyDim), [keys, h, keyDim]), values: tensor(this.valueData[layer].subarray(0, keys * h * valueDim), [keys, h, valueDim]) };
  }

  /** Ends the step of `layer` at `end` positions: the length advances after the last layer. */
  commit(layer: number, end: number): void {
    this.order.commit(layer, end);
  }

  /** Copies positions `0 .. positions-1` of every layer into `dst`, which then holds exactly them. */
  copyPrefixTo(dst: OnnxKvCache, positions: number): void {
    const { numKvHeads: h, keyDim, valueDim } = this.spec;
    for (let l = 0; l < this.spec.numLayers; l++) {
      dst.keyData[l].set(this.keyData[l].subarray(0, positions * h * keyDim));
      dst.valueData[l].set(this.valueData[l].subarray(0, positions * h * valueDim));
    }
    dst.order.holdExactly(positions);
  }

  private allocatedBytes(): number {
    const { numLayers, numKvHeads, keyDim, valueDim, format } = this.spec;
    return numLayers * this.allocated * numKvHeads * (keyDim + valueDim) * (format === 'float16' ? 2 : 4);
  }
}

/** Writes float32 values at `at`: as they are, or rounded to float16 codes (nearest even, as the host cache). */
function store(dst: Rows, src: Float32Array, at: number): void {
  if (dst instanceof Float32Array) {
    dst.set(src, at);
    return;
  }
  for (let i = 0; i < src.length; i++) dst[at + i] = float32ToFloat16(src[i]);
}

function tensor(data: Rows, dims: readonly number[]): Tensor {
  return data instanceof Float32Array ? new Tensor('float32', data, dims) : new Tensor('float16', data, dims);
}
