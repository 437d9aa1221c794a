// Benchmark of the cpu backend (not a test): GEMM GFLOP/s on one and two threads, the
// single-token weight bandwidth, and an E=8/k=2 SwiGLU MoE layer against the dense FFN with
// the same active parameters, all in one run. Run after `build`, under
// nothing else heavy running:
//   node bench/bench.mjs [--quick] [--simd=auto|relaxed|simd|none]
// Every comparison alternates its two sides in short rounds (warm-up first) and reports the
// median of each side's samples, so a burst of background load hits both alike.
import { createRng, denseEquivalentConfig, HostTensor, MoELayer, randomInput, randomNormal, randomWeights } from '@moe-runtime/core';
import { loadavg } from 'node:os';
import { createCpuBackend } from '../dist/index.js';
import { median } from './bench-util.mjs';

const quick = process.argv.includes('--quick');
const simd = process.argv.find((a) => a.startsWith('--simd='))?.slice(7) ?? 'auto';
const ROUNDS = quick ? 2 : 6;

async function sample(fn, reps, into) {
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    into.push(performance.now() - t0);
  }
}

/** Median ms of `a` and of `b`, measured alternately in rounds of `reps` after a warm-up. */
async function compare(a, b, reps) {
  await sample(a, 2, []);
  await sample(b, 2, []);
  const ta = [];
  const tb = [];
  for (let r = 0; r < ROUNDS; r++) {
    await sample(a, reps, ta);
    await sample(b, reps, tb);
  }
  return [median(ta), median(tb), ta.length];
}

function weight(rows, cols, seed) {
  return HostTensor.float32([rows, cols], randomNormal(createRng(seed), rows * cols, 1 / Math.sqrt(cols)));
}

const fmt = (v, d = 1) => v.toFixed(d);

async function onBoth(one, two, w, rows, reps) {
  const l1 = await one.prepareLinear({ weight: w });
  const l2 = await two.prepareLinear({ weight: w });
  const x = randomInput(rows, w.shape[1], 7).data;
  const [t1, t2, n] = await compare(() => one.linear(l1, x, rows), () => two.linear(l2, x, rows), reps);
  l1.dispose();
  l2.dispose();
  return { t1, t2, n };
}

async function main() {
  const one = await createCpuBackend({ threads: 1, simd });
  const two = await createCpuBackend({ threads: 2, simd });
  console.log(`cpu backend bench  node ${process.version}  engines: ${one.engine} / ${two.engine}  ${new Date().toISOString()}`);
  console.log(`(medians of ${ROUNDS} alternating rounds; wall-clock on a machine shared with other work; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);

  console.log('\nGEMM y[m,n] = x[m,k] W^T through backend.linear (input/output copies included)');
  const w3584 = weight(3584, 1024, 1);
  for (const m of [256, 16]) {
    const { t1, t2, n } = await onBoth(one, two, w3584, m, m === 256 ? 3 : 10);
    const flop = 2 * m * 1024 * 3584;
    console.log(`  [${m}x1024]x[1024x3584]  1 thread ${fmt(flop / (t1 * 1e6))} GFLOP/s (${fmt(t1, 2)} ms)   2 threads ${fmt(flop / (t2 * 1e6))} GFLOP/s (${fmt(t2, 2)} ms)   speed-up ${fmt(t1 / t2, 2)}x   [${n} samples each]`);
  }

  console.log('\nSingle token [1x4096]x[4096x14336] (weight bytes streamed / time)');
  const bytes = 14336 * 4096 * 4;
  const { t1, t2, n } = await onBoth(one, two, weight(14336, 4096, 2), 1, 5);
  console.log(`  1 thread ${fmt(bytes / (t1 * 1e6))} GB/s (${fmt(t1, 2)} ms)   2 threads ${fmt(bytes / (t2 * 1e6))} GB/s (${fmt(t2, 2)} ms)   [${n} samples each]`);
  await one.dispose();

  console.log(`\nMoE E=8 k=2 SwiGLU (D=1024, F=3584) vs dense SwiGLU F=7168 (MoELayer.forward on ${two.engine}, same inputs)`);
  const config = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };
  const dense = denseEquivalentConfig(config);
  const moe = await MoELayer.create({ config, weights: randomWeights(config, { seed: 11 }), backend: two });
  const ffn = await MoELayer.create({ config: dense, weights: randomWeights(dense, { seed: 12 }), backend: two });
  for (const t of [1, 16, 256]) {
    const x = randomInput(t, 1024, 100 + t);
    const [tm, td, n] = await compare(() => moe.forward(x), () => ffn.forward(x), t === 256 ? 2 : 8);
    const flop = 2 * 3 * 1024 * 7168 * t;
    const extra = t === 1 ? `, ${fmt((3 * 1024 * 3584 * 2 * 4) / (tm * 1e6))} GB/s of expert weights` : '';
    console.log(`  T=${String(t).padEnd(4)} MoE ${fmt(tm, 2)} ms  dense ${fmt(td, 2)} ms  MoE/dense ${fmt(tm / td, 2)}   (MoE active ${fmt(flop / (tm * 1e6))} GFLOP/s${extra})   [${n} samples each]`);
  }
  moe.dispose();
  ffn.dispose();
  await two.dispose();
  console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

await main();
