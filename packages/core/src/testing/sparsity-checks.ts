/** A check every backend package runs: an expert with no routed rows costs nothing. */
import type { Backend } from '../backend.js';
import { compareOutputs } from '../cross-validate.js';
import { referenceExperts } from '../reference.js';
import { buildRoutingPlan } from '../routing-plan.js';
import { createRng, randomNormal } from '../rng.js';
import { randomWeights, routedExpertGroup } from '../weights.js';
import type { ExpertKind } from '../expert.js';

/** What {@link sparseDispatch} observed. */
export interface SparseDispatch {
  /** The experts the plan gave rows, ascending. */
  readonly routed: number[];
  /** The experts the backend's `expertWork` recorded a dispatch for, ascending. */
  readonly launched: number[];
  /** Rows per expert of the group: as the plan routes them, and as the backend recorded them. */
  readonly planRows: number[];
  readonly computedRows: number[];
  /** rel-L2 of the output against the float64 reference (the rows computed are the right ones). */
  readonly relL2: number;
}

/** Options of {@link sparseDispatch}. */
export interface SparseDispatchOptions {
  readonly numExperts?: number;
  readonly tokens?: number;
  readonly kind?: ExpertKind;
  readonly seed?: number;
}

/**
 * Prepares a seeded group of `numExperts` experts on `backend` and runs a plan that routes
 * every token to two of only three experts (every other expert gets no rows), reading the
 * backend's `expertWork` before and after. Throws when the backend has no `expertWork` hook.
 */
export async function sparseDispatch(backend: Backend, options: SparseDispatchOptions = {}): Promise<SparseDispatch> {
  const { numExperts = 8, tokens = 5, kind = 'swiglu', seed = 11 } = options;
  const work = backend.expertWork;
  if (!work) throw new Error(`backend '${backend.name}' has no expertWork test hook`);
  const rng = createRng(seed);
  const config = { hiddenSize: 24, numExperts, topK: 2, expert: { kind, ffnSize: 40 }, router: { name: 'topk-softmax' } };
  const group = routedExpertGroup(config, randomWeights(config, { seed }));
  const chosen = [1, numExperts - 3, numExperts - 1];
  const token = new Int32Array(2 * tokens);
  const expert = new Int32Array(2 * tokens);
  for (let t = 0; t < tokens; t++) {
    const first = rng.int(3);
    token.set([t, t], 2 * t);
    expert.set([chosen[first], chosen[(first + 1 + rng.int(2)) % 3]], 2 * t);
  }
  const plan = buildRoutingPlan({ token, expert, weight: Float32Array.from(token, () => 0.25 + rng.next()) }, tokens, numExperts);
  const x = randomNormal(rng, tokens * 24);
  const prepared = await backend.prepareExperts(group);
  try {
    work.reset();
    const y = await backend.runExperts(prepared, x, plan);
    const all = Array.from({ length: numExperts }, (_, e) => e);
    return {
      routed: all.filter((e) => plan.tokensPerExpert[e] > 0),
      launched: work.launched(),
      planRows: Array.from(plan.tokensPerExpert),
      computedRows: all.map((e) => work.rowsOf(e)),
      relL2: compareOutputs(y, referenceExperts(group, x, plan)).relL2,
    };
  } finally {
    prepared.dispose();
  }
}
