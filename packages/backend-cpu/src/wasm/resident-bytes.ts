/**
 * What a weight occupies once the WebAssembly engine holds it: float32 matrices are packed
 * into 16-column panels (the output dimension padded to a multiple of 16), every other format
 * is kept exactly as stored; each matrix is one 64-byte aligned block. A 1-D tensor (a bias)
 * is a float32 vector padded to whole panels.
 */
import { storageBytes, type DType } from '@moe-runtime/core';

/** Rounds up to a cache line (the allocator's alignment). */
export function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/** Bytes the engine holds for a weight of `dtype` and `shape` (`[..., out, in]`, or `[n]` for a bias). */
export function residentWeightBytes(dtype: DType, shape: readonly number[]): number {
  if (shape.length <= 1) return align64(Math.ceil((shape[0] ?? 1) / 16) * 16 * 4);
  const k = shape[shape.length - 1];
  const n = shape[shape.length - 2];
  let matrices = 1;
  for (let i = 0; i < shape.length - 2; i++) matrices *= shape[i];
  const one = dtype === 'float32' ? Math.ceil(n / 16) * 16 * k * 4 : storageBytes(dtype, [n, k]);
  return matrices * align64(one);
}
