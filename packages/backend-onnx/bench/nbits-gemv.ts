/**
 * What one activation row (decode) gets from onnxruntime's native MatMulNBits on this machine:
 * `backend.linear` on a q8_0 weight [N x K], cycling through COPIES prepared copies (COPIES x the
 * weight's bytes: past the last-level cache for DRAM, 1 for cache-resident), best of 12 rounds.
 * Three ways: one session with 1 intra-op thread, the same with 2, and two threads that each
 * run their own half of the rows at once (this thread and a worker, each an onnx backend with
 * 1 intra-op thread: whether two sessions side by side draw more than one session's pool).
 * The figures bound what native code draws from memory while it computes, next to the cpu
 * backend's WebAssembly kernels (its bench/linear-gemv.mjs, same shapes and copies).
 *
 *   cd packages/backend-onnx && npx tsc -p tsconfig.bench.json && node build/bench/nbits-gemv.js
 *
 * Environment: N, K (default 8192, 2048), COPIES (default 30), MOE_BENCH_FORMAT (default q8_0).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createRng, HostTensor, randomNormal, type DType, type PreparedLinear } from '@moe-runtime/core';
import { OnnxBackend } from '../src/index.js';

const N = Number(process.env.N ?? 8192);
const K = Number(process.env.K ?? 2048);
const COPIES = Number(process.env.COPIES ?? 30);
const FORMAT = (process.env.MOE_BENCH_FORMAT ?? 'q8_0') as DType;
const CALLS = 40;
const ROUNDS = 12;

/** Control words shared with the worker: [request, row-set index, done, stop]. */
const REQUEST = 0;
const INDEX = 1;
const DONE = 2;
const STOP = 3;

interface Bench {
  readonly backend: OnnxBackend;
  readonly layers: readonly PreparedLinear[];
  readonly bytes: number;
}

async function prepare(rows: number, seed: number, threads: number): Promise<Bench> {
  const weight = HostTensor.float32([rows, K], randomNormal(createRng(seed), rows * K, 0.02)).to(FORMAT);
  const backend = await OnnxBackend.create({ intraOpThreads: threads });
  const layers: PreparedLinear[] = [];
  for (let i = 0; i < COPIES; i++) layers.push(await backend.prepareLinear({ weight }));
  return { backend, layers, bytes: weight.bytes().length };
}

/** Best GB/s over the rounds; `step(i)` runs call i, `bytes` is what one call reads. */
async function best(bytes: number, step: (i: number) => Promise<void>): Promise<number> {
  for (let i = 0; i < 10; i++) await step(i);
  let top = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    for (let i = 0; i < CALLS; i++) await step(i);
    top = Math.max(top, (bytes * CALLS) / (performance.now() - t0) / 1e6);
  }
  return top;
}

async function oneSession(threads: number, x: Float32Array): Promise<number> {
  const b = await prepare(N, 1, threads);
  const gbs = await best(b.bytes, async (i) => void (await b.backend.linear(b.layers[i % COPIES], x, 1)));
  await b.backend.dispose();
  return gbs;
}

/** This thread and a worker, each on its own half of the rows, started together every call. */
async function twoHalves(x: Float32Array): Promise<number> {
  const shared = new SharedArrayBuffer(16 + K * 4);
  const ctl = new Int32Array(shared, 0, 4);
  new Float32Array(shared, 16, K).set(x);
  const worker = new Worker(new URL(import.meta.url), { workerData: shared });
  const ready = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const b = await prepare(N / 2, 1, 1);
  await ready;
  const gbs = await best(2 * b.bytes, async (i) => {
    Atomics.store(ctl, INDEX, i % COPIES);
    const request = Atomics.add(ctl, REQUEST, 1) + 1;
    Atomics.notify(ctl, REQUEST);
    await b.backend.linear(b.layers[i % COPIES], x, 1);
    for (let d = Atomics.load(ctl, DONE); d !== request; d = Atomics.load(ctl, DONE)) Atomics.wait(ctl, DONE, d, 5);
  });
  Atomics.store(ctl, STOP, 1);
  Atomics.add(ctl, REQUEST, 1);
  Atomics.notify(ctl, REQUEST);
  await worker.terminate();
  await b.backend.dispose();
  return gbs;
}

/**
 * The worker's loop: blocks on the request word, then runs its half (awaiting the run lets the
 * event loop turn, which onnxruntime-node's setImmediate needs), then posts done.
 * Atomics.waitAsync is not used: Node 20 did not wake its worker for the notification here.
 */
async function serve(shared: SharedArrayBuffer): Promise<void> {
  const ctl = new Int32Array(shared, 0, 4);
  // onnxruntime-node refuses tensors over shared memory: the worker keeps its own copy.
  const x = new Float32Array(shared, 16, K).slice();
  const b = await prepare(N / 2, 2, 1);
  parentPort!.postMessage('ready');
  for (let seen = 0; ; ) {
    Atomics.wait(ctl, REQUEST, seen);
    seen = Atomics.load(ctl, REQUEST);
    if (Atomics.load(ctl, STOP) === 1) break;
    await b.backend.linear(b.layers[Atomics.load(ctl, INDEX)], x, 1);
    Atomics.store(ctl, DONE, seen);
    Atomics.notify(ctl, DONE);
  }
  await b.backend.dispose();
}

async function main(): Promise<void> {
  const x = randomNormal(createRng(3), K);
  const mb = (COPIES * N * K * (FORMAT === 'q8_0' ? 34 / 32 : 1)) / 1e6;
  console.log(`MatMulNBits (${FORMAT}) one row x [${N} x ${K}], ${COPIES} copies (about ${mb.toFixed(0)} MB), ${new Date().toISOString()}`);
  console.log(`one session, 1 intra-op thread: ${(await oneSession(1, x)).toFixed(1)} GB/s`);
  console.log(`one session, 2 intra-op threads: ${(await oneSession(2, x)).toFixed(1)} GB/s`);
  console.log(`two threads at once, half the rows each: ${(await twoHalves(x)).toFixed(1)} GB/s`);
}

if (isMainThread) await main();
else await serve(workerData as SharedArrayBuffer);
