/**
 * A KV cache held as onnxruntime tensors: per layer one float32 key and one value buffer in
 * GroupQueryAttention's BNSH layout `[1, numKvHeads, capacity, headDim]`, allocated once for the
 * whole capacity and wrapped once in `ort.Tensor`s that every `session.run` binds as both the
 * `past_*` input and the `present_*` output, so onnxruntime writes the new rows in place and
 * nothing is copied between calls.
 */
import { BackendError, describeKvLayout, kvCacheBytes, ShapeError, validateKvCacheSpec, type KvCache, type KvCacheSpec } from '@moe-runtime/core';
import { Tensor } from 'onnxruntime-node';

/** One layer's key and value tensors. */
export interface KvLayerTensors {
  readonly keys: Tensor;
  readonly values: Tensor;
}

/** A float32 KV cache whose storage onnxruntime reads and writes directly. */
export class OnnxKvCache implements KvCache {
  readonly spec: KvCacheSpec;
  private committed = 0;
  /** Positions written in each layer by the current (or last) step: guards the layer order as the host cache does. */
  private readonly written: Int32Array;
  private layers: KvLayerTensors[];
  private keyData: Float32Array[];
  private valueData: Float32Array[];
  private isDisposed = false;

  constructor(spec: KvCacheSpec) {
    validateKvCacheSpec(spec);
    if (spec.format !== 'float32' || spec.keyDim !== spec.valueDim) throw new BackendError(`an onnxruntime KV cache holds float32 keys and values of one head size, not ${describeKvLayout(spec)}`);
    this.spec = Object.freeze({ ...spec });
    this.written = new Int32Array(spec.numLayers);
    const { numLayers, numKvHeads, keyDim, capacity } = spec;
    const dims = [1, numKvHeads, capacity, keyDim];
    try {
      this.keyData = Array.from({ length: numLayers }, () => new Float32Array(numKvHeads * capacity * keyDim));
      this.valueData = Array.from({ length: numLayers }, () => new Float32Array(numKvHeads * capacity * keyDim));
    } catch (err) {
      // A RangeError from a typed array too large for this engine or this machine.
      throw new BackendError(`onnxruntime KV cache of ${kvCacheBytes(spec)} bytes (${describeKvLayout(spec)}, ${capacity} positions) could not be allocated: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.layers = this.keyData.map((k, l) => ({ keys: new Tensor('float32', k, dims), values: new Tensor('float32', this.valueData[l], dims) }));
  }

  get length(): number {
    return this.committed;
  }

  get bytes(): number {
    return this.isDisposed ? 0 : kvCacheBytes(this.spec);
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    // Drop the buffers so the memory goes back even while the handle is still referenced.
    this.layers = [];
    this.keyData = [];
    this.valueData = [];
  }

  /**
   * The tensors of `layer` for a step writing positions `position .. position+rows-1`: layer
   * l > 0 must follow layer l-1 of the same step (the host cache's rule and message).
   */
  beginWrite(layer: number, position: number, rows: number): KvLayerTensors {
    if (layer > 0 && this.written[layer - 1] !== position + rows) {
      throw new ShapeError(`attend: layer ${layer} of positions ${position}..${position + rows - 1} came before layer ${layer - 1} of them; attend a step's layers in order 0 .. ${this.spec.numLayers - 1}`);
    }
    return this.layers[layer];
  }

  /** Ends the step of `layer` at `end` positions: the length advances after the last layer. */
  commit(layer: number, end: number): void {
    this.written[layer] = end;
    if (layer === this.spec.numLayers - 1) this.committed = end;
  }

  /** The stored keys and values of one position of `layer`, `[numKvHeads * headDim]` each (position-major, as `attend` takes them). */
  readRow(layer: number, position: number): { readonly keys: Float32Array; readonly values: Float32Array } {
    const { numKvHeads, keyDim: d, capacity } = this.spec;
    const keys = new Float32Array(numKvHeads * d);
    const values = new Float32Array(numKvHeads * d);
    for (let h = 0; h < numKvHeads; h++) {
      const at = (h * capacity + position) * d;
      keys.set(this.keyData[layer].subarray(at, at + d), h * d);
      values.set(this.valueData[layer].subarray(at, at + d), h * d);
    }
    return { keys, values };
  }

  /** Copies positions `0 .. positions-1` of every layer and head into `dst`, which then holds exactly them. */
  copyPrefixTo(dst: OnnxKvCache, positions: number): void {
    const { numKvHeads, keyDim: d } = this.spec;
    const n = positions * d;
    for (let l = 0; l < this.spec.numLayers; l++) {
      for (let h = 0; h < numKvHeads; h++) {
        const from = h * this.spec.capacity * d;
        const to = h * dst.spec.capacity * d;
        dst.keyData[l].set(this.keyData[l].subarray(from, from + n), to);
        dst.valueData[l].set(this.valueData[l].subarray(from, from + n), to);
      }
    }
    dst.committed = positions;
    dst.written.fill(positions);
  }
}
