/**
 * What experts with no routed rows cost, and what each expert layout costs when most experts
 * are routed: a DeepSeek-V3-style layer (benchmarks/deepseek-mini: E=64, k=6, D=1024, F=512
 * SwiGLU, two shared experts, bfloat16 weights) at T=1 (58 of the 64 experts get no rows) and
 * T=16 (most experts get rows), with the layouts (`grouped`: one graph, every expert's FFN
 * dispatched on every run; `per-expert`: one session per routed expert; `auto/N`: graphs of N
 * experts, only those with routed experts run) and the dense-equivalent FFN, in one run:
 * warm-up, round-robin repeats, a fresh seeded input every pass, medians and paired ratios.
 *
 *   npx -y pnpm@12.21.0 --filter @moe-runtime/backend-onnx build
 *   cd packages/backend-onnx && npx tsc -p tsconfig.bench.json && node build/bench/zero-row-cost.js
 *
 * Environment: MOE_BENCH_THREADS (default 1), MOE_BENCH_REPEATS (default 60),
 * MOE_BENCH_TOKENS (default 1,16).
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { denseEquivalentConfig, MoELayer, randomInput, randomWeights, type MoELayerConfig } from '@moe-runtime/core';
import { OnnxBackend, ORT_VERSION, type OnnxBackendOptions } from '../src/index.js';
import { quantile, roundRobin } from './stats.js';

const config: MoELayerConfig = {
  hiddenSize: 1024,
  numExperts: 64,
  topK: 6,
  expert: { kind: 'swiglu', ffnSize: 512 },
  sharedExperts: { count: 2, ffnSize: 512 },
  router: { name: 'sigmoid-group-topk', options: { nGroup: 8, topkGroup: 4, normTopkProb: true, routedScalingFactor: 2.5 } },
};
const LAYOUTS: Readonly<Record<string, OnnxBackendOptions>> = {
  grouped: { expertGraph: 'grouped' },
  'per-expert': { expertGraph: 'per-expert' },
  'auto/4': { expertGraph: 'auto', expertsPerGraph: 4 },
  'auto/8': { expertGraph: 'auto' },
};
const THREADS = Number(process.env.MOE_BENCH_THREADS ?? 1);
const REPEATS = Number(process.env.MOE_BENCH_REPEATS ?? 60);
const TOKENS = (process.env.MOE_BENCH_TOKENS ?? '1,16').split(',').map(Number);
const WARMUP = 5;

async function main(): Promise<void> {
  console.log(`# backend-onnx expert layouts, ${new Date().toISOString()}`);
  console.log(`onnxruntime-node ${ORT_VERSION}; node ${process.version}; ${cpus()[0]?.model} x ${availableParallelism()} (shared with other work); intraOpThreads ${THREADS}; load average ${loadavg()[0].toFixed(1)}`);
  console.log(`layer: deepseek-mini (E=${config.numExperts} k=${config.topK} D=${config.hiddenSize} F=${config.expert.ffnSize}, 2 shared, bfloat16); dense: F=${config.topK * config.expert.ffnSize} + shared`);
  const weights = randomWeights(config, { seed: 3, dtype: 'bfloat16' });
  const dense = denseEquivalentConfig(config);
  const denseWeights = randomWeights(dense, { seed: 4, dtype: 'bfloat16' });
  const backends = await Promise.all(Object.values(LAYOUTS).map((o) => OnnxBackend.create({ intraOpThreads: THREADS, ...o })));
  const layers = await Promise.all(backends.map((backend) => MoELayer.create({ config, weights, backend })));
  layers.push(await MoELayer.create({ config: dense, weights: denseWeights, backend: backends[0] }));
  const names = [...Object.keys(LAYOUTS), 'dense'];
  const n = names.length - 1;
  for (const t of TOKENS) {
    // A fresh input per pass (warm-up included); every variant of a round sees the same input.
    const inputs = Array.from({ length: WARMUP + REPEATS }, (_, i) => randomInput(t, config.hiddenSize, 7000 + 100 * t + i));
    for (let i = 0; i < WARMUP; i++) for (const layer of layers) await layer.forward(inputs[REPEATS + i]);
    const samples = await roundRobin(
      layers.map((layer) => (round: number) => layer.forward(inputs[round])),
      0,
      REPEATS,
    );
    const paired = (a: number, b: number): number => quantile(samples[a].map((v, r) => v / samples[b][r]), 0.5);
    names.forEach((name, i) => {
      const vsDense = i < n ? `  / dense ${paired(i, n).toFixed(2)}x  / grouped ${paired(i, 0).toFixed(2)}x` : '';
      console.log(`T=${t} ${name.padEnd(10)} median ${quantile(samples[i], 0.5).toFixed(2)} ms  p10 ${quantile(samples[i], 0.1).toFixed(2)}  p90 ${quantile(samples[i], 0.9).toFixed(2)}${vsDense}`);
    });
  }
  console.log(`(ratios: paired medians over ${REPEATS} rounds; load average at end ${loadavg()[0].toFixed(1)})`);
  for (const layer of layers) layer.dispose();
  for (const b of backends) await b.dispose();
}

await main();
