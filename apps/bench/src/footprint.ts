/**
 * A scenario's memory footprint, checked before anything is allocated: a typo such as
 * `hiddenSize: 1e9` or `tokens: [1e12]` must be a clear error up front, not minutes of filling
 * random weights followed by an out-of-memory crash of the whole run (and of the machine's
 * other jobs).
 */
import { ConfigError } from '@moe-runtime/core';
import type { Scenario } from './scenario.js';
import { dtypeBytes, layerParameters } from './weight-traffic.js';
import { denseConfigOf } from './workload.js';

/**
 * Estimated peak bytes of a scenario: the MoE and dense weights in their storage dtype, one
 * float32 copy of both (what a backend prepares), and the float32 activations of the largest
 * batch (input, output, expert rows and the float64 reference rows: a generous 16 rows of D).
 */
export function scenarioBytes(s: Scenario): number {
  const params = layerParameters(s.layer) + layerParameters(denseConfigOf(s.layer));
  const maxT = Math.max(...s.tokens);
  const ffn = Math.max(s.layer.expert.ffnSize * s.layer.topK, s.layer.sharedExperts?.ffnSize ?? 0);
  const activations = 4 * maxT * (16 * s.layer.hiddenSize + 2 * ffn);
  return params * (dtypeBytes(s.weightDtype) + 4) + activations;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toPrecision(3)} GiB`;
}

/** Throws a ConfigError naming the field to shrink when the scenario cannot fit in `availableBytes`. */
export function checkFootprint(s: Scenario, availableBytes: number): void {
  const need = scenarioBytes(s);
  if (need <= availableBytes) return;
  // Blame the batch when the weights alone would fit.
  const weightsOnly = scenarioBytes({ ...s, tokens: [1] });
  const field = weightsOnly <= availableBytes ? 'tokens' : 'layer';
  const what = field === 'tokens' ? `T=${Math.max(...s.tokens)} tokens of hiddenSize ${s.layer.hiddenSize}` : `its layer (hiddenSize ${s.layer.hiddenSize}, ffnSize ${s.layer.expert.ffnSize}, ${s.layer.numExperts} experts)`;
  throw new ConfigError(field, `scenario '${s.name}' needs about ${gib(need)} for ${what}; this machine has ${gib(availableBytes)}: expected a smaller ${field}`);
}
