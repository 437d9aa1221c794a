// Benchmark of the cpu backend on every stored weight format (not a test): one E=8/k=2 SwiGLU
// layer of the 428M Mixtral-ish benchmark shape (D=1024, F=3584), decode (T=1) and prefill
// (T=128) through MoELayer.forward, with the weight GB/s decode moves next to the machine's
// read bandwidth measured in the same run (apps/bench's streaming-read kernel, so build
// apps/bench first). Run after `build`, under `flock /work/.locks/bench` on a shared machine:
//   node bench/formats.mjs [--threads=2] [--formats=q8_0,q4_k] [--quick]
// q8_0 and q4_0 run twice: float32 activations, and 8-bit activations (`activations: 'q8'`).
// Decode cycles through LAYERS copies of the layer (distinct memory, as a model's layers are),
// so its weights come from DRAM rather than the last-level cache; it reports medians.
import { loadavg } from 'node:os';
import { MoELayer, randomInput, randomWeights, storageBytes } from '@moe-runtime/core';
import { createCpuBackend } from '../dist/index.js';

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = process.argv.includes('--quick');
const threads = Number(arg('threads', '2'));
const FORMATS = arg('formats', 'float32,float16,bfloat16,q8_0,q4_0,q4_k,q5_k,q6_k,mxfp4').split(',');
const LAYERS = 3;
const DECODE_STEPS = quick ? 12 : 60;
const PREFILL_REPS = quick ? 2 : 5;
const T_PREFILL = 128;

const config = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function readBandwidth() {
  const url = new URL('../../../apps/bench/dist/bandwidth.js', import.meta.url);
  try {
    const { measureReadBandwidth } = await import(url.href);
    return await measureReadBandwidth({ threads: [1, 2] });
  } catch (err) {
    console.error(`(no read bandwidth: build apps/bench first; ${err.message})`);
    return undefined;
  }
}

/** The routed experts' weight bytes of one forward (each distinct expert's gate, up and down). */
function routedBytes(plan, expertBytes) {
  let n = 0;
  for (let e = 0; e < plan.numExperts; e++) if (plan.expertOffsets[e + 1] > plan.expertOffsets[e]) n++;
  return n * expertBytes;
}

async function benchFormat(backend, base, dtype, activations) {
  const t0 = performance.now();
  const weights = dtype === 'float32' ? base : { ...base, experts: base.experts.map((e) => ({ gate: e.gate.to(dtype), up: e.up.to(dtype), down: e.down.to(dtype) })) };
  const encodeMs = performance.now() - t0;
  const { hiddenSize: d, expert } = config;
  const expertBytes = 2 * storageBytes(dtype, [expert.ffnSize, d]) + storageBytes(dtype, [d, expert.ffnSize]);
  const layers = [];
  for (let l = 0; l < LAYERS; l++) layers.push(await MoELayer.create({ config, weights, backend }));
  try {
    // Decode: one new token per step, through the layers in turn.
    const times = [];
    const rates = [];
    for (let s = -6; s < DECODE_STEPS; s++) {
      const x = randomInput(1, d, 1000 + s);
      const layer = layers[(s + 6) % LAYERS];
      const a = performance.now();
      const { plan } = await layer.forward(x);
      const ms = performance.now() - a;
      if (s < 0) continue;
      times.push(ms);
      rates.push(routedBytes(plan, expertBytes) / (ms / 1e3) / 1e9);
    }
    const decodeMs = median(times);
    const decodeGbps = median(rates);
    const prefill = [];
    const x = randomInput(T_PREFILL, d, 77);
    await layers[0].forward(x);
    for (let r = 0; r < PREFILL_REPS; r++) {
      const a = performance.now();
      await layers[r % LAYERS].forward(x);
      prefill.push(performance.now() - a);
    }
    const prefillMs = median(prefill);
    // Active multiply-adds of T tokens: k experts x 3 projections x D x F each.
    const gflops = (2 * T_PREFILL * config.topK * 3 * d * expert.ffnSize) / (prefillMs / 1e3) / 1e9;
    return { dtype, activations, encodeMs, expertBytes, decodeMs, decodeGbps, prefillMs, gflops };
  } finally {
    for (const l of layers) l.dispose();
  }
}

async function main() {
  const started = new Date().toISOString();
  const load0 = loadavg()[0];
  const bandwidth = await readBandwidth();
  const backend = await createCpuBackend({ threads });
  const q8 = await createCpuBackend({ threads, activations: 'q8' });
  const base = randomWeights(config, { seed: 1 });
  const rows = [];
  for (const dtype of FORMATS) {
    for (const [b, activations] of [[backend, 'float32'], ...(dtype === 'q8_0' || dtype === 'q4_0' ? [[q8, 'q8']] : [])]) {
      rows.push(await benchFormat(b, base, dtype, activations));
      const r = rows[rows.length - 1];
      console.error(`${dtype} (${activations}): decode ${r.decodeMs.toFixed(2)} ms, prefill ${r.prefillMs.toFixed(1)} ms (encoded in ${(r.encodeMs / 1e3).toFixed(1)} s)`);
    }
  }
  await backend.dispose();
  await q8.dispose();
  const bw = bandwidth?.figures.find((f) => f.threads === Math.min(threads, 2));
  console.log(`cpu backend, ${backend.engine}; E=8/k=2 SwiGLU D=1024 F=3584; ${started}; load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`);
  if (bandwidth) console.log(`read bandwidth (apps/bench streaming read, ${(bandwidth.bufferBytes / 2 ** 20).toFixed(0)} MiB): ${bandwidth.figures.map((f) => `${f.threads} thread(s) ${f.medianGbps.toFixed(1)} GB/s`).join(', ')}`);
  console.log('');
  console.log(`| format | activations | expert MB | decode T=1 ms | decode weight GB/s | share of read bandwidth | prefill T=128 ms | prefill tok/s | prefill GFLOP/s |`);
  console.log(`|---|---|---|---|---|---|---|---|---|`);
  for (const r of rows) {
    const share = bw ? `${((100 * r.decodeGbps) / bw.medianGbps).toFixed(0)}%` : 'n/a';
    console.log(
      `| ${r.dtype} | ${r.activations} | ${(r.expertBytes / 1e6).toFixed(1)} | ${r.decodeMs.toFixed(2)} | ${r.decodeGbps.toFixed(1)} | ${share} | ${r.prefillMs.toFixed(1)} | ${((T_PREFILL / r.prefillMs) * 1e3).toFixed(0)} | ${r.gflops.toFixed(1)} |`,
    );
  }
}

await main();
