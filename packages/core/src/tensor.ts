/**
 * Host tensors: a storage format, a shape and the stored data in row-major order. Compute is
 * float32; float16, bfloat16 and ggml's block formats (`q8_0`, `q4_k`, ...) exist for stored
 * weights, which a backend either computes on directly or decodes once when it prepares them.
 * Block formats store whole blocks along the last dimension, exactly as GGUF does, so `data`
 * holds a file's bytes unchanged.
 */
import { DTypeError, ShapeError } from './errors.js';
import { decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from './half-precision.js';
import { decodeValues } from './formats/block-decode.js';
import { encodeValues } from './formats/block-encode.js';
import { checkRowLength, DTYPES, isBlockFormat, isDType, rowBytes, storageBytes, type BlockFormat, type DType } from './formats/block-formats.js';

export { DTYPES, dtypeBytes, type DType } from './formats/block-formats.js';

/** The typed array that backs each dtype (half types are raw 16-bit patterns, block formats raw bytes). */
export type DTypeStorage = { float32: Float32Array; float16: Uint16Array; bfloat16: Uint16Array } & { [F in BlockFormat]: Uint8Array };

/** Product of a shape's dimensions. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Formats a shape as `[a, b]` for messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function storageClass(dtype: DType): typeof Float32Array | typeof Uint16Array | typeof Uint8Array {
  return dtype === 'float32' ? Float32Array : dtype === 'float16' || dtype === 'bfloat16' ? Uint16Array : Uint8Array;
}

/**
 * Reads bytes of a tensor's stored data on demand: `out.length` bytes starting `offset` bytes
 * into the data (a checkpoint reader over an open file). Synchronous, so that a backend can
 * read a weight straight into its own memory while it prepares it.
 */
export type TensorBytesReader = (out: Uint8Array, offset: number) => void;

/** Where a deferred tensor's bytes are: a reader and the tensor's first byte in it. */
interface DeferredBytes {
  readonly read: TensorBytesReader;
  readonly offset: number;
}

/** A typed array of `dtype`'s storage over `buffer`. */
function storageOver<D extends DType>(dtype: D, buffer: ArrayBuffer): DTypeStorage[D] {
  const Storage = storageClass(dtype);
  return new Storage(buffer) as DTypeStorage[D];
}

/**
 * A dense row-major tensor on the host. Its data is in memory, or deferred: read from a
 * checkpoint when first used, or copied by {@link copyBytesTo} straight into a backend's memory
 * without a host copy ever existing (what keeps loading a GGUF file from touching every page twice).
 */
export class HostTensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  private stored?: DTypeStorage[D];
  private readonly deferred?: DeferredBytes;

  constructor(dtype: D, shape: readonly number[], data: DTypeStorage[D]);
  /** @internal a deferred tensor (see {@link HostTensor.deferred}). */
  constructor(dtype: D, shape: readonly number[], data: DTypeStorage[D], deferredBytes: number, deferred: DeferredBytes);
  constructor(dtype: D, shape: readonly number[], data: DTypeStorage[D], deferredBytes?: number, deferred?: DeferredBytes) {
    if (!isDType(dtype)) {
      throw new DTypeError(`unknown dtype '${String(dtype)}'; expected one of ${DTYPES.join(', ')}`);
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new ShapeError(`shape ${formatShape(shape)} has a dimension that is not a non-negative integer`);
      }
    }
    const expectedArray = storageClass(dtype);
    if (!(data instanceof expectedArray)) {
      throw new DTypeError(`a ${dtype} tensor needs a ${expectedArray.name}, got ${(data as object)?.constructor?.name ?? typeof data}`);
    }
    if (isBlockFormat(dtype)) {
      if (shape.length === 0) throw new ShapeError(`a ${dtype} tensor needs at least one dimension (blocks run along the last one)`);
      checkRowLength(dtype, shape[shape.length - 1], `shape ${formatShape(shape)}`);
      const bytes = storageBytes(dtype, shape);
      const have = deferred ? deferredBytes! : data.byteLength;
      if (have !== bytes) throw new ShapeError(`shape ${formatShape(shape)} in ${dtype} needs ${bytes} bytes, data has ${have}`);
    } else if (!deferred && data.length !== shapeSize(shape)) {
      throw new ShapeError(`shape ${formatShape(shape)} needs ${shapeSize(shape)} elements, data has ${data.length}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    if (deferred) this.deferred = deferred;
    else this.stored = data;
  }

  /**
   * A tensor whose bytes are read by `read` when first needed (its {@link data}), or copied
   * by {@link copyBytesTo} without ever being held on the host. `read` must stay usable until
   * the tensor has been consumed (a checkpoint stays open while a model loads).
   */
  static deferred<D extends DType>(dtype: D, shape: readonly number[], read: TensorBytesReader, offset = 0): HostTensor<D> {
    // Validate dtype and shape through the constructor on an empty view, then drop it.
    return new HostTensor(dtype, shape, storageOver(dtype, new ArrayBuffer(0)), storageBytes(dtype, shape), { read, offset });
  }

  /** The stored data: row-major values, raw half-precision bits, or raw blocks. A deferred tensor is read now, once. */
  get data(): DTypeStorage[D] {
    if (this.stored === undefined) {
      const buffer = new ArrayBuffer(this.byteLength);
      this.deferred!.read(new Uint8Array(buffer), this.deferred!.offset);
      this.stored = storageOver(this.dtype, buffer);
    }
    return this.stored;
  }

  /** Whether the data is in memory (false for a deferred tensor not yet read). */
  get resident(): boolean {
    return this.stored !== undefined;
  }

  /**
   * Copies the stored bytes into `out` (exactly {@link byteLength} bytes): for a deferred
   * tensor straight from its source, with no host copy made or kept.
   */
  copyBytesTo(out: Uint8Array): void {
    if (out.length !== this.byteLength) throw new ShapeError(`copyBytesTo needs ${this.byteLength} bytes of room, got ${out.length}`);
    if (this.stored !== undefined) out.set(this.bytes());
    else this.deferred!.read(out, this.deferred!.offset);
  }

  /** A float32 tensor over `data` (not copied). */
  static float32(shape: readonly number[], data: Float32Array = new Float32Array(shapeSize(shape))): HostTensor<'float32'> {
    return new HostTensor('float32', shape, data);
  }

  /** Number of elements (values, not bytes). */
  get size(): number {
    return shapeSize(this.shape);
  }

  /** Bytes of the stored data. */
  get byteLength(): number {
    return this.stored?.byteLength ?? storageBytes(this.dtype, this.shape);
  }

  /** Length of the last dimension (the values of one stored row). */
  get rowLength(): number {
    return this.shape.length === 0 ? 1 : this.shape[this.shape.length - 1];
  }

  /** Number of stored rows (the product of every dimension but the last). */
  get rows(): number {
    return this.size / Math.max(1, this.rowLength);
  }

  /** The stored bytes (a view, not a copy). */
  bytes(): Uint8Array {
    return new Uint8Array(this.data.buffer, this.data.byteOffset, this.data.byteLength);
  }

  /** The values as float32: the data itself for float32 tensors, a decoded copy otherwise. */
  toFloat32(): Float32Array {
    if (this.dtype === 'float32') return this.data as Float32Array;
    if (this.dtype === 'float16') return decodeFloat16(this.data as Uint16Array);
    if (this.dtype === 'bfloat16') return decodeBfloat16(this.data as Uint16Array);
    const out = new Float32Array(this.size);
    decodeValues(this.dtype, this.bytes(), 0, this.size, out);
    return out;
  }

  /** The values exactly as float64 (every stored format decodes exactly): what the reference computes on. */
  toFloat64(): Float64Array {
    if (!isBlockFormat(this.dtype)) return Float64Array.from(this.toFloat32());
    const out = new Float64Array(this.size);
    decodeValues(this.dtype, this.bytes(), 0, this.size, out);
    return out;
  }

  /** Row `r` (of {@link rows}) decoded to float32, without decoding the rest of the tensor. */
  decodeRow(r: number, out = new Float32Array(this.rowLength)): Float32Array {
    if (!Number.isInteger(r) || r < 0 || r >= this.rows) throw new ShapeError(`row ${r} is outside [0, ${this.rows}) of a ${formatShape(this.shape)} tensor`);
    const cols = this.rowLength;
    const perRow = rowBytes(this.dtype, cols);
    decodeValues(this.dtype, this.bytes(), r * perRow, cols, out);
    return out;
  }

  /** The `i`-th slice along the first dimension, sharing this tensor's data (e.g. one expert of a stacked `[E, F, D]` tensor). */
  slice0(i: number): HostTensor<D> {
    if (this.shape.length < 2) throw new ShapeError(`slice0 needs a tensor of at least 2 dimensions, got ${formatShape(this.shape)}`);
    const n = this.shape[0];
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new ShapeError(`slice ${i} is outside [0, ${n}) of a ${formatShape(this.shape)} tensor`);
    const inner = this.shape.slice(1);
    // A deferred tensor's slice is deferred too: one expert's bytes are read, not the stack's.
    if (this.stored === undefined) return HostTensor.deferred(this.dtype, inner, this.deferred!.read, this.deferred!.offset + i * storageBytes(this.dtype, inner));
    if (isBlockFormat(this.dtype)) {
      const bytes = storageBytes(this.dtype, inner);
      return new HostTensor(this.dtype, inner, (this.data as Uint8Array).subarray(i * bytes, (i + 1) * bytes) as DTypeStorage[D]);
    }
    const count = shapeSize(inner);
    return new HostTensor(this.dtype, inner, this.data.subarray(i * count, (i + 1) * count) as DTypeStorage[D]);
  }

  /**
   * Rows [from, to) of a 2-D tensor (`[rows, cols]`, any format: block rows are whole), sharing
   * this tensor's data; a deferred tensor's rows stay deferred. E.g. one head's rows of a
   * stacked projection, kept in its stored format.
   */
  rowSlice(from: number, to: number): HostTensor<D> {
    if (this.shape.length !== 2) throw new ShapeError(`rowSlice needs a 2-dimensional tensor, got ${formatShape(this.shape)}`);
    const [n, cols] = this.shape;
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from || to > n) {
      throw new ShapeError(`rows [${from}, ${to}) are not a range within [0, ${n}] of a ${formatShape(this.shape)} tensor`);
    }
    const shape = [to - from, cols];
    const perRow = rowBytes(this.dtype, cols);
    if (this.stored === undefined) return HostTensor.deferred(this.dtype, shape, this.deferred!.read, this.deferred!.offset + from * perRow);
    if (isBlockFormat(this.dtype)) return new HostTensor(this.dtype, shape, (this.data as Uint8Array).subarray(from * perRow, to * perRow) as DTypeStorage[D]);
    return new HostTensor(this.dtype, shape, this.data.subarray(from * cols, to * cols) as DTypeStorage[D]);
  }

  /** This tensor converted to another dtype (float32 -> half rounds to nearest even; block formats are encoded block by block). */
  to<T extends DType>(dtype: T): HostTensor<T> {
    if ((this.dtype as DType) === dtype) return this as unknown as HostTensor<T>;
    if (!isDType(dtype)) throw new DTypeError(`unknown dtype '${String(dtype)}'; expected one of ${DTYPES.join(', ')}`);
    const values = this.toFloat32();
    if (dtype === 'float32') return new HostTensor(dtype, this.shape, values as DTypeStorage[T]);
    if (dtype === 'float16') return new HostTensor(dtype, this.shape, encodeFloat16(values) as DTypeStorage[T]);
    if (dtype === 'bfloat16') return new HostTensor(dtype, this.shape, encodeBfloat16(values) as DTypeStorage[T]);
    if (this.shape.length === 0) throw new ShapeError(`a ${dtype} tensor needs at least one dimension (blocks run along the last one)`);
    checkRowLength(dtype, this.rowLength, `converting a ${formatShape(this.shape)} tensor`);
    return new HostTensor(dtype, this.shape, encodeValues(dtype, values, this.rows, this.rowLength) as DTypeStorage[T]);
  }

  /** Throws a ShapeError naming `what` unless the shape equals `expected`. */
  assertShape(what: string, expected: readonly number[]): void {
    if (this.shape.length !== expected.length || this.shape.some((d, i) => d !== expected[i])) {
      throw new ShapeError(`${what} has shape ${formatShape(this.shape)}, expected ${formatShape(expected)}`);
    }
  }
}
