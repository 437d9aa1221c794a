/**
 * The onnx backend's attention (the MatMul/Softmax graph on a cache onnxruntime reads in place)
 * against core's host attention (float64 TypeScript), one attention layer of 8 query heads over
 * 2 KV heads of 128 (a 1024-wide model): one decode row at depths 128, 1024 and 4096, and a
 * 512-row prefill chunk from position 0. Each case: warm-up, then round-robin rounds of both,
 * medians and the paired host / onnx ratio. The caches are filled to the depth without timing
 * (the host cache by its `write`, the onnx cache by prefill calls), and a decode round rewrites
 * the row at the depth, so every round sees the same depth.
 *
 *   npx -y pnpm@12.21.0 --filter @moe-runtime/backend-onnx build
 *   cd packages/backend-onnx && npx tsc -p tsconfig.bench.json && node build/bench/attention.js
 *
 * Environment: MOE_BENCH_THREADS (onnxruntime intra-op thread counts, comma-separated, default
 * `1,2`; the host attention runs on the calling thread either way), MOE_BENCH_KV (cache formats,
 * default `float32,float16`).
 */
import { cpus, loadavg } from 'node:os';
import { attentionOps, hostAttention, HostKvCache, type AttentionLayerSpec, type AttentionOps, type KvCache, type KvCacheFormat, type KvCacheSpec } from '@moe-runtime/core';
import { attentionCase, rowsOf, type AttentionCase } from '@moe-runtime/core/testing';
import { OnnxBackend, ORT_VERSION } from '../src/index.js';
import { quantile, roundRobin } from './stats.js';

const HEADS = 8;
const KV_HEADS = 2;
const DIM = 128;
const THREADS: readonly number[] = (process.env.MOE_BENCH_THREADS ?? '1,2').split(',').map(Number);
const FORMATS = (process.env.MOE_BENCH_KV ?? 'float32,float16').split(',') as KvCacheFormat[];
const spec: AttentionLayerSpec = { numHeads: HEADS, scale: 1 / Math.sqrt(DIM) };

/** One timed case: `rows` new rows at `position` after the cache holds `position` rows. */
interface BenchCase {
  readonly name: string;
  readonly position: number;
  readonly rows: number;
  readonly rounds: number;
}

const CASES: readonly BenchCase[] = [
  { name: 'decode at 128', position: 128, rows: 1, rounds: 40 },
  { name: 'decode at 1024', position: 1024, rows: 1, rounds: 40 },
  { name: 'decode at 4096', position: 4096, rows: 1, rounds: 30 },
  { name: 'prefill 512 rows', position: 0, rows: 512, rounds: 5 },
];

function cacheSpec(capacity: number, format: KvCacheFormat): KvCacheSpec {
  return { numLayers: 1, numKvHeads: KV_HEADS, keyDim: DIM, valueDim: DIM, capacity, format };
}

/** Fills `cache` with the case's first `n` rows without timing them. */
async function fill(ops: AttentionOps, cache: KvCache, c: AttentionCase, n: number): Promise<void> {
  if (n === 0) return;
  if (cache instanceof HostKvCache) {
    // The host attention over 4096 rows would take minutes; its write stores them as attend would.
    cache.write(0, 0, n, c.k, c.v, 0);
    cache.commit(0, n);
    return;
  }
  for (let at = 0; at < n; at += 512) {
    const rows = Math.min(512, n - at);
    await ops.attend(0, spec, [{ cache, position: at, rows }], rowsOf(c.q, HEADS * DIM, at, rows), rowsOf(c.k, KV_HEADS * DIM, at, rows), rowsOf(c.v, KV_HEADS * DIM, at, rows));
  }
}

async function benchCase(onnx: AttentionOps, threads: number, format: KvCacheFormat, b: BenchCase, rows: string[]): Promise<void> {
  const n = b.position + b.rows;
  const c = attentionCase(1000 + n, n, HEADS, KV_HEADS, DIM);
  const [q, k, v] = [rowsOf(c.q, HEADS * DIM, b.position, b.rows), rowsOf(c.k, KV_HEADS * DIM, b.position, b.rows), rowsOf(c.v, KV_HEADS * DIM, b.position, b.rows)];
  const variants = await Promise.all(
    [onnx, hostAttention].map(async (ops) => {
      const cache = ops.createKvCache(cacheSpec(n, format));
      await fill(ops, cache, c, b.position);
      return () => ops.attend(0, spec, [{ cache, position: b.position, rows: b.rows }], q, k, v);
    }),
  );
  const samples = await roundRobin(variants, 2, b.rounds);
  const [o, h] = samples.map((s) => quantile(s, 0.5));
  const ratio = quantile(samples[1].map((x, r) => x / samples[0][r]), 0.5);
  console.log(`${b.name.padEnd(18)} ${format} onnx x${threads} ${o.toFixed(3)} ms, host ${h.toFixed(3)} ms, host / onnx ${ratio.toFixed(2)}`);
  rows.push(`| ${b.name} | ${format} | ${threads} | ${o.toFixed(3)} | ${h.toFixed(3)} | ${ratio.toFixed(2)} |`);
}

async function main(): Promise<void> {
  console.log(`# onnx attention vs host, ${new Date().toISOString()}, onnxruntime-node ${ORT_VERSION}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, load ${loadavg()[0].toFixed(2)}`);
  console.log(`# ${HEADS} query heads over ${KV_HEADS} KV heads of ${DIM}; medians, paired ratio`);
  const rows: string[] = [];
  for (const threads of THREADS) {
    const backend = await OnnxBackend.create({ intraOpThreads: threads });
    try {
      for (const format of FORMATS) for (const b of CASES) await benchCase(attentionOps(backend), threads, format, b, rows);
    } finally {
      await backend.dispose();
    }
  }
  console.log('\n| case | cache | onnx threads | onnx ms | host ms | host / onnx |\n|---|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
