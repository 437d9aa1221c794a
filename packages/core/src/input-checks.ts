/** Checks on caller-supplied inputs, shared by the MoE layer and the reference. */
import { DTypeError, InvalidInputError, ShapeError } from './errors.js';
import { formatShape, HostTensor } from './tensor.js';

/** Accepts a `[T, D]` float32 tensor (or a flat Float32Array of T*D) and returns T and the data. */
export function checkRows(what: string, x: HostTensor | Float32Array, width: number): { rows: number; data: Float32Array } {
  if (x instanceof HostTensor) {
    if (x.dtype !== 'float32') throw new DTypeError(`${what} has dtype ${x.dtype}, expected float32`);
    if (x.shape.length !== 2 || x.shape[1] !== width) {
      throw new ShapeError(`${what} has shape ${formatShape(x.shape)}, expected [T, ${width}]`);
    }
    return { rows: x.shape[0], data: x.data as Float32Array };
  }
  if (!(x instanceof Float32Array)) {
    throw new DTypeError(`${what} must be a float32 HostTensor or Float32Array, got ${(x as object)?.constructor?.name ?? typeof x}`);
  }
  if (x.length % width !== 0) throw new ShapeError(`${what} has ${x.length} values, not a multiple of the row width ${width}`);
  return { rows: x.length / width, data: x };
}

/** Throws an InvalidInputError naming the first NaN or infinite entry (row and column). */
export function checkFinite(what: string, data: ArrayLike<number>, width: number): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      throw new InvalidInputError(`${what}[${Math.floor(i / width)}, ${i % width}] is ${v}; inputs must be finite`);
    }
  }
}

/** Normalises token ids to an Int32Array of length `rows`, or throws naming the problem. */
export function checkTokenIds(tokenIds: ArrayLike<number> | undefined, rows: number): Int32Array | undefined {
  if (tokenIds === undefined) return undefined;
  if (tokenIds.length !== rows) throw new ShapeError(`tokenIds has ${tokenIds.length} entries, expected one per token (${rows})`);
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = tokenIds[i];
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new InvalidInputError(`tokenIds[${i}] is ${v}; expected a non-negative 32-bit integer`);
    out[i] = v;
  }
  return out;
}
