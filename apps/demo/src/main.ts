#!/usr/bin/env node
/**
 * The quick demo: a seeded Mixtral-shaped MoE layer (E=8, k=2, D=1024, F=3584) on a backend
 * (default `cpu`, or the name given as the first argument), run on 16 tokens, with the output
 * summary, the routing statistics and the agreement with the float64 reference.
 */
import '@moe-runtime/backend-cpu';
import {
  checkAgainstReference,
  createRuntime,
  errorMessage,
  listBackends,
  randomInput,
  randomWeights,
  type MoELayerConfig,
  type RoutingStats,
} from '@moe-runtime/core';

const config: MoELayerConfig = {
  hiddenSize: 1024,
  numExperts: 8,
  topK: 2,
  expert: { kind: 'swiglu', ffnSize: 3584 },
  router: { name: 'topk-softmax', options: { renormalize: true } },
};
const TOKENS = 16;

function summarise(values: Float32Array): string {
  let sum = 0;
  let sq = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    sq += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / values.length;
  const std = Math.sqrt(sq / values.length - mean * mean);
  return `mean ${mean.toFixed(5)}  std ${std.toFixed(5)}  min ${min.toFixed(4)}  max ${max.toFixed(4)}`;
}

function printStats(stats: RoutingStats): void {
  console.log(`  tokens per expert   ${stats.tokensPerExpert.join(' ')}`);
  console.log(`  max/mean load       ${stats.maxOverMeanLoad.toFixed(3)}   CV ${stats.loadCv.toFixed(3)}`);
  console.log(`  dropped             ${stats.droppedAssignments} assignments, ${stats.droppedTokens} tokens`);
  console.log(`  load entropy        ${stats.loadEntropy.toFixed(4)} nats (uniform: ${Math.log(stats.numExperts).toFixed(4)})`);
  console.log(`  aux loss ${stats.auxLoss.toFixed(4)}   z-loss ${stats.zLoss.toFixed(4)}`);
}

/**
 * Backends register when their package is imported: only cpu is imported up front, so the
 * others' native runtimes load only when asked for. An unknown name is left to createRuntime,
 * which names the registered backends.
 */
async function loadBackend(name: string): Promise<void> {
  if (listBackends().some((b) => b.name === name)) return;
  const packages: Record<string, () => Promise<unknown>> = {
    gpujs: () => import('@moe-runtime/backend-gpujs'),
    onnx: () => import('@moe-runtime/backend-onnx'),
    tfjs: () => import('@moe-runtime/backend-tfjs'),
  };
  await packages[name]?.();
}

async function main(): Promise<number> {
  const backendName = process.argv[2] ?? 'cpu';
  await loadBackend(backendName);
  const runtime = await createRuntime({ backend: backendName });
  console.log(`moe-runtime demo: Mixtral-shaped layer E=${config.numExperts} k=${config.topK} D=${config.hiddenSize} F=${config.expert.ffnSize}`);
  console.log(`backend: ${runtime.backend.name} (${runtime.backend.engine})`);
  const weights = randomWeights(config, { seed: 42 });
  const layer = await runtime.createLayer(config, weights);
  const x = randomInput(TOKENS, config.hiddenSize, 7);
  await layer.forward(x); // warm-up: first calls compile kernels
  const started = performance.now();
  const result = await layer.forward(x);
  const ms = performance.now() - started;
  console.log(`\nforward of ${TOKENS} tokens: ${ms.toFixed(2)} ms`);
  console.log(`output [${result.output.shape.join(', ')}]  ${summarise(result.output.data)}`);
  console.log('\nrouting');
  printStats(result.stats);
  const check = checkAgainstReference(config, weights, x, result);
  console.log('\nagainst the float64 reference');
  console.log(`  relative L2 error   ${check.relL2.toExponential(3)}   max abs error ${check.maxAbs.toExponential(3)}`);
  console.log(`  routing agreement   ${(check.routingAgreement * 100).toFixed(1)}%   near-ties ${check.nearTies}`);
  console.log(`  verdict             ${check.passed ? 'PASS' : `FAIL: ${check.failures.join('; ')}`}`);
  layer.dispose();
  await runtime.backend.dispose();
  return check.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${errorMessage(err)}`);
    process.exit(1);
  },
);
