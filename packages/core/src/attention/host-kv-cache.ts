/** The KV cache of the host attention: typed arrays in the cache's format, allocated once. */
import { BackendError } from '../errors.js';
import { describeKvLayout, kvCacheBytes, validateKvCacheSpec, type KvCache, type KvCacheSpec } from './kv-cache.js';
import { createRowStore, type KvRowStore, type KvTile } from './kv-row-store.js';
import { KvStepOrder } from './kv-step-order.js';

/** A KV cache in host memory (the reference, and the fallback of backends without `attend`). */
export class HostKvCache implements KvCache {
  readonly spec: KvCacheSpec;
  private readonly order: KvStepOrder;
  private keys: KvRowStore[];
  private values: KvRowStore[];
  private isDisposed = false;

  constructor(spec: KvCacheSpec) {
    validateKvCacheSpec(spec);
    this.spec = Object.freeze({ ...spec });
    this.order = new KvStepOrder(spec.numLayers);
    const { numLayers, numKvHeads, keyDim, valueDim, capacity, format } = spec;
    try {
      this.keys = Array.from({ length: numLayers }, () => createRowStore(format, numKvHeads, capacity, keyDim));
      this.values = Array.from({ length: numLayers }, () => createRowStore(format, numKvHeads, capacity, valueDim));
    } catch (err) {
      // A RangeError from a typed array too large for this engine or this machine.
      throw new BackendError(`host KV cache of ${kvCacheBytes(spec)} bytes (${describeKvLayout(spec)}, ${capacity} positions) could not be allocated: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  get length(): number {
    return this.order.length;
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
    // Drop the arrays so the memory goes back even while the handle is still referenced.
    this.keys = [];
    this.values = [];
  }

  /**
   * Writes `rows` rows of keys `[rows, numKvHeads * keyDim]` and values `[rows, numKvHeads * valueDim]`
   * (from row `row0` of `k` / `v`) at positions `position ..` of `layer`. Layer l > 0 must follow
   * layer l-1 of the same step (same position and rows).
   */
  write(layer: number, position: number, rows: number, k: Float32Array, v: Float32Array, row0: number): void {
    const { numKvHeads: kvh, keyDim, valueDim } = this.spec;
    this.order.check(layer, position, rows);
    const ks = this.keys[layer];
    const vs = this.values[layer];
    for (let i = 0; i < rows; i++) {
      for (let h = 0; h < kvh; h++) {
        ks.write(h, position + i, k, ((row0 + i) * kvh + h) * keyDim);
        vs.write(h, position + i, v, ((row0 + i) * kvh + h) * valueDim);
      }
    }
    this.order.wrote(layer, position + rows);
  }

  /** Ends the step of `layer` at `end` positions: the length advances after the last layer. */
  commit(layer: number, end: number): void {
    this.order.commit(layer, end);
  }

  /** Decoded keys of positions `from .. from+count-1` of one KV head. */
  keyTile(layer: number, head: number, from: number, count: number): KvTile {
    return this.keys[layer].tile(head, from, count);
  }

  /** Decoded values of positions `from .. from+count-1` of one KV head. */
  valueTile(layer: number, head: number, from: number, count: number): KvTile {
    return this.values[layer].tile(head, from, count);
  }

  /** Copies positions `0 .. positions-1` of every layer into `dst`, which then holds exactly them. */
  copyPrefixTo(dst: HostKvCache, positions: number): void {
    for (let l = 0; l < this.spec.numLayers; l++) {
      this.keys[l].copyPrefix(dst.keys[l], positions);
      this.values[l].copyPrefix(dst.values[l], positions);
    }
    dst.order.holdExactly(positions);
  }

  /** Keys `[count, numKvHeads, keyDim]` (position-major) of a layer, decoded: for tests and debugging. */
  readKeys(layer: number, from: number, count: number): Float32Array {
    return this.read(this.keys[layer], this.spec.keyDim, from, count);
  }

  /** Values `[count, numKvHeads, valueDim]` (position-major) of a layer, decoded. */
  readValues(layer: number, from: number, count: number): Float32Array {
    return this.read(this.values[layer], this.spec.valueDim, from, count);
  }

  private read(store: KvRowStore, dim: number, from: number, count: number): Float32Array {
    const kvh = this.spec.numKvHeads;
    const out = new Float32Array(count * kvh * dim);
    for (let h = 0; h < kvh; h++) {
      const t = store.tile(h, from, count);
      for (let i = 0; i < count; i++) out.set(t.data.subarray(t.offset + i * dim, t.offset + (i + 1) * dim), (i * kvh + h) * dim);
    }
    return out;
  }
}
