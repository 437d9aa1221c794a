/** Gathering an expert's routed rows and the weighted per-token combine, shared by the engines. */
import type { RoutingPlan } from '@moe-runtime/core';

/** Copies the `m` token rows `rowToken[start .. start+m)` of `x` (row width `d`) into one block. */
export function gatherRows(x: Float32Array, d: number, rowToken: Int32Array, start: number, m: number, out = new Float32Array(m * d), outStride = d): Float32Array {
  for (let i = 0; i < m; i++) {
    const t = rowToken[start + i];
    out.set(x.subarray(t * d, t * d + d), i * outStride);
  }
  return out;
}

/**
 * y `[T, d]`: for each token, the sum of rowWeight[r] * rows[r] over its plan rows, in the
 * plan's per-token order (tokenRows), so every engine adds in the same order. `rows` has row
 * stride `stride` (>= d, padded layouts). Tokens without rows get 0.
 */
export function combineRows(rows: Float32Array, stride: number, d: number, plan: RoutingPlan, y = new Float32Array(plan.numTokens * d)): Float32Array {
  for (let t = 0; t < plan.numTokens; t++) {
    const yOff = t * d;
    const first = plan.tokenOffsets[t];
    const end = plan.tokenOffsets[t + 1];
    if (first === end) {
      y.fill(0, yOff, yOff + d);
      continue;
    }
    let r = plan.tokenRows[first];
    let w = plan.rowWeight[r];
    let off = r * stride;
    for (let c = 0; c < d; c++) y[yOff + c] = w * rows[off + c];
    for (let s = first + 1; s < end; s++) {
      r = plan.tokenRows[s];
      w = plan.rowWeight[r];
      off = r * stride;
      for (let c = 0; c < d; c++) y[yOff + c] += w * rows[off + c];
    }
  }
  return y;
}
