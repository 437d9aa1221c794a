/**
 * One call that checks a forward result against the float64 reference: what tests of every
 * backend, the benchmark harness and the demo use.
 */
import { compareOutputs, compareRouting } from './cross-validate.js';
import type { MoELayerConfig } from './layer-config.js';
import type { MoEForwardResult } from './moe-layer.js';
import { referenceForward } from './reference.js';
import type { Router } from './router.js';
import type { HostTensor } from './tensor.js';
import type { MoEWeights } from './weights.js';

/** Tolerances of a check (defaults: the float32 policy). */
export interface ReferenceCheckOptions {
  /** Largest relative L2 error that passes. Default 1e-5 (float32 compute). */
  readonly maxRelL2?: number;
  /** Largest max-abs error that passes. Default: unbounded (rel-L2 decides). */
  readonly maxAbs?: number;
  /** Score gap under which a routing difference counts as a near-tie. Default 1e-4. */
  readonly tieTolerance?: number;
  readonly tokenIds?: ArrayLike<number>;
  /** The router the layer used, when it was given as an instance rather than by config. */
  readonly router?: Router;
}

/** The verdict of a check. */
export interface ReferenceCheck {
  readonly relL2: number;
  readonly maxAbs: number;
  /** Share of tokens with identical kept expert sets. */
  readonly routingAgreement: number;
  readonly nearTies: number;
  readonly routingMismatches: number;
  readonly passed: boolean;
  /** Why it failed (empty when passed). */
  readonly failures: readonly string[];
}

/**
 * Checks `result` (a forward pass of `config`/`weights` on `x`) against the float64 reference.
 * Where routing differs only at near-ties, the output is compared with the reference computed
 * under the backend's routing, so a tie does not masquerade as a numeric error.
 */
export function checkAgainstReference(
  config: MoELayerConfig,
  weights: MoEWeights,
  x: HostTensor | Float32Array,
  result: MoEForwardResult,
  options: ReferenceCheckOptions = {},
): ReferenceCheck {
  const maxRelL2 = options.maxRelL2 ?? 1e-5;
  const ref = referenceForward(config, weights, x, { tokenIds: options.tokenIds, router: options.router });
  const routing = compareRouting(result.plan, ref.plan, ref.decision, ref.logits, options.tieTolerance ?? 1e-4);
  const sameRouting = routing.mismatches === 0 && routing.nearTies === 0;
  const expected = sameRouting ? ref.output : referenceForward(config, weights, x, { decision: result.decision }).output;
  const { relL2, maxAbs } = compareOutputs(result.output.data, expected);
  const failures: string[] = [];
  if (!(relL2 <= maxRelL2)) failures.push(`relative L2 error ${relL2.toExponential(3)} exceeds ${maxRelL2}`);
  if (options.maxAbs !== undefined && !(maxAbs <= options.maxAbs)) failures.push(`max abs error ${maxAbs.toExponential(3)} exceeds ${options.maxAbs}`);
  if (routing.mismatches > 0) {
    const ex = routing.examples[0];
    failures.push(`routing differs for ${routing.mismatches} token(s), e.g. token ${ex?.token}: expected experts [${ex?.expected}] got [${ex?.actual}]`);
  }
  return {
    relL2,
    maxAbs,
    routingAgreement: routing.agreement,
    nearTies: routing.nearTies,
    routingMismatches: routing.mismatches,
    passed: failures.length === 0,
    failures,
  };
}
