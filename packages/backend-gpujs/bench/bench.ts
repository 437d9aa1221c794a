/**
 * Benchmark: an E=8/k=2 SwiGLU MoE layer (D=1024, F=3584) against the dense SwiGLU FFN with
 * the same active parameters (F=7168, core's denseEquivalentConfig), in every gpu.js mode
 * available here, on the same inputs, in one run.
 *
 *   pnpm --filter @moe-runtime/backend-gpujs bench [-- --modes webasm,cpu --tokens 1,16,256 --out file.json]
 *
 * Run it alone (other work on the machine skews the times).
 */
import { writeFileSync } from 'node:fs';
import {
  activeExpertFlopsPerToken,
  checkAgainstReference,
  denseEquivalentConfig,
  MoELayer,
  randomInput,
  randomWeights,
  type MoELayerConfig,
} from '@moe-runtime/core';
import { createGpuJsBackend, probeMode, type GpuJsMode } from '../src/index.js';

interface Row {
  mode: GpuJsMode;
  engine: string;
  tokens: number;
  layer: 'moe' | 'dense';
  repeats: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  tokensPerSecond: number;
  activeGflops: number;
  weightGBps: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const CONFIG: MoELayerConfig = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };
const DENSE = denseEquivalentConfig(CONFIG);
const tokensList = arg('tokens', '1,16,256').split(',').map(Number);
const requested = arg('modes', 'webgpu,headlessgl,webasm,cpu').split(',') as GpuJsMode[];
const out = arg('out', '');

/**
 * Repeats per T: at T=256 every mode takes seconds per call on this CPU-only machine (about
 * 11 GFLOP per forward), so those are capped at 1 warm-up and 3 timed calls.
 */
function plan(t: number): { warmup: number; repeats: number } {
  if (t >= 256) return { warmup: 1, repeats: 3 };
  return t >= 16 ? { warmup: 1, repeats: 5 } : { warmup: 2, repeats: 9 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Bytes of expert weights a forward touches: distinct experts used x their 3 matrices. */
function touchedBytes(config: MoELayerConfig, expertsUsed: number): number {
  return expertsUsed * 3 * config.hiddenSize * config.expert.ffnSize * 4;
}

/**
 * Times the two layers alternately (moe, dense, moe, dense, ...) so that load from other work
 * on a shared machine falls on both alike.
 */
async function timePair(layers: readonly MoELayer[], x: ReturnType<typeof randomInput>, warmup: number, repeats: number): Promise<{ times: number[][]; used: number[] }> {
  const times = layers.map((): number[] => []);
  const used = layers.map(() => 0);
  for (let i = 0; i < warmup + repeats; i++) {
    for (let l = 0; l < layers.length; l++) {
      const t0 = performance.now();
      const r = await layers[l].forward(x);
      const ms = performance.now() - t0;
      if (i >= warmup) times[l].push(ms);
      used[l] = r.plan.tokensPerExpert.reduce((n, c) => n + (c > 0 ? 1 : 0), 0);
    }
  }
  return { times, used };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const moeWeights = randomWeights(CONFIG, { seed: 2026 });
  const denseWeights = randomWeights(DENSE, { seed: 2027 });
  let peakRss = 0;
  for (const mode of requested) {
    const probe = await probeMode(mode);
    if (!probe.available) {
      notes.push(`${mode}: skipped (${probe.reason})`);
      console.log(`# ${mode}: skipped (${probe.reason})`);
      continue;
    }
    const backend = await createGpuJsBackend({ mode });
    console.log(`# ${mode}: ${backend.engine}`);
    const t0 = performance.now();
    const moe = await MoELayer.create({ config: CONFIG, weights: moeWeights, backend });
    const dense = await MoELayer.create({ config: DENSE, weights: denseWeights, backend });
    console.log(`#   prepared both layers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const t of tokensList) {
      const x = randomInput(t, CONFIG.hiddenSize, 100 + t);
      const { warmup, repeats } = plan(t);
      if (t === 16) {
        const r = await moe.forward(x);
        const check = checkAgainstReference(CONFIG, moeWeights, x, r, { maxRelL2: 1e-4 });
        notes.push(`${mode}: T=16 check against the float64 reference: relL2 ${check.relL2.toExponential(2)}, routing agreement ${check.routingAgreement}, passed ${check.passed}`);
        console.log(`#   ${notes[notes.length - 1]}`);
      }
      const pair = await timePair([moe, dense], x, warmup, repeats);
      for (const [l, name, config] of [
        [0, 'moe', CONFIG],
        [1, 'dense', DENSE],
      ] as const) {
        const times = pair.times[l];
        const med = median(times);
        const flops = activeExpertFlopsPerToken(config) * t;
        const row: Row = {
          mode,
          engine: backend.engine,
          tokens: t,
          layer: name,
          repeats,
          medianMs: med,
          minMs: Math.min(...times),
          maxMs: Math.max(...times),
          tokensPerSecond: (t / med) * 1000,
          activeGflops: flops / med / 1e6,
          weightGBps: touchedBytes(config, pair.used[l]) / med / 1e6,
        };
        rows.push(row);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        console.log(
          `${mode.padEnd(7)} T=${String(t).padEnd(4)} ${name.padEnd(5)} median ${med.toFixed(1).padStart(8)} ms  [${row.minMs.toFixed(1)}..${row.maxMs.toFixed(1)}] x${repeats}  ` +
            `${row.tokensPerSecond.toFixed(1)} tok/s  ${row.activeGflops.toFixed(2)} GFLOP/s  ${row.weightGBps.toFixed(2)} GB/s`,
        );
      }
    }
    moe.dispose();
    dense.dispose();
    await backend.dispose();
  }
  console.log('\n| mode | T | MoE median ms | dense median ms | MoE / dense | MoE tok/s | MoE GFLOP/s | MoE weights GB/s | repeats |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const m of rows.filter((r) => r.layer === 'moe')) {
    const d = rows.find((r) => r.layer === 'dense' && r.mode === m.mode && r.tokens === m.tokens);
    if (!d) continue;
    console.log(
      `| ${m.mode} | ${m.tokens} | ${m.medianMs.toFixed(1)} | ${d.medianMs.toFixed(1)} | ${(m.medianMs / d.medianMs).toFixed(2)} | ${m.tokensPerSecond.toFixed(1)} | ${m.activeGflops.toFixed(2)} | ${m.weightGBps.toFixed(2)} | ${m.repeats} |`,
    );
  }
  console.log(`\npeak RSS ${(peakRss / 2 ** 30).toFixed(2)} GiB; ${notes.join('; ')}`);
  if (out) {
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), config: CONFIG, dense: DENSE, peakRssBytes: peakRss, notes, rows }, null, 2));
    console.log(`wrote ${out}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
