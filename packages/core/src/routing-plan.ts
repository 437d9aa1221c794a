/**
 * The routing plan: a router's (token, expert, weight) assignments after capacity, grouped by
 * expert (offsets + rows), with the inverse permutation from tokens to their rows. Built once
 * in core per forward pass; backends read it and never re-derive it.
 *
 * Row r of the grouped layout holds token `rowToken[r]` for the expert `rowExpert[r]`, the e with
 * `expertOffsets[e] <= r < expertOffsets[e+1]`; within an expert, rows are in token order.
 * Token t's rows are `tokenRows[tokenOffsets[t] .. tokenOffsets[t+1])` in the order the router
 * listed them, and the combine sums them in that order: y[t] = sum_r rowWeight[r] * FFN_e(x[t]).
 */
import { RouterError } from './errors.js';
import type { RouterDecision } from './router.js';

/** Assignments a capacity limit removed. */
export interface DroppedAssignments {
  readonly token: Int32Array;
  readonly expert: Int32Array;
  readonly weight: Float32Array;
}

/** A grouped routing plan (see the module comment for the layout). */
export interface RoutingPlan {
  readonly numTokens: number;
  readonly numExperts: number;
  /** `[E + 1]`: expert e owns rows `expertOffsets[e] .. expertOffsets[e+1]`. */
  readonly expertOffsets: Int32Array;
  /** `[R]`: the source token of each grouped row. */
  readonly rowToken: Int32Array;
  /** `[R]`: the expert of each grouped row (the e whose offsets range holds it). */
  readonly rowExpert: Int32Array;
  /** `[R]`: the combine weight of each grouped row. */
  readonly rowWeight: Float32Array;
  /** `[T + 1]`: token t owns entries `tokenOffsets[t] .. tokenOffsets[t+1]` of tokenRows. */
  readonly tokenOffsets: Int32Array;
  /** `[R]`: the grouped rows of each token, in the router's order (the inverse permutation). */
  readonly tokenRows: Int32Array;
  /** `[E]`: kept rows per expert. */
  readonly tokensPerExpert: Int32Array;
  /** The capacity that was applied, if any. */
  readonly capacity?: number;
  /** Assignments over capacity, in the order they were dropped. */
  readonly dropped: DroppedAssignments;
}

function checkDecision(d: RouterDecision, t: number, e: number): void {
  const n = d.token?.length;
  if (!(d.token instanceof Int32Array) || !(d.expert instanceof Int32Array) || !(d.weight instanceof Float32Array)) {
    throw new RouterError('a router decision needs token: Int32Array, expert: Int32Array, weight: Float32Array');
  }
  if (d.expert.length !== n || d.weight.length !== n) {
    throw new RouterError(`router decision arrays differ in length: token ${n}, expert ${d.expert.length}, weight ${d.weight.length}`);
  }
  if (d.capacity !== undefined && (!Number.isInteger(d.capacity) || d.capacity < 0)) {
    throw new RouterError(`router capacity must be a non-negative integer, got ${d.capacity}`);
  }
  for (let a = 0; a < n; a++) {
    if (d.token[a] < 0 || d.token[a] >= t) throw new RouterError(`assignment ${a}: token ${d.token[a]} is outside [0, ${t})`);
    if (d.expert[a] < 0 || d.expert[a] >= e) throw new RouterError(`assignment ${a}: expert ${d.expert[a]} is outside [0, ${e})`);
    if (!Number.isFinite(d.weight[a])) throw new RouterError(`assignment ${a} (token ${d.token[a]}, expert ${d.expert[a]}): weight ${d.weight[a]} is not finite`);
  }
}

/** Builds the grouped plan from a router decision; throws a RouterError on an inconsistent one. */
export function buildRoutingPlan(decision: RouterDecision, numTokens: number, numExperts: number): RoutingPlan {
  checkDecision(decision, numTokens, numExperts);
  const n = decision.token.length;
  const cap = decision.capacity ?? Infinity;
  const kept = new Uint8Array(n);
  const load = new Int32Array(numExperts);
  const perToken = new Int32Array(numTokens);
  const seen = new Set<number>();
  let droppedCount = 0;
  for (let a = 0; a < n; a++) {
    const tok = decision.token[a];
    const ex = decision.expert[a];
    const key = tok * numExperts + ex;
    if (seen.has(key)) throw new RouterError(`token ${tok} is assigned to expert ${ex} twice`);
    seen.add(key);
    if (load[ex] < cap) {
      load[ex]++;
      kept[a] = 1;
      perToken[tok]++;
    } else droppedCount++;
  }
  const dropped = {
    token: new Int32Array(droppedCount),
    expert: new Int32Array(droppedCount),
    weight: new Float32Array(droppedCount),
  };
  // Kept assignments bucketed by token, preserving the router's order within a token.
  const tokenOffsets = new Int32Array(numTokens + 1);
  for (let i = 0; i < numTokens; i++) tokenOffsets[i + 1] = tokenOffsets[i] + perToken[i];
  const rows = tokenOffsets[numTokens];
  const byToken = new Int32Array(rows);
  const fill = tokenOffsets.slice(0, numTokens);
  for (let a = 0, dr = 0; a < n; a++) {
    if (kept[a]) byToken[fill[decision.token[a]]++] = a;
    else {
      dropped.token[dr] = decision.token[a];
      dropped.expert[dr] = decision.expert[a];
      dropped.weight[dr++] = decision.weight[a];
    }
  }
  const expertOffsets = new Int32Array(numExperts + 1);
  for (let j = 0; j < numExperts; j++) expertOffsets[j + 1] = expertOffsets[j] + load[j];
  const next = expertOffsets.slice(0, numExperts);
  const rowToken = new Int32Array(rows);
  const rowExpert = new Int32Array(rows);
  const rowWeight = new Float32Array(rows);
  const tokenRows = new Int32Array(rows);
  // Walking tokens in order keeps each expert's rows sorted by token.
  for (let s = 0; s < rows; s++) {
    const a = byToken[s];
    const r = next[decision.expert[a]]++;
    rowToken[r] = decision.token[a];
    rowExpert[r] = decision.expert[a];
    rowWeight[r] = decision.weight[a];
    tokenRows[s] = r;
  }
  return {
    numTokens,
    numExperts,
    expertOffsets,
    rowToken,
    rowExpert,
    rowWeight,
    tokenOffsets,
    tokenRows,
    tokensPerExpert: load,
    capacity: decision.capacity,
    dropped,
  };
}

/**
 * A plan that sends every token to every one of `numExperts` experts, token t with weight
 * `weights[t]` (default 1): how shared experts run through the same grouped kernel.
 */
export function denseRoutingPlan(numTokens: number, numExperts: number, weights?: Float32Array): RoutingPlan {
  const n = numTokens * numExperts;
  const token = new Int32Array(n);
  const expert = new Int32Array(n);
  const weight = new Float32Array(n);
  for (let i = 0, a = 0; i < numTokens; i++) {
    for (let j = 0; j < numExperts; j++, a++) {
      token[a] = i;
      expert[a] = j;
      weight[a] = weights ? weights[i] : 1;
    }
  }
  return buildRoutingPlan({ token, expert, weight }, numTokens, numExperts);
}

/** Number of grouped rows (kept assignments) in a plan. */
export function planRows(plan: RoutingPlan): number {
  return plan.rowToken.length;
}
