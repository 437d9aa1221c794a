/**
 * Cross-validation against the float64 reference, as the numerics policy defines it:
 * relative L2 and max abs error of the output, and routing agreement per token where a
 * disagreement between two candidates whose scores are within a tolerance counts as a
 * near-tie, reported separately. NaN never passes.
 */
import type { RouterDecision, Logits } from './router.js';
import type { RoutingPlan } from './routing-plan.js';

/** Output error figures. */
export interface OutputComparison {
  /** ||actual - expected|| / ||expected|| (NaN if any value is NaN). */
  readonly relL2: number;
  /** max |actual - expected| (NaN if any value is NaN). */
  readonly maxAbs: number;
}

/** Compares an output with its reference. */
export function compareOutputs(actual: ArrayLike<number>, expected: ArrayLike<number>): OutputComparison {
  if (actual.length !== expected.length) return { relL2: NaN, maxAbs: NaN };
  let num = 0;
  let den = 0;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const diff = actual[i] - expected[i];
    num += diff * diff;
    den += expected[i] * expected[i];
    const a = Math.abs(diff);
    if (!(a <= maxAbs)) maxAbs = a; // NaN propagates
  }
  const relL2 = den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
  return { relL2, maxAbs };
}

/** Routing agreement figures. */
export interface RoutingComparison {
  /** Share of tokens whose kept expert sets are identical. */
  readonly agreement: number;
  /** Tokens whose sets differ only between near-tied candidates. */
  readonly nearTies: number;
  /** Tokens whose sets differ for real. */
  readonly mismatches: number;
  /** The first few real mismatches, for messages. */
  readonly examples: readonly { token: number; expected: number[]; actual: number[] }[];
}

function expertsOf(plan: RoutingPlan, t: number): number[] {
  const out: number[] = [];
  for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) {
    const r = plan.tokenRows[s];
    // rows are grouped by expert: find the expert owning row r by binary search on the offsets
    let lo = 0;
    let hi = plan.numExperts - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (plan.expertOffsets[mid] <= r) lo = mid;
      else hi = mid - 1;
    }
    out.push(lo);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Compares a backend's routing (its plan) with the reference's. `referenceDecision` supplies
 * the scores experts were ranked by (its selectionScores, else `referenceLogits`).
 */
export function compareRouting(
  actual: RoutingPlan,
  expected: RoutingPlan,
  referenceDecision: RouterDecision,
  referenceLogits: Logits,
  tolerance = 1e-4,
): RoutingComparison {
  const scores = referenceDecision.selectionScores ?? referenceLogits;
  const e = expected.numExperts;
  let same = 0;
  let nearTies = 0;
  const examples: { token: number; expected: number[]; actual: number[] }[] = [];
  for (let t = 0; t < expected.numTokens; t++) {
    const a = expertsOf(actual, t);
    const x = expertsOf(expected, t);
    if (a.length === x.length && a.every((v, i) => v === x[i])) {
      same++;
      continue;
    }
    // Near-tie: every expert in the symmetric difference scores within tolerance of some
    // expert on the other side.
    const onlyA = a.filter((v) => !x.includes(v));
    const onlyX = x.filter((v) => !a.includes(v));
    const close = (p: number, qs: number[]): boolean => qs.some((q) => Math.abs(scores[t * e + p] - scores[t * e + q]) <= tolerance);
    const tie = onlyA.length === onlyX.length && onlyA.length > 0 && onlyA.every((p) => close(p, onlyX)) && onlyX.every((q) => close(q, onlyA));
    if (tie) nearTies++;
    else if (examples.length < 5) examples.push({ token: t, expected: x, actual: a });
  }
  const total = expected.numTokens;
  return { agreement: total ? same / total : 1, nearTies, mismatches: total - same - nearTies, examples };
}

/** The kept experts of token t in a plan, ascending. */
export function plannedExperts(plan: RoutingPlan, token: number): number[] {
  return expertsOf(plan, token);
}
