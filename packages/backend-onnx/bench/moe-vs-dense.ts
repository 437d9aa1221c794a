/**
 * Benchmark of the onnx backend on a Mixtral-shaped layer (E=8, k=2, D=1024, F=3584, SwiGLU):
 *
 * - `moe`: this backend's MoE layer (router linear + routing + one grouped expert graph run);
 * - `moe per-expert`: the same with one session per expert (the alternative layout);
 * - `ms.MoE`: onnxruntime's `com.microsoft.MoE` contrib operator on the same weights (router
 *   linear on this backend, then the operator, which routes by itself);
 * - `dense`: a dense SwiGLU FFN with the active parameter count (F = k x 3584 = 7168, core's
 *   `denseEquivalentConfig`) through the same backend and layer code.
 *
 * T = 1, 16, 256 tokens, 1 and 2 intra-op threads; warm-up, round-robin repeats, medians.
 * Run it alone (other work on the machine skews the times); read the ratios, which are
 * measured in one run on the same inputs.
 */
import { availableParallelism, cpus } from 'node:os';
import {
  activeExpertFlopsPerToken,
  denseEquivalentConfig,
  MoELayer,
  randomInput,
  randomWeights,
  routedExpertGroup,
  buildRoutingPlan,
  combineRows,
  gatherExpertRows,
  createRouter,
  type MoELayerConfig,
} from '@moe-runtime/core';
import { MicrosoftMoEOperator, OnnxBackend, ORT_VERSION } from '../src/index.js';
import { quantile, roundRobin, timeMs } from './stats.js';

const config: MoELayerConfig = {
  hiddenSize: 1024,
  numExperts: 8,
  topK: 2,
  expert: { kind: 'swiglu', ffnSize: 3584 },
  router: { name: 'topk-softmax' },
};
const TOKENS = (process.env.MOE_BENCH_TOKENS ?? '1,16,256').split(',').map(Number);
const THREADS = (process.env.MOE_BENCH_THREADS ?? '1,2').split(',').map(Number);
const VARIANTS = ['moe', 'moe per-expert', 'ms.MoE', 'dense'] as const;
/** Distinct inputs cycled over the rounds. */
const INPUTS = 12;

function repeatsFor(t: number): number {
  return t >= 256 ? 12 : t >= 16 ? 36 : 96;
}

async function main(): Promise<void> {
  const d = config.hiddenSize;
  console.log(`# backend-onnx benchmark, ${new Date().toISOString()}`);
  console.log(`onnxruntime-node ${ORT_VERSION}; node ${process.version}; ${cpus()[0]?.model} x ${availableParallelism()} (shared with other work)`);
  console.log(`layer: E=${config.numExperts} k=${config.topK} D=${d} F=${config.expert.ffnSize} swiglu; dense: F=${config.topK * config.expert.ffnSize}\n`);
  const t0 = Date.now();
  const weights = randomWeights(config, { seed: 1 });
  const denseConfig = denseEquivalentConfig(config);
  const denseWeights = randomWeights(denseConfig, { seed: 2 });
  console.log(`weights drawn in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const flopsPerToken = activeExpertFlopsPerToken(config);

  const rows: string[] = [];
  rows.push('| threads | T | moe ms | moe per-expert ms | ms.MoE ms | dense ms | moe / ms.MoE (paired median) | moe / dense (paired median) | moe tok/s | moe GFLOP/s |');
  rows.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const threads of THREADS) {
    const opts = { intraOpThreads: threads };
    const tPrep = Date.now();
    const backend = await OnnxBackend.create(opts);
    const perExpert = await OnnxBackend.create({ ...opts, expertGraph: 'per-expert' });
    const moe = await MoELayer.create({ config, weights, backend });
    const moePer = await MoELayer.create({ config, weights: weights, backend: perExpert });
    const dense = await MoELayer.create({ config: denseConfig, weights: denseWeights, backend });
    const router = await backend.prepareLinear({ weight: weights.router });
    const op = await MicrosoftMoEOperator.create(routedExpertGroup(config, weights), { k: config.topK, normalizeRoutingWeights: true }, opts);
    console.log(`threads=${threads}: sessions prepared in ${((Date.now() - tPrep) / 1000).toFixed(1)} s`);
    for (const t of TOKENS) {
      // Fresh tokens every round (all variants of a round share them): decode meets new
      // tokens each step, and which experts one token picks changes how the operator's
      // expert-level threading and this backend's graph fare.
      const inputs = Array.from({ length: INPUTS }, (_, i) => randomInput(t, d, 1000 * t + i));
      const variants = [
        (r: number) => moe.forward(inputs[r % INPUTS]),
        (r: number) => moePer.forward(inputs[r % INPUTS]),
        async (r: number) => {
          const x = inputs[r % INPUTS].data;
          return op.run(x, await backend.linear(router, x, t), t);
        },
        (r: number) => dense.forward(inputs[r % INPUTS]),
      ];
      const samples = await roundRobin(variants, 3, repeatsFor(t));
      const med = samples.map((s) => quantile(s, 0.5));
      const p90 = samples.map((s) => quantile(s, 0.9));
      for (let i = 0; i < VARIANTS.length; i++) {
        console.log(`threads=${threads} T=${t} ${VARIANTS[i].padEnd(15)} median ${med[i].toFixed(2)} ms  p10 ${quantile(samples[i], 0.1).toFixed(2)}  p90 ${p90[i].toFixed(2)}`);
      }
      const gflops = (flopsPerToken * t) / (med[0] / 1e3) / 1e9;
      // Ratios of the runs of one round (same moment, same load), then their median.
      const paired = (a: number, b: number): number => quantile(samples[a].map((v, i) => v / samples[b][i]), 0.5);
      rows.push(
        `| ${threads} | ${t} | ${med[0].toFixed(2)} | ${med[1].toFixed(2)} | ${med[2].toFixed(2)} | ${med[3].toFixed(2)} | ${paired(0, 2).toFixed(2)} | ${paired(0, 3).toFixed(2)} | ${((t * 1e3) / med[0]).toFixed(0)} | ${gflops.toFixed(1)} |`,
      );
    }
    moe.dispose();
    moePer.dispose();
    dense.dispose();
    router.dispose();
    await op.dispose();
    await backend.dispose();
    await perExpert.dispose();
  }
  console.log('\n' + rows.join('\n'));
  await hostOverhead();
}

/** The host-side gather + combine of one T=256 pass, to show it is small next to the GEMMs. */
async function hostOverhead(): Promise<void> {
  const t = 256;
  const d = config.hiddenSize;
  const x = randomInput(t, d, 7).data;
  const logits = randomInput(t, config.numExperts, 8).data;
  const router = createRouter(config.router, { numExperts: config.numExperts, topK: config.topK, params: {} });
  const plan = buildRoutingPlan(router.route({ logits, numTokens: t, numExperts: config.numExperts }), t, config.numExperts);
  const outs = Array.from({ length: config.numExperts }, (_, e) => new Float32Array(plan.tokensPerExpert[e] * d).fill(1));
  const samples: number[] = [];
  for (let i = 0; i < 50; i++) {
    samples.push(
      await timeMs(async () => {
        for (let e = 0; e < config.numExperts; e++) gatherExpertRows(x, d, plan, e);
        combineRows(plan, d, outs);
      }),
    );
  }
  console.log(`\nhost gather + combine at T=${t}: median ${quantile(samples.slice(10), 0.5).toFixed(2)} ms`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
