/**
 * Benchmark on the wasm engine, in one run and on the same inputs: the MoE layer (E=8, k=2,
 * D=1024, F=3584, SwiGLU) against the dense SwiGLU FFN with the same active parameters
 * (F=7168, core's denseEquivalentConfig) and against the naive all-experts-with-mask
 * formulation, at T = 1, 16, 256. Run it alone (nothing else heavy on the
 * machine); the ratios are what to read, since absolute times depend on the load.
 *
 * Environment: MOE_BENCH_TOKENS=1,16,256  MOE_BENCH_REPS=<n>  MOE_BENCH_ENGINE=wasm
 */
import {
  activeExpertFlopsPerToken,
  buildRoutingPlan,
  compareOutputs,
  denseEquivalentConfig,
  MoELayer,
  randomInput,
  randomWeights,
  routedExpertGroup,
  type MoELayerConfig,
} from '@moe-runtime/core';
import { TfjsBackend, type TfjsEngine } from '../src/index.js';
import type { TfjsExperts } from '../src/prepared.js';
import { denseRoutingWeights, naiveMaskedExperts } from './naive-masked.js';

const CONFIG: MoELayerConfig = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };
const TOKENS = (process.env.MOE_BENCH_TOKENS ?? '1,16,256').split(',').map(Number);
const ENGINE = (process.env.MOE_BENCH_ENGINE ?? 'wasm') as TfjsEngine;

function reps(t: number): number {
  const fixed = Number(process.env.MOE_BENCH_REPS);
  if (fixed > 0) return fixed;
  return t <= 1 ? 120 : t <= 16 ? 30 : 6;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

const fmt = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));

async function main(): Promise<void> {
  const backend = await TfjsBackend.create({ engine: ENGINE });
  const denseConfig = denseEquivalentConfig(CONFIG);
  console.log(`# tfjs backend benchmark: ${backend.engine}`);
  console.log(`MoE: E=${CONFIG.numExperts} k=${CONFIG.topK} D=${CONFIG.hiddenSize} F=${CONFIG.expert.ffnSize} SwiGLU; dense: F=${denseConfig.expert.ffnSize}; ${new Date().toISOString()}`);
  const moeWeights = randomWeights(CONFIG, { seed: 1 });
  const moe = await MoELayer.create({ config: CONFIG, weights: moeWeights, backend });
  // The naive baseline reuses the very tensors the MoE layer holds.
  const prepared = (await backend.prepareExperts(routedExpertGroup(CONFIG, moeWeights))) as TfjsExperts;
  const dense = await MoELayer.create({ config: denseConfig, weights: randomWeights(denseConfig, { seed: 2 }), backend });
  const flopsPerToken = activeExpertFlopsPerToken(CONFIG);

  console.log('\n| T | MoE ms (p10-p90) | dense ms (p10-p90) | naive ms (p10-p90) | MoE/dense | paired MoE/dense | naive/MoE | MoE tokens/s | MoE active GFLOP/s | experts hit |');
  console.log('|---:|---|---|---|---:|---:|---:|---:|---:|---:|');
  for (const t of TOKENS) {
    const x = randomInput(t, CONFIG.hiddenSize, 100 + t);
    const first = await moe.forward(x);
    const plan = buildRoutingPlan(first.decision, t, CONFIG.numExperts);
    const mask = denseRoutingWeights(plan);
    const naiveOut = await naiveMaskedExperts(prepared, x.data, mask, t); // warm-up + sanity check
    const agreement = compareOutputs(naiveOut, first.output.data).relL2;
    if (!(agreement < 1e-4)) throw new Error(`naive and MoE outputs differ (relL2 ${agreement})`);
    await dense.forward(x);
    const runs = { moe: [] as number[], dense: [] as number[], naive: [] as number[] };
    for (let i = 0; i < reps(t); i++) {
      // Rotate the order so drift from other load on the machine hits all three alike.
      const order = [
        ['moe', () => moe.forward(x)],
        ['dense', () => dense.forward(x)],
        ['naive', () => naiveMaskedExperts(prepared, x.data, mask, t)],
      ] as const;
      for (let j = 0; j < 3; j++) {
        const [name, f] = order[(i + j) % 3];
        runs[name].push(await time(f));
      }
    }
    const m = quantile(runs.moe, 0.5);
    const dn = quantile(runs.dense, 0.5);
    const nv = quantile(runs.naive, 0.5);
    const span = (xs: number[]) => `${fmt(quantile(xs, 0.5))} (${fmt(quantile(xs, 0.1))}-${fmt(quantile(xs, 0.9))})`;
    // The median of per-repetition ratios: each pair ran back to back, so slow load drift cancels.
    const paired = quantile(runs.moe.map((v, i) => v / runs.dense[i]), 0.5);
    const hit = Array.from(plan.tokensPerExpert).filter((n) => n > 0).length;
    console.log(
      `| ${t} | ${span(runs.moe)} | ${span(runs.dense)} | ${span(runs.naive)} | ${(m / dn).toFixed(2)} | ${paired.toFixed(2)} | ${(nv / m).toFixed(2)}x | ${((t * 1000) / m).toFixed(0)} | ${((t * flopsPerToken) / m / 1e6).toFixed(1)} | ${hit}/${CONFIG.numExperts} |`,
    );
  }
  console.log('\nMoE and dense: full MoELayer.forward (router + routing + experts + read-back). Naive: experts only (router excluded, which favours it).');
  prepared.dispose();
  moe.dispose();
  dense.dispose();
  await backend.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
