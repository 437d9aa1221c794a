// Benchmark of the cpu backend (not a test): GEMM GFLOP/s, single-token weight bandwidth, and
// an E=8/k=2 SwiGLU MoE layer against the dense FFN with the same active parameters, all in
// one run. Run after `build`, under `flock /work/.locks/bench` on a shared machine.
//   node bench/bench.mjs [--quick]
import { denseEquivalentConfig, HostTensor, MoELayer, randomInput, randomNormal, createRng, randomWeights } from '@moe-runtime/core';
import { createCpuBackend } from '../dist/index.js';

const quick = process.argv.includes('--quick');
const simd = process.argv.find((a) => a.startsWith('--simd='))?.slice(7) ?? 'auto';

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs fn (async) warm times, then repeats it; returns the median and spread in ms. */
async function time(fn, { warm = 2, repeats = 7, minMs = 300 } = {}) {
  for (let i = 0; i < warm; i++) await fn();
  const times = [];
  const start = performance.now();
  while (times.length < repeats || (performance.now() - start < minMs && times.length < 200)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  const s = [...times].sort((a, b) => a - b);
  return { ms: median(times), p10: s[Math.floor(s.length * 0.1)], p90: s[Math.floor(s.length * 0.9)], n: times.length };
}

function weight(rows, cols, seed) {
  return HostTensor.float32([rows, cols], randomNormal(createRng(seed), rows * cols, 1 / Math.sqrt(cols)));
}

async function gemmRate(backend, m, k, n, w) {
  const layer = await backend.prepareLinear({ weight: w });
  const x = randomInput(m, k, 7).data;
  const t = await time(() => backend.linear(layer, x, m), { repeats: quick ? 3 : 9 });
  layer.dispose();
  return { gflops: (2 * m * k * n) / (t.ms * 1e6), ...t };
}

const fmt = (v, d = 1) => v.toFixed(d);

async function main() {
  const one = await createCpuBackend({ threads: 1, simd });
  const two = await createCpuBackend({ threads: 2, simd });
  console.log(`cpu backend bench  node ${process.version}  engines: ${one.engine} / ${two.engine}  (${new Date().toISOString()})`);

  console.log('\nGEMM y[m,n] = x[m,k] W^T (backend.linear, copies in/out included)');
  const w3584 = weight(3584, 1024, 1);
  for (const m of [256, 16]) {
    const r1 = await gemmRate(one, m, 1024, 3584, w3584);
    const r2 = await gemmRate(two, m, 1024, 3584, w3584);
    console.log(`  [${m}x1024]x[1024x3584]  1 thread ${fmt(r1.gflops)} GFLOP/s (${fmt(r1.ms, 2)} ms)   2 threads ${fmt(r2.gflops)} GFLOP/s (${fmt(r2.ms, 2)} ms)   speed-up ${fmt(r2.gflops / r1.gflops, 2)}x`);
  }

  console.log('\nSingle token [1x4096]x[4096x14336] (weight bytes streamed / time)');
  const big = weight(14336, 4096, 2);
  const bytes = 14336 * 4096 * 4;
  for (const b of [one, two]) {
    const layer = await b.prepareLinear({ weight: big });
    const x = randomInput(1, 4096, 3).data;
    const t = await time(() => b.linear(layer, x, 1), { repeats: quick ? 5 : 21 });
    console.log(`  ${b.engine.padEnd(22)} ${fmt(bytes / (t.ms * 1e6))} GB/s (${fmt(t.ms, 2)} ms, p10 ${fmt(t.p10, 2)} p90 ${fmt(t.p90, 2)})`);
    layer.dispose();
  }
  await one.dispose();

  console.log('\nMoE E=8 k=2 SwiGLU (D=1024, F=3584) vs dense SwiGLU F=7168 (MoELayer.forward, same backend, same inputs)');
  const config = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };
  const dense = denseEquivalentConfig(config);
  const moe = await MoELayer.create({ config, weights: randomWeights(config, { seed: 11 }), backend: two });
  const ffn = await MoELayer.create({ config: dense, weights: randomWeights(dense, { seed: 12 }), backend: two });
  for (const t of [1, 16, 256]) {
    const x = randomInput(t, 1024, 100 + t);
    const opts = { repeats: quick ? 3 : t === 256 ? 7 : 15 };
    // Interleave the two so background load hits both alike.
    const a1 = await time(() => moe.forward(x), opts);
    const b1 = await time(() => ffn.forward(x), opts);
    const a2 = await time(() => moe.forward(x), opts);
    const b2 = await time(() => ffn.forward(x), opts);
    const tm = Math.min(a1.ms, a2.ms);
    const td = Math.min(b1.ms, b2.ms);
    const flops = 2 * 3 * 1024 * 7168 * t;
    console.log(`  T=${String(t).padEnd(4)} MoE ${fmt(tm, 2)} ms  dense ${fmt(td, 2)} ms  MoE/dense ${fmt(tm / td, 2)}   (MoE active ${fmt(flops / (tm * 1e6))} GFLOP/s, ${t === 1 ? `${fmt((2 * 3 * 1024 * 3584 * 4) / (tm * 1e6))} GB/s of expert weights` : ''})`);
  }
  moe.dispose();
  ffn.dispose();
  await two.dispose();
}

await main();
