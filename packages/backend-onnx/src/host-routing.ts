/**
 * The host side of a grouped expert pass: gather each expert's routed rows from x, and the
 * weighted combine of the experts' outputs back into token order. Both are O(rows x D)
 * copies/FMAs, small next to the expert GEMMs (measured in the README).
 */
import type { RoutingPlan } from '@moe-runtime/core';

/**
 * Rows `[n_e, D]` of expert e. When the expert takes every token in order (shared experts,
 * dense layers) x itself is returned, without a copy.
 */
export function gatherExpertRows(plan: RoutingPlan, e: number, x: Float32Array, d: number): Float32Array {
  const start = plan.expertOffsets[e];
  const n = plan.expertOffsets[e + 1] - start;
  if (n === plan.numTokens) {
    let identity = true;
    for (let i = 0; i < n && identity; i++) identity = plan.rowToken[start + i] === i;
    if (identity) return x.length === n * d ? x : x.subarray(0, n * d);
  }
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const src = plan.rowToken[start + i] * d;
    out.set(x.subarray(src, src + d), i * d);
  }
  return out;
}

/**
 * y[t] = sum over token t's plan rows r, in the plan's per-token order, of
 * rowWeight[r] * expertOut[e(r)][r - expertOffsets[e(r)]]. Tokens without rows stay 0.
 */
export function combineExpertRows(plan: RoutingPlan, outputs: readonly (Float32Array | undefined)[], d: number): Float32Array {
  const rows = plan.rowToken.length;
  const rowExpert = new Int32Array(rows);
  for (let e = 0; e < plan.numExperts; e++) rowExpert.fill(e, plan.expertOffsets[e], plan.expertOffsets[e + 1]);
  const y = new Float32Array(plan.numTokens * d);
  for (let t = 0; t < plan.numTokens; t++) {
    const dst = t * d;
    for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) {
      const r = plan.tokenRows[s];
      const e = rowExpert[r];
      const src = outputs[e]!;
      const base = (r - plan.expertOffsets[e]) * d;
      const w = plan.rowWeight[r];
      for (let o = 0; o < d; o++) y[dst + o] += w * src[base + o];
    }
  }
  return y;
}
