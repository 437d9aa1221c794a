// Benchmark of the cpu backend's expert GEMV on the formats of real checkpoints (not a test):
// one MoE layer of a real model's shape per format, decode (T = 1) and prefill (T = 16, 128)
// through MoELayer.forward, on 1 and 2 threads, with 8-bit and float32 activations. Decode
// reports the routed experts' stored bytes per call as GB/s and as a share of the read
// bandwidth apps/bench's streaming-read kernel measures in the same run (build apps/bench first).
//   node bench/decode-gemv.mjs [--threads=1,2] [--cases=q8_0,q4_k,q4_0] [--steps=40] [--quick]
// Shapes: OLMoE-1B-7B (D=2048, F=1024, E=64, k=8) for q8_0 (OLMoE's Q8_0 file), Qwen3-30B-A3B
// (D=2048, F=768, E=128, k=8) for q4_k, q4_k_m (gate/up q4_k, down q6_k as in Q4_K_M files)
// and q4_0, gpt-oss-20b (D=2880, F=2880, E=32, k=4) for mxfp4. Two copies of the layer
// (hundreds of MB, far past the last-level cache) alternate,
// every step has a fresh random token, so the routed experts' weights come from DRAM. One
// expert's weights are encoded once and placed E times (each expert its own memory: the
// values repeat, the addresses do not). Run alone (other work on the machine skews the times).
import { loadavg } from 'node:os';
import { createRng, HostTensor, MoELayer, randomInput, randomNormal, storageBytes } from '@moe-runtime/core';
import { createCpuBackend } from '../dist/index.js';
import { arg, distinctExperts, median, readBandwidth } from './bench-util.mjs';

const quick = process.argv.includes('--quick');
const THREADS = arg('threads', '1,2').split(',').map(Number);
const CASES = arg('cases', 'q8_0,q4_k,q4_k_m,q4_0').split(',');
const ACTIVATIONS = arg('activations', 'q8,float32').split(',');
const STEPS = Number(arg('steps', quick ? 12 : 40));
const PREFILL = arg('prefill', quick ? '' : '16,128').split(',').filter(Boolean).map(Number);
const LAYERS = 2;

const OLMOE = { name: 'OLMoE-1B-7B', hiddenSize: 2048, ffnSize: 1024, numExperts: 64, topK: 8 };
const QWEN3 = { name: 'Qwen3-30B-A3B', hiddenSize: 2048, ffnSize: 768, numExperts: 128, topK: 8 };
const GPT_OSS = { name: 'gpt-oss-20b', hiddenSize: 2880, ffnSize: 2880, numExperts: 32, topK: 4 };
/** Each case: a shape and the formats of gate, up and down. */
const CASE_DEFS = {
  q8_0: { shape: OLMOE, formats: ['q8_0', 'q8_0', 'q8_0'] },
  q4_k: { shape: QWEN3, formats: ['q4_k', 'q4_k', 'q4_k'] },
  q4_k_m: { shape: QWEN3, formats: ['q4_k', 'q4_k', 'q6_k'] },
  q4_0: { shape: QWEN3, formats: ['q4_0', 'q4_0', 'q4_0'] },
  mxfp4: { shape: GPT_OSS, formats: ['mxfp4', 'mxfp4', 'mxfp4'] },
  k6k4: { shape: QWEN3, formats: ['q6_k', 'q6_k', 'q4_k'] },
  k6k6: { shape: QWEN3, formats: ['q6_k', 'q6_k', 'q6_k'] },
  o4: { shape: OLMOE, formats: ['q4_k', 'q4_k', 'q4_k'] },
  o46: { shape: OLMOE, formats: ['q4_k', 'q4_k', 'q6_k'] },
};

function configOf(shape) {
  return { hiddenSize: shape.hiddenSize, numExperts: shape.numExperts, topK: shape.topK, expert: { kind: 'swiglu', ffnSize: shape.ffnSize }, router: { name: 'topk-softmax' } };
}

/** One expert encoded once (seeded Gaussian values), repeated E times; a float32 router. */
function weightsOf(def, seed) {
  const { hiddenSize: d, ffnSize: f, numExperts: e } = def.shape;
  const rng = createRng(seed);
  const [fg, fu, fd] = def.formats;
  const expert = {
    gate: HostTensor.float32([f, d], randomNormal(rng, f * d, 1 / Math.sqrt(d))).to(fg),
    up: HostTensor.float32([f, d], randomNormal(rng, f * d, 1 / Math.sqrt(d))).to(fu),
    down: HostTensor.float32([d, f], randomNormal(rng, d * f, 1 / Math.sqrt(f))).to(fd),
  };
  const router = HostTensor.float32([e, d], randomNormal(rng, e * d, 1 / Math.sqrt(d)));
  const bytes = storageBytes(fg, [f, d]) + storageBytes(fu, [f, d]) + storageBytes(fd, [d, f]);
  return { weights: { router, experts: Array.from({ length: e }, () => expert) }, expertBytes: bytes };
}

async function benchCase(backend, name, def, weights, expertBytes, activations) {
  const config = configOf(def.shape);
  const d = config.hiddenSize;
  const layers = [];
  for (let l = 0; l < LAYERS; l++) layers.push(await MoELayer.create({ config, weights, backend }));
  try {
    const rates = [];
    const times = [];
    let cpu = 0;
    let moved = 0;
    for (let s = -6; s < STEPS; s++) {
      const x = randomInput(1, d, 5000 + s);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const { plan } = await layers[(s + 6) % LAYERS].forward(x);
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (s < 0) continue;
      const bytes = distinctExperts(plan) * expertBytes;
      times.push(ms);
      rates.push(bytes / (ms / 1e3) / 1e9);
      cpu += (c.user + c.system) / 1e3;
      moved += bytes;
    }
    const prefill = [];
    for (const t of PREFILL) {
      const x = randomInput(t, d, 77 + t);
      await layers[0].forward(x);
      const ms = [];
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        await layers[r % LAYERS].forward(x);
        ms.push(performance.now() - t0);
      }
      prefill.push({ tokens: t, ms: median(ms) });
    }
    return { name, shape: def.shape.name, activations, threads: backend.threads, expertBytes, decodeMs: median(times), gbps: median(rates), cpuGbps: moved / (cpu / 1e3) / 1e9, prefill };
  } finally {
    for (const l of layers) l.dispose();
  }
}

async function main() {
  const started = new Date().toISOString();
  const load0 = loadavg()[0];
  const bandwidth = await readBandwidth();
  const rows = [];
  let engine = '';
  for (const name of CASES) {
    const def = CASE_DEFS[name];
    if (!def) throw new Error(`unknown case ${name}; expected one of ${Object.keys(CASE_DEFS).join(', ')}`);
    const { weights, expertBytes } = weightsOf(def, 11);
    for (const threads of THREADS) {
      for (const activations of ACTIVATIONS) {
        const backend = await createCpuBackend({ threads, activations: activations === 'q8' ? 'q8' : 'float32' });
        engine = backend.engine.replace(/ x\d+.*$/, '');
        try {
          const r = await benchCase(backend, name, def, weights, expertBytes, activations);
          rows.push(r);
          console.error(`${name} ${activations} x${threads}: decode ${r.decodeMs.toFixed(2)} ms ${r.gbps.toFixed(1)} GB/s`);
        } finally {
          await backend.dispose();
        }
      }
    }
  }
  console.log(`cpu backend ${engine}; ${started}; load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}; layer copies ${LAYERS}, ${STEPS} decode steps`);
  if (bandwidth) {
    console.log(`read bandwidth (apps/bench streaming read, ${(bandwidth.bufferBytes / 2 ** 20).toFixed(0)} MiB): ${bandwidth.figures.map((f) => `${f.threads} thread(s) median ${f.medianGbps.toFixed(1)} / best ${f.bestGbps.toFixed(1)} GB/s`).join(', ')}`);
  }
  console.log('');
  const pre = PREFILL.map((t) => ` prefill T=${t} tok/s |`).join('');
  console.log(`| case | shape | activations | threads | expert MB | decode T=1 ms | weight GB/s | GB/s by CPU time | share of read bandwidth |${pre}`);
  console.log(`|---|---|---|---|---|---|---|---|---|${PREFILL.map(() => '---|').join('')}`);
  for (const r of rows) {
    const bw = bandwidth?.figures.find((f) => f.threads === r.threads);
    const share = bw ? `${((100 * r.gbps) / bw.medianGbps).toFixed(0)}%` : 'n/a';
    const p = r.prefill.map((x) => ` ${((x.tokens / x.ms) * 1e3).toFixed(0)} |`).join('');
    console.log(`| ${r.name} | ${r.shape} | ${r.activations} | ${r.threads} | ${(r.expertBytes / 1e6).toFixed(2)} | ${r.decodeMs.toFixed(2)} | ${r.gbps.toFixed(1)} | ${r.cpuGbps.toFixed(1)} | ${share} |${p}`);
  }
}

await main();
