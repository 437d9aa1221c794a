/**
 * The float64 reference: plain loops, obviously correct, no tricks. It is the oracle every
 * backend is checked against. Weights are decoded exactly from their stored format, so the
 * reference sees exactly the values the stored bytes mean.
 */
import type { ExpertGroup, ExpertWeights } from './expert.js';
import { ShapeError } from './errors.js';
import { activationOf, gatedUnitOf, sigmoid } from './expert.js';
import { checkRows, checkTokenIds } from './input-checks.js';
import { validateLayerConfig, type MoELayerConfig } from './layer-config.js';
import type { Router, RouterDecision } from './router.js';
import { createRouter } from './router-registry.js';
import { buildRoutingPlan, denseRoutingPlan, type RoutingPlan } from './routing-plan.js';
import { isBlockFormat } from './formats/block-formats.js';
import type { HostTensor } from './tensor.js';
import { routedExpertGroup, routerParamsOf, sharedExpertGroup, validateWeights, type MoEWeights } from './weights.js';

// Stored weights are decoded once per tensor, not once per row: element types widen exactly
// to float32, block formats decode exactly to float64 (a block value can need more than
// float32's 24 bits, e.g. q4_k's d*sc*q - dmin*m).
const decoded = new WeakMap<HostTensor, Float32Array | Float64Array>();
function values(t: HostTensor): Float32Array | Float64Array {
  let v = decoded.get(t);
  if (!v) decoded.set(t, (v = isBlockFormat(t.dtype) ? t.toFloat64() : t.toFloat32()));
  return v;
}

/** y `[rows, out]` = x `[rows, in]` W^T (+ b), W `[out, in]`, all in float64. */
export function referenceLinear(weight: HostTensor, x: ArrayLike<number>, rows: number, bias?: HostTensor): Float64Array {
  const [out, inF] = weight.shape;
  const w = values(weight);
  const b = bias && values(bias);
  const y = new Float64Array(rows * out);
  for (let i = 0; i < rows; i++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let c = 0; c < inF; c++) s += x[i * inF + c] * w[o * inF + c];
      y[i * out + o] = s;
    }
  }
  return y;
}

/** One expert FFN on one row, in float64. */
export function referenceExpertRow(kind: ExpertGroup['kind'], e: ExpertWeights, x: ArrayLike<number>, offset: number, d: number, f: number): Float64Array {
  const act = activationOf(kind);
  const unit = gatedUnitOf(kind);
  const up = values(e.up);
  const gate = e.gate && values(e.gate);
  const down = values(e.down);
  const upB = e.upBias && values(e.upBias);
  const gateB = e.gateBias && values(e.gateBias);
  const downB = e.downBias && values(e.downBias);
  const h = new Float64Array(f);
  for (let j = 0; j < f; j++) {
    let u = upB ? upB[j] : 0;
    for (let c = 0; c < d; c++) u += up[j * d + c] * x[offset + c];
    if (gate) {
      let g = gateB ? gateB[j] : 0;
      for (let c = 0; c < d; c++) g += gate[j * d + c] * x[offset + c];
      h[j] = unit(g, u);
    } else h[j] = act(u);
  }
  const y = new Float64Array(d);
  for (let o = 0; o < d; o++) {
    let s = downB ? downB[o] : 0;
    for (let j = 0; j < f; j++) s += down[o * f + j] * h[j];
    y[o] = s;
  }
  return y;
}

/** The grouped expert computation of a plan, in float64, summed in the plan's per-token order. */
export function referenceExperts(group: ExpertGroup, x: ArrayLike<number>, plan: RoutingPlan): Float64Array {
  const d = group.hiddenSize;
  const rowOut = new Map<number, Float64Array>();
  for (let ex = 0; ex < plan.numExperts; ex++) {
    for (let r = plan.expertOffsets[ex]; r < plan.expertOffsets[ex + 1]; r++) {
      rowOut.set(r, referenceExpertRow(group.kind, group.experts[ex], x, plan.rowToken[r] * d, d, group.ffnSize));
    }
  }
  const y = new Float64Array(plan.numTokens * d);
  for (let t = 0; t < plan.numTokens; t++) {
    for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) {
      const r = plan.tokenRows[s];
      const out = rowOut.get(r)!;
      const w = plan.rowWeight[r];
      for (let o = 0; o < d; o++) y[t * d + o] += w * out[o];
    }
  }
  return y;
}

/** Result of a reference forward pass. */
export interface ReferenceResult {
  /** `[T, D]` float64. */
  readonly output: Float64Array;
  /** `[T, E]` float64 logits. */
  readonly logits: Float64Array;
  readonly decision: RouterDecision;
  readonly plan: RoutingPlan;
}

/** Options of {@link referenceForward}. */
export interface ReferenceOptions {
  readonly tokenIds?: ArrayLike<number>;
  /** A router instance to use instead of the one `config.router` names. */
  readonly router?: Router;
  /**
   * Use this decision instead of routing (to compute the reference output under a backend's
   * routing when the two differ only at near-ties).
   */
  readonly decision?: RouterDecision;
}

/** The whole MoE layer in float64: router logits, routing, routed and shared experts. `x` is `[T, D]`. */
export function referenceForward(
  config: MoELayerConfig,
  weights: MoEWeights,
  x: HostTensor | Float32Array | Float64Array,
  options: ReferenceOptions = {},
): ReferenceResult {
  validateLayerConfig(config);
  validateWeights(config, weights);
  const { hiddenSize: d, numExperts: e } = config;
  // Float64 rows come from float64 callers (the reference decoder): kept in float64 throughout.
  if (x instanceof Float64Array && x.length % d !== 0) throw new ShapeError(`x has ${x.length} values, not a multiple of the row width ${d}`);
  const { rows: t, data } = x instanceof Float64Array ? { rows: x.length / d, data: x } : checkRows('x', x, d);
  const logits = referenceLinear(weights.router, data, t);
  let decision = options.decision;
  if (!decision) {
    const router = options.router ?? createRouter(config.router, { numExperts: e, topK: config.topK, params: routerParamsOf(weights) });
    decision = router.route({ logits, numTokens: t, numExperts: e, tokenIds: checkTokenIds(options.tokenIds, t) });
  }
  const plan = buildRoutingPlan(decision, t, e);
  const output = referenceExperts(routedExpertGroup(config, weights), data, plan);
  const shared = sharedExpertGroup(config, weights);
  if (shared) {
    let gate: Float32Array | undefined;
    // Gated only when the config says so, as MoELayer does (a gate tensor alone does not gate).
    if (config.sharedExperts?.gated && weights.sharedGate) {
      const g = referenceLinear(weights.sharedGate, data, t);
      // Gate weights enter the plan as float32, as they do on a backend.
      gate = Float32Array.from(g, sigmoid);
    }
    const s = referenceExperts(shared, data, denseRoutingPlan(t, shared.experts.length, gate));
    for (let i = 0; i < output.length; i++) output[i] += s[i];
  }
  return { output, logits, decision, plan };
}
