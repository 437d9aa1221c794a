// Kernel entry point: a batch of GEMM descriptors, cut into chunks of columns that the threads
// take from a shared counter (dynamic scheduling: on a busy machine a thread that loses its
// core holds up at most the one chunk it is computing). The calling thread and every worker
// call runBatch on one shared memory; descriptors stay unchanged until the batch completes.
// Exports: batchChunks, runBatch, workBytes (the per-thread work buffer row formats need),
// attendWorkBytes (what attention descriptors, assembly/attention.ts, need) and
// relaxedDotInUse (whether the 8-bit-activation kernels run on the relaxed dot here).
import { gemm, gemv2 } from './gemm';
import { clampedSwiglu, geluCols, reluCols, swiglu } from './activations';
import { forgetQuantizedRows, rowGemm, workBytes } from './row-gemm';
import { PANELS } from './rows';
import { ATTEND, attendChunk, attendChunks, attendWorkBytes } from './attention';

export { attendWorkBytes };

export { workBytes };
export { relaxedDotInUse } from './rows-q8';
export { readAheadSink } from './prefetch';

/**
 * Descriptor layout: 16 i32 fields (64 bytes): kind, a, lda, m, k, b, panels, bias, c, ldc, out,
 * ldo, fmt (weight format of b, rows.ts; PANELS = packed float32), b2 and fmt2 (SwiGLU's up
 * rows for row formats), n (rows per weight tensor, row formats). Addresses are unsigned.
 */
const DESC_BYTES: usize = 64;
/** Epilogue kinds. */
const SWIGLU = 1;
const GELU = 2;
const RELU = 3;
/** gpt-oss's clamped SwiGLU: the gated layout of SWIGLU, another unit. */
const CLAMPED_SWIGLU = 4;
/** Chunks per thread and batch: enough to rebalance, few enough to keep chunks long. */
const CHUNKS_PER_THREAD = 8;
/** K block for descriptors of at most SHORT_BLOCK_ROWS rows. */
const SHORT_BLOCK = 64;
const SHORT_BLOCK_ROWS = 8;

// SwiGLU descriptors split by panel pairs (gate + up), so the activation of a chunk's columns
// needs only what that chunk computed.
// @ts-ignore: decorator
@inline
function isGated(kind: i32): bool {
  return kind == SWIGLU || kind == CLAMPED_SWIGLU;
}

// @ts-ignore: decorator
@inline
function unitsOf(p: usize): i32 {
  const panels = load<i32>(p, 24);
  return isGated(load<i32>(p)) ? panels >> 1 : panels;
}

// @ts-ignore: decorator
@inline
function chunkUnits(units: i32, parts: i32): i32 {
  return max(1, (units + parts - 1) / parts);
}

/**
 * Parts each GEMM descriptor of a batch of `count` is cut into: CHUNKS_PER_THREAD per thread
 * over the whole batch, at least one per thread. A batch of many descriptors (the routed
 * experts of a layer) balances across them, so its chunks stay long: a chunk's rows stream
 * from DRAM in one run, and every run starts with misses the prefetcher has not yet covered.
 * OLMoE's q8_0 expert layer (8 experts a token, bench/decode-gemv.mjs, 2 threads, AMD EPYC)
 * went from 18.9 to 21.2 GB/s (median of 6 alternated runs) at 2 parts instead of 16.
 */
// @ts-ignore: decorator
@inline
function partsOf(count: i32, nthreads: i32): i32 {
  const target = nthreads * CHUNKS_PER_THREAD;
  return min(target, max(nthreads, (target + count - 1) / count));
}

function chunksOf(p: usize, parts: i32): i32 {
  if (load<i32>(p, 12) == 0) return 0;
  if (load<i32>(p) == ATTEND) return attendChunks(p);
  const units = unitsOf(p);
  const cu = chunkUnits(units, parts);
  return (units + cu - 1) / cu;
}

/** Number of chunks a batch is cut into for `nthreads` threads. */
export function batchChunks(desc: usize, count: i32, nthreads: i32): i32 {
  const parts = partsOf(count, nthreads);
  let total = 0;
  for (let d = 0; d < count; d++) total += chunksOf(desc + <usize>d * DESC_BYTES, parts);
  return total;
}

function runChunk(p: usize, chunk: i32, parts: i32, kc: i32, work: usize): void {
  const kind = load<i32>(p);
  if (kind == ATTEND) {
    forgetQuantizedRows();
    attendChunk(p, chunk, work);
    return;
  }
  const a = load<u32>(p, 4);
  const lda = load<i32>(p, 8);
  const m = load<i32>(p, 12);
  const k = load<i32>(p, 16);
  const b = load<u32>(p, 20);
  const bias = load<u32>(p, 28);
  const c = load<u32>(p, 32);
  const ldc = load<i32>(p, 36);
  const units = unitsOf(p);
  const cu = chunkUnits(units, parts);
  const u0 = chunk * cu;
  const u1 = min(units, u0 + cu);
  const unit = isGated(kind) ? 2 : 1;
  const p0 = u0 * unit;
  const p1 = u1 * unit;
  const fmt = load<i32>(p, 48);
  if (fmt != PANELS) rowGemm(a, lda, m, k, b, fmt, load<u32>(p, 52), load<i32>(p, 56), load<i32>(p, 60), isGated(kind), p0, p1, bias, c, ldc, kc, work);
  else if (m == 1) gemv2(a, k, b, p0, p1, bias, c);
  // Few rows reuse each block of B only a few times: shorter blocks measured faster there.
  else gemm(a, lda, m, k, b, p0, p1, bias, c, ldc, m <= SHORT_BLOCK_ROWS ? min(kc, SHORT_BLOCK) : kc);
  if (kind == SWIGLU) swiglu(c, ldc, m, u0, u1, load<u32>(p, 40), load<i32>(p, 44));
  else if (kind == CLAMPED_SWIGLU) clampedSwiglu(c, ldc, m, u0, u1, load<u32>(p, 40), load<i32>(p, 44));
  else if (kind == GELU) geluCols(c, ldc, m, p0 << 4, p1 << 4);
  else if (kind == RELU) reluCols(c, ldc, m, p0 << 4, p1 << 4);
}

/**
 * Takes chunks [base, end) of the batch from the counter at `counter` until none is left,
 * adding 1 to the completion counter at `counter + 4` after each. Both counters only grow
 * (comparisons are wrap-safe), and a chunk is taken by compare-and-swap below `end`, so a
 * thread still looking at an old batch can never take a chunk of the next one.
 */
export function runBatch(desc: usize, count: i32, counter: usize, base: i32, end: i32, nthreads: i32, kc: i32, work: usize): void {
  forgetQuantizedRows();
  const parts = partsOf(count, nthreads);
  for (;;) {
    const cur = atomic.load<i32>(counter);
    if (cur - end >= 0) return;
    if (atomic.cmpxchg<i32>(counter, cur, cur + 1) != cur) continue;
    let idx = cur - base;
    let d = 0;
    for (; d < count; d++) {
      const n = chunksOf(desc + <usize>d * DESC_BYTES, parts);
      if (idx < n) break;
      idx -= n;
    }
    runChunk(desc + <usize>d * DESC_BYTES, idx, parts, kc, work);
    atomic.add<i32>(counter + 4, 1);
    // Wakes the calling thread if it went to sleep waiting for this batch.
    atomic.notify(counter + 4, 1);
  }
}
