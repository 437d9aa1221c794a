/**
 * Statistics of one routing: how tokens spread over experts, what was dropped, and the usual
 * load-balancing figures. Computed from the logits and the plan, so they are the same for
 * every router and every backend.
 */
import type { Logits, RouterDecision } from './router.js';
import type { RoutingPlan } from './routing-plan.js';

/** Statistics of one forward pass's routing. */
export interface RoutingStats {
  readonly numTokens: number;
  readonly numExperts: number;
  /** Kept (token, expert) rows per expert. */
  readonly tokensPerExpert: number[];
  /** Assignments the router made, before capacity. */
  readonly assignments: number;
  /** Assignments removed by capacity. */
  readonly droppedAssignments: number;
  /** Tokens the router assigned but capacity left with no expert at all (routed output 0). */
  readonly droppedTokens: number;
  /**
   * Tokens with no kept expert for any reason (dropped, or never chosen, as expert-choice
   * routing may leave a token): their routed output is 0.
   */
  readonly unroutedTokens: number;
  /** The per-expert capacity the router asked for, if any. */
  readonly capacity?: number;
  /** Largest kept load over the mean kept load (1 = perfectly balanced). */
  readonly maxOverMeanLoad: number;
  readonly maxLoad: number;
  readonly meanLoad: number;
  /** Coefficient of variation (std / mean) of the kept load per expert. */
  readonly loadCv: number;
  /** Entropy (nats) of the distribution of assignments over experts; ln E is perfectly uniform. */
  readonly loadEntropy: number;
  /** Mean entropy (nats) of each token's softmax over experts. */
  readonly meanRouterEntropy: number;
  /**
   * Switch Transformer auxiliary loss E * sum_i f_i P_i, with f_i the share of assignments (before
   * capacity) sent to expert i and P_i the mean softmax probability of expert i; 1 when uniform.
   */
  readonly auxLoss: number;
  /** Router z-loss (ST-MoE): mean over tokens of logsumexp(logits)^2. */
  readonly zLoss: number;
}

/** Computes the statistics of a routing. */
export function computeRoutingStats(logits: Logits, decision: RouterDecision, plan: RoutingPlan): RoutingStats {
  const t = plan.numTokens;
  const e = plan.numExperts;
  const meanProb = new Float64Array(e);
  let zLoss = 0;
  let routerEntropy = 0;
  for (let i = 0; i < t; i++) {
    const o = i * e;
    let max = -Infinity;
    for (let j = 0; j < e; j++) max = Math.max(max, logits[o + j]);
    let sum = 0;
    for (let j = 0; j < e; j++) sum += Math.exp(logits[o + j] - max);
    const lse = max + Math.log(sum);
    zLoss += lse * lse;
    for (let j = 0; j < e; j++) {
      const p = Math.exp(logits[o + j] - lse);
      meanProb[j] += p / t;
      if (p > 0) routerEntropy -= p * Math.log(p);
    }
  }
  const assigned = new Float64Array(e);
  for (let a = 0; a < decision.expert.length; a++) assigned[decision.expert[a]]++;
  const n = decision.expert.length;
  let aux = 0;
  let loadEntropy = 0;
  for (let j = 0; j < e; j++) {
    const f = n ? assigned[j] / n : 0;
    aux += f * meanProb[j];
    if (f > 0) loadEntropy -= f * Math.log(f);
  }
  const load = Array.from(plan.tokensPerExpert);
  const meanLoad = load.reduce((s, v) => s + v, 0) / e;
  const maxLoad = Math.max(...load);
  const variance = load.reduce((s, v) => s + (v - meanLoad) ** 2, 0) / e;
  let droppedTokens = 0;
  let unroutedTokens = 0;
  const hadAssignment = new Uint8Array(t);
  for (let a = 0; a < n; a++) hadAssignment[decision.token[a]] = 1;
  for (let i = 0; i < t; i++) {
    if (plan.tokenOffsets[i + 1] !== plan.tokenOffsets[i]) continue;
    unroutedTokens++;
    if (hadAssignment[i]) droppedTokens++;
  }
  return {
    numTokens: t,
    numExperts: e,
    tokensPerExpert: load,
    assignments: n,
    droppedAssignments: plan.dropped.token.length,
    droppedTokens,
    unroutedTokens,
    capacity: plan.capacity,
    maxLoad,
    meanLoad,
    maxOverMeanLoad: meanLoad > 0 ? maxLoad / meanLoad : 0,
    loadCv: meanLoad > 0 ? Math.sqrt(variance) / meanLoad : 0,
    loadEntropy,
    meanRouterEntropy: t ? routerEntropy / t : 0,
    auxLoss: e * aux,
    zLoss: t ? zLoss / t : 0,
  };
}
