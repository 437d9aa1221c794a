/**
 * Validation of a RoutingPlan handed to a backend's `runExperts` (every backend calls it
 * first). Kernels and host combines index x and the row buffers with the plan's arrays, so a
 * hand-made or stale plan that disagrees with itself or with the prepared group must fail with
 * a ShapeError naming the field, not read past an array (NaN, zeros, a crash deep in the
 * runtime). O(rows + tokens + experts).
 */
import { InvalidInputError, ShapeError } from './errors.js';
import type { RoutingPlan } from './routing-plan.js';

function int32(plan: RoutingPlan, key: 'expertOffsets' | 'rowToken' | 'rowExpert' | 'tokenOffsets' | 'tokenRows'): Int32Array {
  const a = plan[key];
  if (!(a instanceof Int32Array)) throw new ShapeError(`plan.${key} must be an Int32Array, got ${(a as object)?.constructor?.name ?? typeof a}`);
  return a;
}

/**
 * Throws a ShapeError unless `plan` is a self-consistent plan over `numExperts` experts (an
 * InvalidInputError for a non-finite combine weight).
 */
export function checkRoutingPlan(plan: RoutingPlan, numExperts: number): void {
  if (!plan || typeof plan !== 'object') throw new ShapeError('plan must be a RoutingPlan (see buildRoutingPlan)');
  const { numTokens } = plan;
  if (!Number.isInteger(numTokens) || numTokens < 0) throw new ShapeError(`plan.numTokens is ${numTokens}, expected a non-negative integer`);
  if (plan.numExperts !== numExperts) throw new ShapeError(`plan.numExperts is ${plan.numExperts}, expected the prepared group's ${numExperts}`);
  const expertOffsets = int32(plan, 'expertOffsets');
  const rowToken = int32(plan, 'rowToken');
  const tokenOffsets = int32(plan, 'tokenOffsets');
  const tokenRows = int32(plan, 'tokenRows');
  const rows = rowToken.length;
  if (!(plan.rowWeight instanceof Float32Array) || plan.rowWeight.length !== rows) {
    throw new ShapeError(`plan.rowWeight must be a Float32Array of ${rows} values (one per row), got ${plan.rowWeight?.length}`);
  }
  for (let r = 0; r < rows; r++) {
    // buildRoutingPlan refuses these; a hand-made plan would turn the whole token into NaN.
    if (!Number.isFinite(plan.rowWeight[r])) throw new InvalidInputError(`plan.rowWeight[${r}] is ${plan.rowWeight[r]}, expected a finite combine weight`);
  }
  if (tokenRows.length !== rows) throw new ShapeError(`plan.tokenRows has ${tokenRows.length} entries, expected the row count ${rows}`);
  if (expertOffsets.length !== numExperts + 1 || expertOffsets[0] !== 0 || expertOffsets[numExperts] !== rows) {
    throw new ShapeError(`plan.expertOffsets must have ${numExperts + 1} entries running from 0 to the row count ${rows}`);
  }
  for (let e = 0; e < numExperts; e++) {
    if (!(expertOffsets[e] <= expertOffsets[e + 1])) throw new ShapeError(`plan.expertOffsets must be non-decreasing; entry ${e + 1} is ${expertOffsets[e + 1]} after ${expertOffsets[e]}`);
  }
  const rowExpert = int32(plan, 'rowExpert');
  if (rowExpert.length !== rows) throw new ShapeError(`plan.rowExpert has ${rowExpert.length} entries, expected the row count ${rows}`);
  for (let e = 0; e < numExperts; e++) {
    for (let r = expertOffsets[e]; r < expertOffsets[e + 1]; r++) {
      if (rowExpert[r] !== e) throw new ShapeError(`plan.rowExpert[${r}] is ${rowExpert[r]}, expected ${e} (from plan.expertOffsets)`);
    }
  }
  const perExpert = plan.tokensPerExpert;
  if (!(perExpert instanceof Int32Array) || perExpert.length !== numExperts) throw new ShapeError(`plan.tokensPerExpert must be an Int32Array of ${numExperts} counts`);
  for (let e = 0; e < numExperts; e++) {
    const n = expertOffsets[e + 1] - expertOffsets[e];
    if (perExpert[e] !== n) throw new ShapeError(`plan.tokensPerExpert[${e}] is ${perExpert[e]}, expected ${n} (from plan.expertOffsets)`);
  }
  if (tokenOffsets.length !== numTokens + 1 || tokenOffsets[0] !== 0 || tokenOffsets[numTokens] !== rows) {
    throw new ShapeError(`plan.tokenOffsets must have ${numTokens + 1} entries running from 0 to the row count ${rows}`);
  }
  for (let t = 0; t < numTokens; t++) {
    if (!(tokenOffsets[t] <= tokenOffsets[t + 1])) throw new ShapeError(`plan.tokenOffsets must be non-decreasing; entry ${t + 1} is ${tokenOffsets[t + 1]} after ${tokenOffsets[t]}`);
  }
  for (let r = 0; r < rows; r++) {
    const t = rowToken[r];
    if (!(t >= 0 && t < numTokens)) throw new ShapeError(`plan.rowToken[${r}] is ${t}, expected a token in [0, ${numTokens})`);
  }
  // tokenRows must list every row exactly once, each under the token it belongs to.
  const seen = new Uint8Array(rows);
  for (let t = 0; t < numTokens; t++) {
    for (let s = tokenOffsets[t]; s < tokenOffsets[t + 1]; s++) {
      const r = tokenRows[s];
      if (!(r >= 0 && r < rows) || seen[r] || rowToken[r] !== t) {
        throw new ShapeError(`plan.tokenRows[${s}] is ${r}, expected a row of token ${t} in [0, ${rows}) not listed before`);
      }
      seen[r] = 1;
    }
  }
}
