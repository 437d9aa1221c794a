/**
 * Host-side weight layout: core's weights are `[out, in]` (PyTorch Linear); tfjs's matMul
 * stays on XNNPACK's fast path only for a plain 2-D `x [rows, in] @ W [in, out]` (a transposed
 * or batched matMul falls to a slow loop), so each matrix is transposed once at prepare time.
 * Half-precision weights are decoded to float32 here as well (compute is float32).
 */
import type { HostTensor } from '@moe-runtime/core';

const TILE = 64;

/** `[out, in]` (any dtype) -> float32 `[in, out]`, in cache-friendly tiles. */
export function toInOut(weight: HostTensor): Float32Array {
  const [rows, cols] = weight.shape;
  const src = weight.toFloat32();
  const dst = new Float32Array(rows * cols);
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
  return dst;
}
