/**
 * The example end to end: register the custom router, build a seeded MoE layer on a backend
 * chosen by name, run it, and check the result against the float64 reference.
 */
import {
  BackendUnavailableError,
  checkAgainstReference,
  createRuntime,
  loadBackendPackage,
  randomInput,
  randomWeights,
  type ModuleImporter,
  type MoELayerConfig,
  type ReferenceCheck,
  type RoutingStats,
} from '@moe-runtime/core';
import { registerTopPRouter } from './top-p-router.js';

/** What one run of the example reports. */
export interface ExampleResult {
  readonly backend: string;
  readonly engine: string;
  readonly stats: RoutingStats;
  /** expertsPerToken[n] = number of tokens that used n experts. */
  readonly expertsPerToken: number[];
  readonly check: ReferenceCheck;
}

/** The layer the example builds: Mixtral-shaped, small enough to run anywhere in a second. */
export const EXAMPLE_CONFIG: MoELayerConfig = {
  hiddenSize: 64,
  numExperts: 8,
  topK: 4,
  expert: { kind: 'swiglu', ffnSize: 128 },
  router: { name: 'top-p', options: { topP: 0.6 } },
};

/**
 * Makes sure backend `name` is registered: backends register when their package is imported,
 * so its package (core's BACKEND_PACKAGES) is imported first. A package that is not installed,
 * or a name no package registers, is left to createRuntime (it names the registered backends);
 * one that is installed but fails to load (a missing native library) is a
 * BackendUnavailableError with the real reason. `importer` is for tests.
 */
export async function loadBackend(name: string, importer: ModuleImporter = (s) => import(s)): Promise<void> {
  const load = await loadBackendPackage(name, importer);
  if (load.status === 'failed') throw new BackendUnavailableError([{ name, reason: load.reason ?? 'failed to load' }]);
}

/** Runs the example on backend `backendName` with `numTokens` seeded random tokens. */
export async function runExample(backendName = 'cpu', numTokens = 32, config: MoELayerConfig = EXAMPLE_CONFIG): Promise<ExampleResult> {
  registerTopPRouter();
  await loadBackend(backendName);
  const runtime = await createRuntime({ backend: backendName });
  const weights = randomWeights(config, { seed: 1 });
  const x = randomInput(numTokens, config.hiddenSize, 2);
  const layer = await runtime.createLayer(config, weights);
  try {
    const result = await layer.forward(x);
    const expertsPerToken = new Array<number>(config.numExperts + 1).fill(0);
    for (let t = 0; t < numTokens; t++) expertsPerToken[result.plan.tokenOffsets[t + 1] - result.plan.tokenOffsets[t]]++;
    const check = checkAgainstReference(config, weights, x, result);
    return { backend: runtime.backend.name, engine: runtime.backend.engine, stats: result.stats, expertsPerToken, check };
  } finally {
    layer.dispose();
  }
}

/** A short human-readable report of a run. */
export function formatResult(r: ExampleResult): string {
  const s = r.stats;
  const used = r.expertsPerToken.map((count, n) => (count ? `${n} expert${n === 1 ? '' : 's'}: ${count}` : '')).filter(Boolean);
  return [
    `backend ${r.backend} (${r.engine})`,
    `router top-p: ${s.numTokens} tokens, ${s.assignments} assignments (${(s.assignments / s.numTokens).toFixed(2)} experts per token; ${used.join(', ')})`,
    `tokens per expert [${s.tokensPerExpert.join(', ')}]  max/mean ${s.maxOverMeanLoad.toFixed(3)}  CV ${s.loadCv.toFixed(3)}`,
    `load entropy ${s.loadEntropy.toFixed(3)} nats (uniform ${Math.log(s.numExperts).toFixed(3)})  router entropy ${s.meanRouterEntropy.toFixed(3)}  aux loss ${s.auxLoss.toFixed(3)}  z-loss ${s.zLoss.toFixed(3)}`,
    `float64 reference: rel-L2 ${r.check.relL2.toExponential(2)}  max abs ${r.check.maxAbs.toExponential(2)}  routing agreement ${(100 * r.check.routingAgreement).toFixed(1)}% (near-ties ${r.check.nearTies})  ${r.check.passed ? 'PASS' : `FAIL: ${r.check.failures.join('; ')}`}`,
  ].join('\n');
}
