/**
 * Host tensors: a dtype, a shape and a typed array in row-major order. Compute is float32;
 * float16 and bfloat16 exist for stored weights and are decoded once when a backend prepares
 * them (or kept compact where a backend can use them directly).
 */
import { DTypeError, ShapeError } from './errors.js';
import { decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from './half-precision.js';

/** Element types a host tensor can hold. */
export type DType = 'float32' | 'float16' | 'bfloat16';

/** The typed array that backs each dtype (half types are raw 16-bit patterns). */
export interface DTypeStorage {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
}

/** Every dtype, for validation messages. */
export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];

/** Bytes per element of a dtype. */
export function dtypeBytes(dtype: DType): number {
  return dtype === 'float32' ? 4 : 2;
}

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

/** A dense row-major tensor on the host. */
export class HostTensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: DTypeStorage[D];

  constructor(dtype: D, shape: readonly number[], data: DTypeStorage[D]) {
    if (!DTYPES.includes(dtype)) {
      throw new DTypeError(`unknown dtype '${String(dtype)}'; expected one of ${DTYPES.join(', ')}`);
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new ShapeError(`shape ${formatShape(shape)} has a dimension that is not a non-negative integer`);
      }
    }
    const expectedArray = dtype === 'float32' ? Float32Array : Uint16Array;
    if (!(data instanceof expectedArray)) {
      throw new DTypeError(`a ${dtype} tensor needs a ${expectedArray.name}, got ${data?.constructor?.name ?? typeof data}`);
    }
    if (data.length !== shapeSize(shape)) {
      throw new ShapeError(`shape ${formatShape(shape)} needs ${shapeSize(shape)} elements, data has ${data.length}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = data;
  }

  /** A float32 tensor over `data` (not copied). */
  static float32(shape: readonly number[], data: Float32Array = new Float32Array(shapeSize(shape))): HostTensor<'float32'> {
    return new HostTensor('float32', shape, data);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** The values as float32: the data itself for float32 tensors, a decoded copy otherwise. */
  toFloat32(): Float32Array {
    if (this.dtype === 'float32') return this.data as Float32Array;
    const raw = this.data as Uint16Array;
    return this.dtype === 'float16' ? decodeFloat16(raw) : decodeBfloat16(raw);
  }

  /** This tensor converted to another dtype (float32 -> half rounds to nearest even). */
  to<T extends DType>(dtype: T): HostTensor<T> {
    if ((this.dtype as DType) === dtype) return this as unknown as HostTensor<T>;
    const values = this.toFloat32();
    if (dtype === 'float32') return new HostTensor(dtype, this.shape, values as DTypeStorage[T]);
    const encoded = dtype === 'float16' ? encodeFloat16(values) : encodeBfloat16(values);
    return new HostTensor(dtype, this.shape, encoded as DTypeStorage[T]);
  }

  /** Throws a ShapeError naming `what` unless the shape equals `expected`. */
  assertShape(what: string, expected: readonly number[]): void {
    if (this.shape.length !== expected.length || this.shape.some((d, i) => d !== expected[i])) {
      throw new ShapeError(`${what} has shape ${formatShape(this.shape)}, expected ${formatShape(expected)}`);
    }
  }
}
