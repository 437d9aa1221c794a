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
  for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) out.push(plan.rowExpert[plan.tokenRows[s]]);
  return out.sort((a, b) => a - b);
}

/**
 * Per expert, the reference's selection boundary on the expert's own column: the weakest score
 * among the tokens it kept and the strongest among those it did not.
 */
function columnBoundaries(plan: RoutingPlan, scores: Logits): { keptMin: Float64Array; unkeptMax: Float64Array } {
  const e = plan.numExperts;
  const kept = new Uint8Array(plan.numTokens * e);
  const keptMin = new Float64Array(e).fill(Infinity);
  const unkeptMax = new Float64Array(e).fill(-Infinity);
  for (let r = 0; r < plan.rowToken.length; r++) kept[plan.rowToken[r] * e + plan.rowExpert[r]] = 1;
  for (let i = 0; i < kept.length; i++) {
    const ex = i % e;
    if (kept[i]) keptMin[ex] = Math.min(keptMin[ex], scores[i]);
    else unkeptMax[ex] = Math.max(unkeptMax[ex], scores[i]);
  }
  return { keptMin, unkeptMax };
}

/**
 * Compares a backend's routing (its plan) with the reference's. `referenceDecision` supplies
 * the scores experts were ranked by (its selectionScores, else `referenceLogits`).
 *
 * A token whose expert sets differ counts as a near-tie when every expert in the difference
 * sits within `tolerance` of the reference's selection boundary: of an expert on the other side
 * (two candidates swapped: token choice), or of the expert's column boundary (its weakest kept
 * or strongest unkept token: expert choice). A one-sided difference under token choice, or one
 * only a capacity cascade explains (a near-tie elsewhere changed which tokens fit), is still
 * reported as a mismatch.
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
  let columns: ReturnType<typeof columnBoundaries> | undefined;
  const examples: { token: number; expected: number[]; actual: number[] }[] = [];
  for (let t = 0; t < expected.numTokens; t++) {
    const a = expertsOf(actual, t);
    const x = expertsOf(expected, t);
    if (a.length === x.length && a.every((v, i) => v === x[i])) {
      same++;
      continue;
    }
    const onlyA = a.filter((v) => !x.includes(v));
    const onlyX = x.filter((v) => !a.includes(v));
    const score = (p: number): number => scores[t * e + p];
    columns ??= columnBoundaries(expected, scores);
    const { keptMin, unkeptMax } = columns;
    const close = (u: number, v: number): boolean => Math.abs(u - v) <= tolerance;
    // Token choice: a near-tie swaps two experts of the token. Expert choice: an expert's
    // near-tied last slot moves between tokens, so only the column boundary explains it.
    const nearA = (p: number): boolean => onlyX.some((q) => close(score(p), score(q))) || close(score(p), keptMin[p]);
    const nearX = (q: number): boolean => onlyA.some((p) => close(score(q), score(p))) || close(score(q), unkeptMax[q]);
    const tie = onlyA.every(nearA) && onlyX.every(nearX);
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
