/**
 * Per-token routing from a grouped plan: each token's kept experts and combine weights, in
 * the router's order. Computed in the worker for batches where a caller asked for it.
 */
import type { RoutingPlan } from '@moe-runtime/core';
import type { BatchRouting } from './worker-protocol.js';

/** Token t's experts/weights are entries `offsets[t] .. offsets[t+1]` (dropped tokens: none). */
export function batchRouting(plan: RoutingPlan): BatchRouting {
  const offsets = Int32Array.from(plan.tokenOffsets);
  const experts = new Int32Array(plan.tokenRows.length);
  const weights = new Float32Array(plan.tokenRows.length);
  for (let i = 0; i < plan.tokenRows.length; i++) {
    const r = plan.tokenRows[i];
    experts[i] = plan.rowExpert[r];
    weights[i] = plan.rowWeight[r];
  }
  return { offsets, experts, weights };
}

/** One request's slice of a batch's routing, as JSON: experts and weights per token. */
export function sliceRouting(routing: BatchRouting, first: number, rows: number): { experts: number[][]; weights: number[][] } {
  const experts: number[][] = [];
  const weights: number[][] = [];
  for (let t = first; t < first + rows; t++) {
    const a = routing.offsets[t];
    const b = routing.offsets[t + 1];
    experts.push(Array.from(routing.experts.subarray(a, b)));
    weights.push(Array.from(routing.weights.subarray(a, b)));
  }
  return { experts, weights };
}
