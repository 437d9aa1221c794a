// Benchmark of the cpu backend on every stored weight format (not a test): one E=8/k=2 SwiGLU
// layer of the 428M Mixtral-ish benchmark shape (D=1024, F=3584), decode (T=1) and prefill
// (T=128) through MoELayer.forward, with the weight GB/s decode moves next to the machine's
// read bandwidth measured in the same run (apps/bench's streaming-read kernel, so build
// apps/bench first). Run after `build`, alone (other work on the machine skews the times):
//   node bench/formats.mjs [--threads=1,2] [--formats=q8_0,q4_k] [--quick]
// Each format is encoded once and run on a backend per thread count, with float32 activations
// and, where the format has them, 8-bit ones (`activations: 'q8'`). Besides wall-clock
// medians it reports process CPU time per call: on a shared machine the time a thread waits
// for a core does not count there, so CPU-time rates (at one thread) are the kernels' own.
// Decode cycles through LAYERS copies of the layer (distinct memory, as a model's layers are),
// so its weights come from DRAM rather than the last-level cache; it reports medians.
import { loadavg } from 'node:os';
import { MoELayer, randomInput, randomWeights, storageBytes } from '@moe-runtime/core';
import { createCpuBackend } from '../dist/index.js';
import { arg, distinctExperts, median, readBandwidth } from './bench-util.mjs';

const quick = process.argv.includes('--quick');
const THREADS = arg('threads', '1,2').split(',').map(Number);
const FORMATS = arg('formats', 'float32,float16,bfloat16,q8_0,q4_0,q4_k,q5_k,q6_k,mxfp4').split(',');
const LAYERS = 3;
const DECODE_STEPS = quick ? 12 : 60;
const PREFILL_REPS = quick ? 2 : 5;
const T_PREFILL = 128;
// Formats with 8-bit-activation dot products.
const Q8_FORMATS = ['q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k'];

const config = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };

/** The routed experts' weight bytes of one forward (each distinct expert's gate, up and down). */
function routedBytes(plan, expertBytes) {
  return distinctExperts(plan) * expertBytes;
}

function encode(base, dtype) {
  if (dtype === 'float32') return base;
  return { ...base, experts: base.experts.map((e) => ({ gate: e.gate.to(dtype), up: e.up.to(dtype), down: e.down.to(dtype) })) };
}

async function benchFormat(backend, weights, dtype, activations) {
  const { hiddenSize: d, expert } = config;
  const expertBytes = 2 * storageBytes(dtype, [expert.ffnSize, d]) + storageBytes(dtype, [d, expert.ffnSize]);
  const layers = [];
  for (let l = 0; l < LAYERS; l++) layers.push(await MoELayer.create({ config, weights, backend }));
  try {
    // Decode: one new token per step, through the layers in turn.
    const times = [];
    const rates = [];
    let cpu = 0;
    let moved = 0;
    for (let s = -6; s < DECODE_STEPS; s++) {
      const x = randomInput(1, d, 1000 + s);
      const layer = layers[(s + 6) % LAYERS];
      const c0 = process.cpuUsage();
      const a = performance.now();
      const { plan } = await layer.forward(x);
      const ms = performance.now() - a;
      const c = process.cpuUsage(c0);
      if (s < 0) continue;
      times.push(ms);
      rates.push(routedBytes(plan, expertBytes) / (ms / 1e3) / 1e9);
      cpu += (c.user + c.system) / 1e3;
      moved += routedBytes(plan, expertBytes);
    }
    const decodeMs = median(times);
    const decodeGbps = median(rates);
    const decodeCpuMs = cpu / DECODE_STEPS;
    const decodeCpuGbps = moved / (cpu / 1e3) / 1e9;
    const prefill = [];
    const x = randomInput(T_PREFILL, d, 77);
    await layers[0].forward(x);
    const c0 = process.cpuUsage();
    for (let r = 0; r < PREFILL_REPS; r++) {
      const a = performance.now();
      await layers[r % LAYERS].forward(x);
      prefill.push(performance.now() - a);
    }
    const c = process.cpuUsage(c0);
    const prefillMs = median(prefill);
    const prefillCpuMs = (c.user + c.system) / 1e3 / PREFILL_REPS;
    // Active multiply-adds of T tokens: k experts x 3 projections x D x F each.
    const gflops = (2 * T_PREFILL * config.topK * 3 * d * expert.ffnSize) / (prefillMs / 1e3) / 1e9;
    return { dtype, activations, threads: backend.threads, expertBytes, decodeMs, decodeGbps, decodeCpuMs, decodeCpuGbps, prefillMs, prefillCpuMs, gflops };
  } finally {
    for (const l of layers) l.dispose();
  }
}

async function main() {
  const started = new Date().toISOString();
  const load0 = loadavg()[0];
  const bandwidth = await readBandwidth();
  const backends = [];
  for (const threads of THREADS) {
    backends.push([await createCpuBackend({ threads }), 'float32']);
    backends.push([await createCpuBackend({ threads, activations: 'q8' }), 'q8']);
  }
  const base = randomWeights(config, { seed: 1 });
  const rows = [];
  for (const dtype of FORMATS) {
    const weights = encode(base, dtype);
    for (const [b, activations] of backends) {
      if (activations === 'q8' && !Q8_FORMATS.includes(dtype)) continue;
      rows.push(await benchFormat(b, weights, dtype, activations));
      const r = rows[rows.length - 1];
      console.error(`${dtype} (${activations}, ${r.threads} threads): decode ${r.decodeMs.toFixed(2)} ms, prefill ${r.prefillMs.toFixed(1)} ms`);
    }
  }
  const engine = backends[0][0].engine;
  for (const [b] of backends) await b.dispose();
  console.log(`cpu backend, ${engine.replace(/ x\d+$/, '')}; E=8/k=2 SwiGLU D=1024 F=3584; ${started}; load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`);
  if (bandwidth) {
    console.log(`read bandwidth (apps/bench streaming read, ${(bandwidth.bufferBytes / 2 ** 20).toFixed(0)} MiB): ${bandwidth.figures.map((f) => `${f.threads} thread(s) median ${f.medianGbps.toFixed(1)} / best ${f.bestGbps.toFixed(1)} GB/s`).join(', ')}`);
  }
  console.log('');
  console.log(`| format | activations | threads | expert MB | decode T=1 ms | decode CPU ms | decode weight GB/s | GB/s by CPU time | share of read bandwidth (wall) | prefill T=128 ms | prefill CPU ms | prefill tok/s | prefill GFLOP/s |`);
  console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|---|`);
  for (const r of rows) {
    const bw = bandwidth?.figures.find((f) => f.threads === r.threads);
    const share = bw ? `${((100 * r.decodeGbps) / bw.medianGbps).toFixed(0)}%` : 'n/a';
    console.log(
      `| ${r.dtype} | ${r.activations} | ${r.threads} | ${(r.expertBytes / 1e6).toFixed(1)} | ${r.decodeMs.toFixed(2)} | ${r.decodeCpuMs.toFixed(2)} | ${r.decodeGbps.toFixed(1)} | ${r.decodeCpuGbps.toFixed(1)} | ${share} | ${r.prefillMs.toFixed(1)} | ${r.prefillCpuMs.toFixed(1)} | ${((T_PREFILL / r.prefillMs) * 1e3).toFixed(0)} | ${r.gflops.toFixed(1)} |`,
    );
  }
}

await main();
