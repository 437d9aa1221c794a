// A/B microbenchmark of the single-token row kernels (not a test): `backend.linear` with one
// activation row on a stored-format weight [N x K], cycling through COPIES prepared copies
// (COPIES x the weight's bytes: far past the last-level cache for DRAM, 1 for cache-resident),
// best-of-15 rounds of R calls (on a shared machine the best round is the least disturbed).
//   N=1024 K=2048 COPIES=100 node bench/linear-gemv.mjs q8_0 q8 1    # format, activations, threads
// ROWS=8 times 8 activation rows a call (a batched decode step).
// Swap build/kernels-*.wasm between runs to compare kernel builds on the same JavaScript.
import { createRng, HostTensor, randomNormal } from '@moe-runtime/core';
import { createCpuBackend } from '../dist/index.js';

const dtype = process.argv[2] ?? 'q8_0';
const activations = process.argv[3] ?? 'q8';
const threads = Number(process.argv[4] ?? 1);
const N = Number(process.env.N ?? 4096);
const K = Number(process.env.K ?? 4096);
const COPIES = Number(process.env.COPIES ?? 10);
const R = Number(process.env.R ?? 100);
/** Activation rows a call (1: decode; a few: batched decode steps). */
const ROWS = Number(process.env.ROWS ?? 1);

const rng = createRng(1);
const weight = HostTensor.float32([N, K], randomNormal(rng, N * K, 0.02)).to(dtype);
const backend = await createCpuBackend({ threads, activations });
const layers = [];
for (let i = 0; i < COPIES; i++) layers.push(await backend.prepareLinear({ weight }));
const bytes = weight.bytes().length;
const x = randomNormal(rng, ROWS * K);
for (let i = 0; i < 20; i++) await backend.linear(layers[i % COPIES], x, ROWS);
let best = 0;
for (let round = 0; round < 15; round++) {
  const t0 = performance.now();
  for (let i = 0; i < R; i++) await backend.linear(layers[i % COPIES], x, ROWS);
  best = Math.max(best, (bytes * R) / (performance.now() - t0) / 1e6);
}
console.log(`${dtype} ${activations} x${threads} [${N} x ${K}] ${ROWS} row(s): best ${best.toFixed(1)} GB/s of weights, working set ${((bytes * COPIES) / 1e6).toFixed(0)} MB (${new Date().toISOString()})`);
for (const l of layers) l.dispose();
await backend.dispose();
