/**
 * The host side of a grouped expert pass: gathering the plan's rows of x in expert-grouped
 * order (one contiguous block per expert, uploaded as one 2-D tensor each) and combining the
 * experts' output rows back per token, in the plan's per-token row order, with the routing
 * weights. The combine runs on the host because tfjs-wasm has no unsortedSegmentSum, and the
 * host order is exactly the order the Backend contract fixes.
 */
import type { RoutingPlan } from '@moe-runtime/core';

/** `[R, d]`: row r is x[plan.rowToken[r]]. */
export function gatherRows(x: Float32Array, plan: RoutingPlan, d: number): Float32Array {
  const rows = plan.rowToken.length;
  const out = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const t = plan.rowToken[r];
    out.set(x.subarray(t * d, (t + 1) * d), r * d);
  }
  return out;
}

/** y `[T, d]`: y[t] = sum over token t's rows r (in plan order) of rowWeight[r] * expertOut[r]. */
export function combineRows(expertOut: Float32Array, plan: RoutingPlan, d: number): Float32Array {
  const t = plan.numTokens;
  const y = new Float32Array(t * d);
  for (let i = 0; i < t; i++) {
    const yo = i * d;
    for (let s = plan.tokenOffsets[i]; s < plan.tokenOffsets[i + 1]; s++) {
      const r = plan.tokenRows[s];
      const w = plan.rowWeight[r];
      const ro = r * d;
      for (let j = 0; j < d; j++) y[yo + j] += w * expertOut[ro + j];
    }
  }
  return y;
}

/** The largest row count of any expert in a plan. */
export function maxExpertRows(plan: RoutingPlan): number {
  let m = 0;
  for (let e = 0; e < plan.numExperts; e++) m = Math.max(m, plan.expertOffsets[e + 1] - plan.expertOffsets[e]);
  return m;
}
