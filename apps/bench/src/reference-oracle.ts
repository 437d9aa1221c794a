/**
 * Cross-validation of every timed output against the float64 reference, at a bounded cost.
 *
 * Core's `checkAgainstReference` recomputes the whole float64 forward pass on every call; at
 * T = 256 and Mixtral-like shapes that is seconds per output, and the harness checks every
 * warm-up and timed output of every backend. This oracle applies the same policy (core's
 * `compareRouting` / `compareOutputs`, core's float64 kernels) with two savings:
 *
 * 1. Routing is checked on all T tokens: the float64 router logits and the reference routing
 *    decision of the whole batch are computed once per (layer, T), so batch-dependent routing
 *    (capacity drops, expert choice) is judged exactly as the full reference would.
 * 2. Outputs are checked on a sample of at most `referenceRows` rows, evenly spaced over the
 *    batch (the first output: the first and the last row included, so tile remainders are
 *    covered; output i: the same rows shifted by i, so the rows checked grow with every repeat
 *    and consecutive rows are covered around each sample point). The float64
 *    rows are computed once under the reference routing (the kept rows of the full-batch plan,
 *    after capacity) and shared by every backend and every repeat. For a token whose kept
 *    experts differ from the reference (a near-tie, or a real mismatch that already fails the
 *    routing check), the expected row is recomputed under the backend's own kept assignments,
 *    as `checkAgainstReference` does, so a tie does not masquerade as a numeric error.
 *
 * When T <= referenceRows every row is checked and the verdict equals checkAgainstReference's
 * (a test asserts it). Rows outside the sample are still covered by the consistency check in
 * the runner (every repeat must match the first output on all rows).
 */
import {
  buildRoutingPlan,
  compareOutputs,
  compareRouting,
  createRouter,
  plannedExperts,
  referenceExpertRow,
  referenceLinear,
  sigmoid,
  type HostTensor,
  type MoEForwardResult,
  type MoELayerConfig,
  type MoEWeights,
  type RouterDecision,
  type RoutingPlan,
} from '@moe-runtime/core';
import type { ScenarioTolerance } from './scenario.js';

/** The verdict on one output. */
export interface OutputCheck {
  readonly relL2: number;
  readonly maxAbs: number;
  /** Share of all T tokens whose kept expert sets equal the reference's. */
  readonly routingAgreement: number;
  readonly nearTies: number;
  readonly routingMismatches: number;
  /** Rows whose values were compared with the float64 reference. */
  readonly rowsChecked: number;
  /** The rows compared. */
  readonly rows: readonly number[];
  readonly passed: boolean;
  readonly failures: readonly string[];
}

/** Row indices to check: all rows when T <= limit, else `limit` evenly spaced rows including 0 and T-1. */
export function sampleRows(numTokens: number, limit: number): number[] {
  if (numTokens <= limit) return Array.from({ length: numTokens }, (_, i) => i);
  if (limit === 1) return [0];
  const rows = new Set<number>();
  for (let i = 0; i < limit; i++) rows.add(Math.round((i * (numTokens - 1)) / (limit - 1)));
  return [...rows].sort((a, b) => a - b);
}

/** (expert, weight) pairs kept for `token` in a plan, in the plan's per-token order. */
function keptAssignments(plan: RoutingPlan, token: number): { expert: number; weight: number }[] {
  const out: { expert: number; weight: number }[] = [];
  for (let s = plan.tokenOffsets[token]; s < plan.tokenOffsets[token + 1]; s++) {
    const r = plan.tokenRows[s];
    out.push({ expert: plan.rowExpert[r], weight: plan.rowWeight[r] });
  }
  return out;
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The rows output number `index` (0-based) of a case is checked on: all rows when T <= limit,
 * else the evenly spaced sample shifted by `index` (mod T).
 */
export function rowsForOutput(numTokens: number, limit: number, index: number): number[] {
  const base = sampleRows(numTokens, limit);
  if (numTokens <= limit || index === 0) return base;
  return [...new Set(base.map((r) => (r + index) % numTokens))].sort((a, b) => a - b);
}

/** The float64 reference of one layer on one input batch, with cached sample rows. */
export class ReferenceOracle {
  /** Rows the first output is checked on. */
  readonly rows: readonly number[];
  readonly logits: Float64Array;
  readonly decision: RouterDecision;
  readonly plan: RoutingPlan;
  private readonly x: Float32Array;
  private readonly numTokens: number;
  private readonly shared = new Map<number, Float64Array>();
  private readonly expectedUnderReference = new Map<number, Float64Array>();

  constructor(
    private readonly config: MoELayerConfig,
    private readonly weights: MoEWeights,
    x: HostTensor,
    private readonly rowLimit: number,
    tokenIds?: Int32Array,
  ) {
    const { hiddenSize: d, numExperts: e } = config;
    this.x = x.toFloat32();
    this.numTokens = this.x.length / d;
    this.rows = sampleRows(this.numTokens, rowLimit);
    this.logits = referenceLinear(weights.router, this.x, this.numTokens);
    const params: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(weights.routerParams ?? {})) params[k] = v.toFloat32();
    const router = createRouter(config.router, { numExperts: e, topK: config.topK, params });
    this.decision = router.route({ logits: this.logits, numTokens: this.numTokens, numExperts: e, tokenIds });
    this.plan = buildRoutingPlan(this.decision, this.numTokens, e);
  }

  /** Shared-expert output of row t in float64 (zeros when the layer has none); routing-independent. */
  private sharedRow(t: number): Float64Array {
    let y = this.shared.get(t);
    if (y) return y;
    const { hiddenSize: d, sharedExperts } = this.config;
    y = new Float64Array(d);
    const experts = this.weights.shared ?? [];
    if (sharedExperts && experts.length) {
      let gate = 1;
      if (sharedExperts.gated && this.weights.sharedGate) {
        // The gate enters the plan as float32 on a backend; the reference rounds it the same way.
        gate = Math.fround(sigmoid(referenceLinear(this.weights.sharedGate, this.x.subarray(t * d, (t + 1) * d), 1)[0]));
      }
      for (const ex of experts) {
        const out = referenceExpertRow(this.config.expert.kind, ex, this.x, t * d, d, sharedExperts.ffnSize);
        for (let o = 0; o < d; o++) y[o] += gate * out[o];
      }
    }
    this.shared.set(t, y);
    return y;
  }

  /** Float64 output of row t under the given kept assignments. */
  private rowUnder(t: number, assignments: readonly { expert: number; weight: number }[]): Float64Array {
    const { hiddenSize: d, expert } = this.config;
    const y = Float64Array.from(this.sharedRow(t));
    const routed = new Float64Array(d);
    for (const { expert: e, weight } of assignments) {
      const out = referenceExpertRow(expert.kind, this.weights.experts[e], this.x, t * d, d, expert.ffnSize);
      for (let o = 0; o < d; o++) routed[o] += weight * out[o];
    }
    // Routed part first, then shared, as core's reference sums them.
    for (let o = 0; o < d; o++) y[o] += routed[o];
    return y;
  }

  private expectedRow(t: number): Float64Array {
    let y = this.expectedUnderReference.get(t);
    if (!y) {
      y = this.rowUnder(t, keptAssignments(this.plan, t));
      this.expectedUnderReference.set(t, y);
    }
    return y;
  }

  /** Computes every sample row now (so the first timed check does not pay for it). */
  prepare(): void {
    for (const t of this.rows) this.expectedRow(t);
  }

  /** Checks one forward result of this layer on this batch; `outputIndex` picks the rows (see {@link rowsForOutput}). */
  check(result: MoEForwardResult, tolerance: ScenarioTolerance, outputIndex = 0): OutputCheck {
    const d = this.config.hiddenSize;
    const rows = rowsForOutput(this.numTokens, this.rowLimit, outputIndex);
    const routing = compareRouting(result.plan, this.plan, this.decision, this.logits, tolerance.tieTolerance);
    const actual = new Float32Array(rows.length * d);
    const expected = new Float64Array(rows.length * d);
    rows.forEach((t, i) => {
      actual.set(result.output.data.subarray(t * d, (t + 1) * d), i * d);
      const mine = plannedExperts(result.plan, t);
      const theirs = plannedExperts(this.plan, t);
      expected.set(sameSet(mine, theirs) ? this.expectedRow(t) : this.rowUnder(t, keptAssignments(result.plan, t)), i * d);
    });
    const { relL2, maxAbs } = compareOutputs(actual, expected);
    const failures: string[] = [];
    if (!(relL2 <= tolerance.maxRelL2)) failures.push(`relative L2 error ${relL2.toExponential(3)} exceeds ${tolerance.maxRelL2}`);
    if (tolerance.maxAbs !== undefined && !(maxAbs <= tolerance.maxAbs)) failures.push(`max abs error ${maxAbs.toExponential(3)} exceeds ${tolerance.maxAbs}`);
    if (routing.mismatches > 0) {
      const ex = routing.examples[0];
      failures.push(`routing differs for ${routing.mismatches} of ${this.numTokens} token(s), e.g. token ${ex?.token}: expected experts [${ex?.expected}] got [${ex?.actual}]`);
    }
    return {
      relL2,
      maxAbs,
      routingAgreement: routing.agreement,
      nearTies: routing.nearTies,
      routingMismatches: routing.mismatches,
      rowsChecked: rows.length,
      rows,
      passed: failures.length === 0,
      failures,
    };
  }
}
