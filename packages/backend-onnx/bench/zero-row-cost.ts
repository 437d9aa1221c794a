/**
 * What experts with no routed rows cost: a DeepSeek-V3-style layer (benchmarks/deepseek-mini:
 * E=64, k=6, D=1024, F=512 SwiGLU, two shared experts, bfloat16 weights) at T=1, where 58 of the
 * 64 experts get no rows, on this backend with the old layout (`grouped`: one graph, every
 * expert's subgraph dispatched on every run) and the new default (`auto`: one session per
 * expert past 8 experts, only routed experts run), in one run: warm-up, round-robin repeats,
 * a fresh seeded token every pass, medians and the paired ratio.
 *
 *   npx -y pnpm@12.21.0 --filter @moe-runtime/backend-onnx build
 *   cd packages/backend-onnx && npx tsc -p tsconfig.bench.json && node build/bench/zero-row-cost.js
 *
 * Environment: MOE_BENCH_THREADS (default 1), MOE_BENCH_REPEATS (default 60).
 */
import { availableParallelism, cpus } from 'node:os';
import { MoELayer, randomInput, randomWeights, type MoELayerConfig } from '@moe-runtime/core';
import { OnnxBackend, ORT_VERSION, type ExpertGraphLayout } from '../src/index.js';
import { quantile, roundRobin } from './stats.js';

const config: MoELayerConfig = {
  hiddenSize: 1024,
  numExperts: 64,
  topK: 6,
  expert: { kind: 'swiglu', ffnSize: 512 },
  sharedExperts: { count: 2, ffnSize: 512 },
  router: { name: 'sigmoid-group-topk', options: { nGroup: 8, topkGroup: 4, normTopkProb: true, routedScalingFactor: 2.5 } },
};
const LAYOUTS: readonly ExpertGraphLayout[] = ['grouped', 'auto'];
const THREADS = Number(process.env.MOE_BENCH_THREADS ?? 1);
const REPEATS = Number(process.env.MOE_BENCH_REPEATS ?? 60);
const WARMUP = 5;

async function main(): Promise<void> {
  console.log(`# backend-onnx zero-row cost, ${new Date().toISOString()}`);
  console.log(`onnxruntime-node ${ORT_VERSION}; node ${process.version}; ${cpus()[0]?.model} x ${availableParallelism()} (shared with other work); intraOpThreads ${THREADS}`);
  console.log(`layer: deepseek-mini (E=${config.numExperts} k=${config.topK} D=${config.hiddenSize} F=${config.expert.ffnSize}, 2 shared, bfloat16), T=1`);
  const weights = randomWeights(config, { seed: 3, dtype: 'bfloat16' });
  const backends = await Promise.all(LAYOUTS.map((expertGraph) => OnnxBackend.create({ intraOpThreads: THREADS, expertGraph })));
  const layers = await Promise.all(backends.map((backend) => MoELayer.create({ config, weights, backend })));
  // A fresh token per pass (warm-up included); both layouts of one round see the same token.
  const tokens = Array.from({ length: WARMUP + REPEATS }, (_, i) => randomInput(1, config.hiddenSize, 7000 + i));
  for (let i = 0; i < WARMUP; i++) for (const layer of layers) await layer.forward(tokens[REPEATS + i]);
  const variants = layers.map((layer) => (round: number) => layer.forward(tokens[round]));
  const samples = await roundRobin(variants, 0, REPEATS);
  LAYOUTS.forEach((layout, i) => {
    console.log(`${layout.padEnd(8)} median ${quantile(samples[i], 0.5).toFixed(2)} ms  p10 ${quantile(samples[i], 0.1).toFixed(2)}  p90 ${quantile(samples[i], 0.9).toFixed(2)}`);
  });
  const paired = quantile(samples[0].map((v, r) => v / samples[1][r]), 0.5);
  console.log(`grouped / auto (paired median of ${REPEATS} rounds): ${paired.toFixed(2)}x`);
  for (const layer of layers) layer.dispose();
  for (const b of backends) await b.dispose();
}

await main();
