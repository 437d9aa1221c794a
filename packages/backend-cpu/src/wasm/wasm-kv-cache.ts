/**
 * A KV cache in one shard of the WebAssembly engine, allocated once for its whole capacity.
 * Layer l's keys start at `base + l * layerBytes`, its values `kvHeads * capacity` key rows
 * later; within each, rows are head-major (`[kvHeads][capacity]`), so one head's keys over
 * consecutive positions are contiguous and a tile of them decodes in one pass (the kernel's
 * layout, assembly/attention.ts). Rows are stored in the cache's format exactly as core's host
 * cache stores them (float32 as is, float16 rounded to nearest even, q8_0 blocks of 32 per
 * head row), so both see the same stored values.
 */
import { encodeValues, kvCacheBytes, KvStepOrder, rowBytes, ShapeError, type KvCache, type KvCacheSpec } from '@moe-runtime/core';
import type { Shard } from './shard.js';

/** A block of a shard that one cache owns. */
export interface ShardBlock {
  readonly shard: Shard;
  /** Byte address of the block in the shard. */
  readonly ptr: number;
  /** Returns the block to the shard's allocator. */
  free(): void;
}

/** A KV cache resident in a WebAssembly memory of the cpu backend. */
export class WasmKvCache implements KvCache {
  readonly spec: KvCacheSpec;
  /** Bytes of one stored key row and value row (one head, one position). */
  readonly keyRowBytes: number;
  readonly valueRowBytes: number;
  private readonly order: KvStepOrder;
  private block: ShardBlock | undefined;

  constructor(
    spec: KvCacheSpec,
    /** The engine attention that made it (ownership checks). */
    readonly owner: object,
    block: ShardBlock,
  ) {
    this.spec = Object.freeze({ ...spec });
    this.keyRowBytes = rowBytes(spec.format, spec.keyDim);
    this.valueRowBytes = rowBytes(spec.format, spec.valueDim);
    this.order = new KvStepOrder(spec.numLayers);
    this.block = block;
  }

  get length(): number {
    return this.order.length;
  }

  get bytes(): number {
    return this.block ? kvCacheBytes(this.spec) : 0;
  }

  get disposed(): boolean {
    return this.block === undefined;
  }

  dispose(): void {
    this.block?.free();
    this.block = undefined;
  }

  /** The shard the cache lives in (only called on a live cache: the backend checks first). */
  get shard(): Shard {
    return this.live().shard;
  }

  /** Byte address of layer `layer`'s keys (head 0, position 0). */
  keys(layer: number): number {
    const { numKvHeads, capacity } = this.spec;
    return this.live().ptr + layer * numKvHeads * capacity * (this.keyRowBytes + this.valueRowBytes);
  }

  /** Byte address of layer `layer`'s values (head 0, position 0). */
  values(layer: number): number {
    return this.keys(layer) + this.spec.numKvHeads * this.spec.capacity * this.keyRowBytes;
  }

  /**
   * Throws (before anything is written) unless a step's layer `layer` may write positions
   * `position .. position+rows-1`: layer l > 0 follows layer l-1 of the same step.
   */
  checkOrder(layer: number, position: number, rows: number): void {
    this.order.check(layer, position, rows);
  }

  /**
   * Stores `rows` rows of keys `[rows, numKvHeads * keyDim]` and values (from row `row0` of `k`
   * / `v`) at positions `position ..` of `layer`, encoded in the cache's format.
   */
  write(layer: number, position: number, rows: number, k: Float32Array, v: Float32Array, row0: number): void {
    const { numKvHeads: kvh, keyDim, valueDim } = this.spec;
    this.store(this.keys(layer), this.keyRowBytes, k.subarray(row0 * kvh * keyDim, (row0 + rows) * kvh * keyDim), rows, keyDim, position);
    this.store(this.values(layer), this.valueRowBytes, v.subarray(row0 * kvh * valueDim, (row0 + rows) * kvh * valueDim), rows, valueDim, position);
    this.order.wrote(layer, position + rows);
  }

  /** Ends the step of `layer` at `end` positions: the length advances after the last layer. */
  commit(layer: number, end: number): void {
    this.order.commit(layer, end);
  }

  /** Copies positions `0 .. positions-1` of every layer into `dst` (same layout), which then holds exactly them. */
  copyPrefixTo(dst: WasmKvCache, positions: number): void {
    const { numLayers, numKvHeads } = this.spec;
    const from = this.shard.u8();
    const to = dst.shard.u8();
    for (let l = 0; l < numLayers; l++) {
      for (let h = 0; h < numKvHeads; h++) {
        for (const [src, out, rb] of [
          [this.keys(l), dst.keys(l), this.keyRowBytes],
          [this.values(l), dst.values(l), this.valueRowBytes],
        ] as const) {
          const s = src + h * this.spec.capacity * rb;
          to.set(from.subarray(s, s + positions * rb), out + h * dst.spec.capacity * rb);
        }
      }
    }
    dst.order.holdExactly(positions);
  }

  /** Encodes `rows x kvHeads` head rows of `dim` values and scatters them to their head-major places. */
  private store(base: number, rb: number, data: Float32Array, rows: number, dim: number, position: number): void {
    const { numKvHeads: kvh, capacity, format } = this.spec;
    const bytes = format === 'float32' ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : encodeValues(format, data, rows * kvh, dim);
    const u8 = this.shard.u8();
    for (let r = 0; r < rows; r++) {
      for (let h = 0; h < kvh; h++) {
        const o = (r * kvh + h) * rb;
        u8.set(bytes.subarray(o, o + rb), base + (h * capacity + position + r) * rb);
      }
    }
  }

  private live(): ShardBlock {
    if (!this.block) throw new ShapeError('this KV cache has been disposed');
    return this.block;
  }
}
