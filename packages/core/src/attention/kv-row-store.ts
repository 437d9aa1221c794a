/**
 * Storage of one layer's keys (or values) in a host KV cache, in one of the cache formats.
 * Rows are head-major, `[numKvHeads][capacity][dim]`, so one head's keys over consecutive
 * positions are contiguous: attention scans them tile by tile, and a tile of an f16 or q8_0
 * cache decodes in one pass (every decoded value is exact in float32: an f16 value, or an f16
 * scale times an int8 code, at most 18 significant bits).
 */
import { DTypeError } from '../errors.js';
import { float16ToFloat32, float32ToFloat16 } from '../half-precision.js';
import { decodeValues } from '../formats/block-decode.js';
import { encodeValues } from '../formats/block-encode.js';
import { rowBytes } from '../formats/block-formats.js';
import type { KvCacheFormat } from './kv-cache.js';

/** Decoded rows of a tile: row i's value c is `data[offset + i * dim + c]`. */
export interface KvTile {
  readonly data: Float32Array;
  readonly offset: number;
}

/** One layer's keys or values for every KV head and position. */
export interface KvRowStore {
  readonly bytes: number;
  /** Stores row `(head, position)` from `src[srcOffset .. srcOffset + dim)`. */
  write(head: number, position: number, src: Float32Array, srcOffset: number): void;
  /** Rows `from .. from+count-1` of `head`, decoded. Valid until the next `tile` call on this store. */
  tile(head: number, from: number, count: number): KvTile;
  /** Copies positions `0 .. positions-1` of every head into `dst` (same format and dim). */
  copyPrefix(dst: KvRowStore, positions: number): void;
}

/** float16 code -> float32 value, built on first use (256 KiB) so decoding a tile is one load a value. */
let f16Table: Float32Array | undefined;
function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = float16ToFloat32(h);
  }
  return f16Table;
}

/** Largest magnitude a float16 cache stores without rounding to infinity. */
const F16_LIMIT = 65520;
/** Largest magnitude a q8_0 block holds: its f16 scale amax / 127 must stay finite. */
const Q8_LIMIT = 127 * 65504;

/**
 * Throws a DTypeError naming the first value of `data` (rows of `width`) that `format` cannot
 * store: above 65504 (rounding to infinity) in float16, or making a q8_0 block's f16 scale
 * overflow. Called on a whole call's keys and values before anything is written.
 */
export function checkStorable(format: KvCacheFormat, data: Float32Array, what: string, width: number): void {
  if (format === 'float32') return;
  const limit = format === 'float16' ? F16_LIMIT : Q8_LIMIT;
  for (let i = 0; i < data.length; i++) {
    if (Math.abs(data[i]) >= limit) {
      throw new DTypeError(`${what}[${Math.floor(i / width)}, ${i % width}] is ${data[i]}, outside what a ${format} KV cache stores (|value| < ${limit}); use a float32 cache`);
    }
  }
}

class Float32Rows implements KvRowStore {
  private readonly data: Float32Array;
  constructor(
    private readonly heads: number,
    private readonly capacity: number,
    private readonly dim: number,
  ) {
    this.data = new Float32Array(heads * capacity * dim);
  }
  get bytes(): number {
    return this.data.byteLength;
  }
  write(head: number, position: number, src: Float32Array, srcOffset: number): void {
    this.data.set(src.subarray(srcOffset, srcOffset + this.dim), (head * this.capacity + position) * this.dim);
  }
  tile(head: number, from: number): KvTile {
    return { data: this.data, offset: (head * this.capacity + from) * this.dim };
  }
  copyPrefix(dst: KvRowStore, positions: number): void {
    const to = dst as Float32Rows;
    const n = positions * this.dim;
    for (let h = 0; h < this.heads; h++) to.data.set(this.data.subarray(h * this.capacity * this.dim, h * this.capacity * this.dim + n), h * to.capacity * this.dim);
  }
}

class Float16Rows implements KvRowStore {
  private readonly data: Uint16Array;
  private scratch = new Float32Array(0);
  constructor(
    private readonly heads: number,
    private readonly capacity: number,
    private readonly dim: number,
  ) {
    this.data = new Uint16Array(heads * capacity * dim);
  }
  get bytes(): number {
    return this.data.byteLength;
  }
  write(head: number, position: number, src: Float32Array, srcOffset: number): void {
    const o = (head * this.capacity + position) * this.dim;
    for (let c = 0; c < this.dim; c++) this.data[o + c] = float32ToFloat16(src[srcOffset + c]);
  }
  tile(head: number, from: number, count: number): KvTile {
    const n = count * this.dim;
    if (this.scratch.length < n) this.scratch = new Float32Array(n);
    const table = float16Table();
    const o = (head * this.capacity + from) * this.dim;
    for (let i = 0; i < n; i++) this.scratch[i] = table[this.data[o + i]];
    return { data: this.scratch, offset: 0 };
  }
  copyPrefix(dst: KvRowStore, positions: number): void {
    const to = dst as Float16Rows;
    const n = positions * this.dim;
    for (let h = 0; h < this.heads; h++) to.data.set(this.data.subarray(h * this.capacity * this.dim, h * this.capacity * this.dim + n), h * to.capacity * this.dim);
  }
}

class Q8Rows implements KvRowStore {
  private readonly data: Uint8Array;
  private readonly rowBytes: number;
  private scratch = new Float32Array(0);
  constructor(
    private readonly heads: number,
    private readonly capacity: number,
    private readonly dim: number,
  ) {
    this.rowBytes = rowBytes('q8_0', dim);
    this.data = new Uint8Array(heads * capacity * this.rowBytes);
  }
  get bytes(): number {
    return this.data.byteLength;
  }
  write(head: number, position: number, src: Float32Array, srcOffset: number): void {
    // One head row is dim / 32 whole blocks, so it quantizes on its own: a row's codes never
    // depend on its neighbours, which keeps results independent of how a prompt is chunked.
    const blocks = encodeValues('q8_0', src.subarray(srcOffset, srcOffset + this.dim), 1, this.dim);
    this.data.set(blocks, (head * this.capacity + position) * this.rowBytes);
  }
  tile(head: number, from: number, count: number): KvTile {
    const n = count * this.dim;
    if (this.scratch.length < n) this.scratch = new Float32Array(n);
    decodeValues('q8_0', this.data, (head * this.capacity + from) * this.rowBytes, n, this.scratch);
    return { data: this.scratch, offset: 0 };
  }
  copyPrefix(dst: KvRowStore, positions: number): void {
    const to = dst as Q8Rows;
    const n = positions * this.rowBytes;
    for (let h = 0; h < this.heads; h++) to.data.set(this.data.subarray(h * this.capacity * this.rowBytes, h * this.capacity * this.rowBytes + n), h * to.capacity * this.rowBytes);
  }
}

/** A row store of `format` for `heads` heads of `capacity` positions of `dim` values. */
export function createRowStore(format: KvCacheFormat, heads: number, capacity: number, dim: number): KvRowStore {
  switch (format) {
    case 'float32':
      return new Float32Rows(heads, capacity, dim);
    case 'float16':
      return new Float16Rows(heads, capacity, dim);
    case 'q8_0':
      return new Q8Rows(heads, capacity, dim);
  }
}
