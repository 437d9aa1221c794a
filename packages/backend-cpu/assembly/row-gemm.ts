// C = A W^T for weights kept as stored rows (see rows.ts), on the same output layout as the
// panel GEMM: "virtual panel" p is 16 output columns at C + 64 p. For gated (SwiGLU) weights
// panel 2q is gate rows 16q.., panel 2q+1 up rows 16q.., as the packed layout interleaves them.
//
// Few activation rows (decode, small batches): one dot product per (weight row, activation
// row), the weight row decoded once into the thread's work buffer where the format has no
// fused dot (mxfp4). Many rows (prefill): the 16 rows of a panel are decoded into a float32 panel in
// the work buffer and the panel GEMM runs on it, so decoding costs once per panel, not per row.
import { gemm } from './gemm';
import { decodeRow, dotF32, dotFused, fused, MXFP4, Q4_K, Q5_K, Q6_K, Q8_0, rowBytesOf } from './rows';
import { ACT_Q8, dotRowsQ8, hasQ8Dot, q8KRowBytes, q8RowBytes, quantizeRow, quantizeRowK, takesRowK } from './rows-q8';
import { readAhead } from './prefetch';

/** From this many activation rows on, panels are decoded and the panel GEMM runs. */
const PANEL_ROWS = 8;

/** Bytes of the four decoded rows at the front of the work buffer (the panel follows them). */
// @ts-ignore: decorator
@inline
function rowBufBytes(k: i32): usize {
  return ((<usize>k << 4) + 63) & ~(<usize>63);
}

/**
 * Whether the row kernels of format f read the next rows ahead (prefetch.ts). Not for q8_0 and
 * q6_k: their kernels' own loads keep enough misses in flight (q8_0's 8-bit scales pass touches
 * every line of a row first), and the extra loads only stall. Measured on 8-bit activations with
 * bench/linear-gemv.mjs ([2048 x 2048] from DRAM, 2 threads, AMD EPYC, builds alternated,
 * medians; benchmarks/results/2026-12-03-cpu-read-ahead-ab.txt): q8_0 16.2 -> 21.1 GB/s and
 * q6_k 12.6 -> 22.6 without it, but q4_k 12.9 -> 8.2, and mxfp4 about even, so those keep it.
 * (On the Intel Xeon it was first tuned on, q8_0 gained 12.0 -> 13.0 from it.) On float32
 * activations, three alternated rounds, best of 60 each: q8_0 6.7-9.0 -> 8.4-11.2 GB/s, q6_k
 * 4.2-4.9 -> 5.0-6.0 without it.
 */
// @ts-ignore: decorator
@inline
function readsAhead(f: i32): bool {
  return f != Q8_0 && f != Q6_K;
}

/**
 * Whether the 8-bit row kernels of format f read ahead inside their loop (rows-q8.ts: a byte of
 * each cache line of the row LOOP_AHEAD_ROWS rows on, as they pass over the same place in their
 * own row: three or four a q4_k / q5_k super-block, two a pass of four mxfp4 blocks) instead of readAhead's burst
 * before each group of four rows. Spread over the arithmetic, the misses overlap it; the burst
 * stalls the loads behind it. Measured on q4_k (bench/linear-gemv.mjs [2048 x 2048] from DRAM,
 * AMD EPYC, alternated builds, best of 15 rounds each): 2 threads 11.5-15.5 -> 15.7-19.7 GB/s,
 * 1 thread 7.3-8.9 -> 9.3-10.9; 1 row ahead measured the same, 8 rows ahead worse (11.2-12.3).
 * mxfp4, 2 threads: 9.9-12.2 -> 11.5-14.5. Not q8_0 and q6_k: the same reads slowed them
 * (q8_0 16.5-22.9 -> 14.7-17.0, q6_k 17.9-18.2 -> 12.2-14.3), as readAhead did (readsAhead).
 */
// @ts-ignore: decorator
@inline
function readsAheadInLoop(f: i32): bool {
  return f == Q4_K || f == Q5_K || f == MXFP4;
}

/** Rows ahead that the kernels which read ahead in their loop read (see readsAheadInLoop). */
const LOOP_AHEAD_ROWS: usize = 2;

/** Where panel p's rows start and how many of them are real (0 for a fully padded panel). */
// @ts-ignore: decorator
@inline
function panelRows(p: i32, gated: bool, n: i32): i32 {
  const block = gated ? p >> 1 : p;
  return max(0, min(16, n - block * 16));
}

// The activation rows this thread quantized last (in its work buffer), reused by its next
// chunks of the same rows: a descriptor's chunks share their rows, and quantizing them per
// chunk cost about a third of Qwen3-30B-A3B's decode step (48 layers x 8 experts x a dozen
// chunks each). Valid within one batch (inputs do not change while it runs): runBatch forgets
// them at its start, and so does anything else that writes the work buffer there.
let cachedA: usize = 0;
let cachedLda: i32 = 0;
let cachedM: i32 = 0;
let cachedK: i32 = 0;
/** Which layouts of the cached rows exist: bit BLOCKS_32 (quantizeRow), bit BLOCKS_256 (quantizeRowK). */
let cachedLayouts: i32 = 0;
const BLOCKS_32 = 1;
const BLOCKS_256 = 2;

/** Drops the cached quantized activation rows (a new batch, or the work buffer rewritten). */
export function forgetQuantizedRows(): void {
  cachedLayouts = 0;
}

/**
 * Panels p0..p1 of C[0..m) for row-format weights. `b`/`fmt` hold the (gate) rows, `b2`/`fmt2`
 * the up rows when gated; `n` rows per tensor, `k` values per row; bias in panel order or 0.
 */
export function rowGemm(
  a: usize, lda: i32, m: i32, k: i32, b: usize, fmt: i32, b2: usize, fmt2: i32, n: i32, gated: bool,
  p0: i32, p1: i32, bias: usize, c: usize, ldc: i32, kc: i32, work: usize,
): void {
  const aRow = <usize>lda << 2;
  const cRow = <usize>ldc << 2;
  // 8-bit activations (flag ACT_Q8): the m rows are quantized behind the row buffer, in each
  // layout the formats take (k-quants: one scale per 256 values, others per 32), once per
  // thread and batch (the cache above). The panel path writes over them.
  const q8 = (fmt & ACT_Q8) != 0 && m < PANEL_ROWS;
  if (m >= PANEL_ROWS) forgetQuantizedRows();
  const f1 = fmt & (ACT_Q8 - 1);
  const f2 = gated ? fmt2 & (ACT_Q8 - 1) : f1;
  const qBase = work + rowBufBytes(k);
  const qRow = (q8RowBytes(k) + 63) & ~(<usize>63);
  const qBaseK = qBase + <usize>m * qRow;
  const qRowK = (q8KRowBytes(k) + 63) & ~(<usize>63);
  if (q8) {
    if (cachedA != a || cachedLda != lda || cachedM != m || cachedK != k) {
      cachedLayouts = 0;
      cachedA = a;
      cachedLda = lda;
      cachedM = m;
      cachedK = k;
    }
    if (!(takesRowK(f1) && takesRowK(f2)) && (cachedLayouts & BLOCKS_32) == 0) {
      for (let i = 0; i < m; i++) quantizeRow(a + <usize>i * aRow, k, qBase + <usize>i * qRow);
      cachedLayouts |= BLOCKS_32;
    }
    if ((takesRowK(f1) || takesRowK(f2)) && (cachedLayouts & BLOCKS_256) == 0) {
      for (let i = 0; i < m; i++) quantizeRowK(a + <usize>i * aRow, k, qBaseK + <usize>i * qRowK);
      cachedLayouts |= BLOCKS_256;
    }
  }
  for (let p = p0; p < p1; p++) {
    const up = gated && (p & 1) == 1;
    const base = up ? b2 : b;
    const f = (up ? fmt2 : fmt) & (ACT_Q8 - 1);
    const rb = rowBytesOf(f, k);
    const rows = panelRows(p, gated, n);
    const first = <usize>(gated ? p >> 1 : p) * 16;
    const cp = c + (<usize>p << 6);
    // End of this tensor's rows: reading ahead stops there.
    const end = base + <usize>n * rb;
    const bp = bias != 0 ? bias + (<usize>p << 6) : 0;
    if (m >= PANEL_ROWS) {
      const panel = work + rowBufBytes(k);
      decodePanel(base + first * rb, rb, f, k, rows, work, panel);
      gemm(a, lda, m, k, panel, 0, 1, bp, cp, ldc, kc);
      continue;
    }
    if (q8 && hasQ8Dot(f)) {
      // Four weight rows a call, their results the lanes of one v128 (columns j..j+3 are adjacent in C).
      const qf = takesRowK(f) ? qBaseK : qBase;
      const qfRow = takesRowK(f) ? qRowK : qRow;
      for (let j = 0; j < rows; j += 4) {
        const w = base + (first + <usize>j) * rb;
        const inLoop = readsAheadInLoop(f);
        if (readsAhead(f) && !inLoop) readAhead(w + 4 * rb, w + 8 * rb, end);
        // The first activation row's pass reads ahead (0: its own rows, near the tensor's end).
        const ahead: usize = inLoop && w + <usize>(4 + LOOP_AHEAD_ROWS) * rb <= end ? LOOP_AHEAD_ROWS * rb : 0;
        const bj = bp != 0 ? v128.load(bp + (<usize>j << 2)) : f32x4.splat(0);
        for (let i = 0; i < m; i++) v128.store(cp + <usize>i * cRow + (<usize>j << 2), f32x4.add(dotRowsQ8(f, qf + <usize>i * qfRow, k, w, rb, rows - j, work, i == 0 ? ahead : 0), bj));
      }
    }
    for (let j = 0; j < 16; j++) {
      const bj: f32 = bp != 0 ? load<f32>(bp + (<usize>j << 2)) : 0;
      if (j >= rows) {
        // Padding columns: finite (the bias or 0), never read as a real output.
        for (let i = 0; i < m; i++) store<f32>(cp + <usize>i * cRow + (<usize>j << 2), bj);
        continue;
      }
      if (q8 && hasQ8Dot(f)) continue;
      const w = base + (first + <usize>j) * rb;
      if ((j & 3) == 0 && readsAhead(f)) readAhead(w + 4 * rb, w + 8 * rb, end);
      if (fused(f)) {
        for (let i = 0; i < m; i++) store<f32>(cp + <usize>i * cRow + (<usize>j << 2), dotFused(f, a + <usize>i * aRow, w, k) + bj);
      } else {
        decodeRow(f, w, k, work);
        for (let i = 0; i < m; i++) store<f32>(cp + <usize>i * cRow + (<usize>j << 2), dotF32(a + <usize>i * aRow, work, k) + bj);
      }
    }
  }
}

/**
 * Decodes `rows` stored rows (stride rb) into a float32 panel [k][16]; missing columns are 0.
 * Four rows at a time into the four row buffers, then 4 x 4 transposes into the panel (a
 * scalar scatter, one store per value, cost about a third of an OLMoE-shaped prefill).
 */
function decodePanel(w: usize, rb: usize, fmt: i32, k: i32, rows: i32, rowBuf: usize, panel: usize): void {
  if (rows < 16) memory.fill(panel, 0, <usize>k << 6);
  const stride = <usize>k << 2;
  const k4 = k & ~3;
  for (let j = 0; j < rows; j += 4) {
    const n = min(4, rows - j);
    for (let r = 0; r < n; r++) decodeRow(fmt, w + <usize>(j + r) * rb, k, rowBuf + <usize>r * stride);
    // Rows past the last real one transpose as zeros (the panel's padding columns).
    if (n < 4) memory.fill(rowBuf + <usize>n * stride, 0, <usize>(4 - n) * stride);
    const dst = panel + (<usize>j << 2);
    for (let i = 0; i < k4; i += 4) {
      const src = rowBuf + (<usize>i << 2);
      const r0 = v128.load(src);
      const r1 = v128.load(src + stride);
      const r2 = v128.load(src + 2 * stride);
      const r3 = v128.load(src + 3 * stride);
      const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const d = dst + (<usize>i << 6);
      v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(d, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 64);
      v128.store(d, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 128);
      v128.store(d, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 192);
    }
    for (let i = k4; i < k; i++) {
      for (let r = 0; r < n; r++) store<f32>(dst + (<usize>i << 6) + (<usize>r << 2), load<f32>(rowBuf + <usize>r * stride + (<usize>i << 2)));
    }
  }
}

/** Bytes of work buffer one thread needs for rows of k values. */
export function workBytes(k: i32): usize {
  return rowBufBytes(k) + (<usize>k << 6);
}
