// Float32 GEMM against B packed once into 16-column panels: panel p holds, for every k,
// the 16 values B[k, 16p .. 16p+16) contiguously (64 bytes), so the micro-kernel reads one
// cache line of B per k. All pointers are byte addresses in the shared memory; lda/ldc are
// in elements. C rows are padded to whole panels.
import { madd } from './simd';
import { readAhead } from './prefetch';

// @ts-ignore: decorator
@inline
function initRow(first: bool, bias: usize, cr: usize, which: i32): v128 {
  if (!first) return v128.load(cr + (which << 4));
  if (bias != 0) return v128.load(bias + (which << 4));
  return f32x4.splat(0);
}

/**
 * Two rows x 16 columns over one K block: 8 accumulators in registers (more spill, and a
 * software prefetch of the next block, tried here, was slower).
 */
// @ts-ignore: decorator
@inline
function tile2(ar0: usize, ar1: usize, bp: usize, kl: i32, cr0: usize, cr1: usize, first: bool, bb: usize): void {
  let c00 = initRow(first, bb, cr0, 0);
  let c01 = initRow(first, bb, cr0, 1);
  let c02 = initRow(first, bb, cr0, 2);
  let c03 = initRow(first, bb, cr0, 3);
  let c10 = initRow(first, bb, cr1, 0);
  let c11 = initRow(first, bb, cr1, 1);
  let c12 = initRow(first, bb, cr1, 2);
  let c13 = initRow(first, bb, cr1, 3);
  let bk = bp;
  let ap0 = ar0;
  let ap1 = ar1;
  const bEnd = bp + (<usize>kl << 6);
  while (bk < bEnd) {
    const b0 = v128.load(bk);
    const b1 = v128.load(bk, 16);
    const b2 = v128.load(bk, 32);
    const b3 = v128.load(bk, 48);
    const x0 = v128.load32_splat(ap0);
    const x1 = v128.load32_splat(ap1);
    c00 = madd(x0, b0, c00);
    c01 = madd(x0, b1, c01);
    c02 = madd(x0, b2, c02);
    c03 = madd(x0, b3, c03);
    c10 = madd(x1, b0, c10);
    c11 = madd(x1, b1, c11);
    c12 = madd(x1, b2, c12);
    c13 = madd(x1, b3, c13);
    bk += 64;
    ap0 += 4;
    ap1 += 4;
  }
  v128.store(cr0, c00);
  v128.store(cr0, c01, 16);
  v128.store(cr0, c02, 32);
  v128.store(cr0, c03, 48);
  v128.store(cr1, c10);
  v128.store(cr1, c11, 16);
  v128.store(cr1, c12, 32);
  v128.store(cr1, c13, 48);
}

/** One row x 16 columns over one K block (the odd row of an odd m). */
// @ts-ignore: decorator
@inline
function tile1(ar0: usize, bp: usize, kl: i32, cr0: usize, first: bool, bb: usize): void {
  let c00 = initRow(first, bb, cr0, 0);
  let c01 = initRow(first, bb, cr0, 1);
  let c02 = initRow(first, bb, cr0, 2);
  let c03 = initRow(first, bb, cr0, 3);
  let bk = bp;
  let ap0 = ar0;
  const bEnd = bp + (<usize>kl << 6);
  while (bk < bEnd) {
    const x0 = v128.load32_splat(ap0);
    c00 = madd(x0, v128.load(bk), c00);
    c01 = madd(x0, v128.load(bk, 16), c01);
    c02 = madd(x0, v128.load(bk, 32), c02);
    c03 = madd(x0, v128.load(bk, 48), c03);
    bk += 64;
    ap0 += 4;
  }
  v128.store(cr0, c00);
  v128.store(cr0, c01, 16);
  v128.store(cr0, c02, 32);
  v128.store(cr0, c03, 48);
}

/**
 * C[0..m, panels p0..p1) = A[0..m, 0..k) B (+ bias). Each panel is read front to back (one
 * stream); K is blocked by kc so a panel's block of B (kc x 64 bytes) stays in L1 while every
 * row pair passes over it, accumulating into C between blocks; the first block starts from
 * the bias.
 */
export function gemm(a: usize, lda: i32, m: i32, k: i32, b: usize, p0: i32, p1: i32, bias: usize, c: usize, ldc: i32, kc: i32): void {
  const rowBytes = <usize>lda << 2;
  const bEnd = b + ((<usize>p1 * <usize>k) << 6);
  const cRowBytes = <usize>ldc << 2;
  for (let p = p0; p < p1; p++) {
    const cp = c + (<usize>p << 6);
    const bb = bias != 0 ? bias + (<usize>p << 6) : 0;
    for (let k0 = 0; k0 < k; k0 += kc) {
      const kl = min(kc, k - k0);
      const first = k0 == 0;
      const bp = b + ((<usize>p * <usize>k + <usize>k0) << 6);
      // The next block of B (this panel's or the next one's: panels are contiguous), read
      // ahead while the row pairs pass over this one from L1.
      readAhead(bp + (<usize>kl << 6), bp + (<usize>kl << 7), bEnd);
      const aBlock = a + (<usize>k0 << 2);
      let i = 0;
      for (; i + 1 < m; i += 2) {
        const ar0 = aBlock + <usize>i * rowBytes;
        const cr0 = cp + <usize>i * cRowBytes;
        tile2(ar0, ar0 + rowBytes, bp, kl, cr0, cr0 + cRowBytes, first, bb);
      }
      if (i < m) tile1(aBlock + <usize>i * rowBytes, bp, kl, cp + <usize>i * cRowBytes, first, bb);
    }
  }
}

/**
 * One row: c[panels p0..p1) = x B (+ bias), one panel at a time. It sums in exactly the order
 * gemv2 does (one chain per column, k ascending), so a panel's result does not depend on
 * which kernel (which chunk split) computed it.
 */
export function gemv(x: usize, k: i32, b: usize, p0: i32, p1: i32, bias: usize, c: usize): void {
  const panelBytes = <usize>k << 6;
  for (let p = p0; p < p1; p++) {
    let bk = b + <usize>p * panelBytes;
    const bEnd = bk + panelBytes;
    let xp = x;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    while (bk < bEnd) {
      const x0 = v128.load32_splat(xp);
      a0 = madd(x0, v128.load(bk), a0);
      a1 = madd(x0, v128.load(bk, 16), a1);
      a2 = madd(x0, v128.load(bk, 32), a2);
      a3 = madd(x0, v128.load(bk, 48), a3);
      bk += 64;
      xp += 4;
    }
    if (bias != 0) {
      const bb = bias + (<usize>p << 6);
      a0 = f32x4.add(a0, v128.load(bb));
      a1 = f32x4.add(a1, v128.load(bb, 16));
      a2 = f32x4.add(a2, v128.load(bb, 32));
      a3 = f32x4.add(a3, v128.load(bb, 48));
    }
    const cp = c + (<usize>p << 6);
    v128.store(cp, a0);
    v128.store(cp, a1, 16);
    v128.store(cp, a2, 32);
    v128.store(cp, a3, 48);
  }
}

/**
 * One row (decode), the kernel the engine runs for m = 1: two adjacent panels at a time (two
 * streams through memory, 8 independent accumulators), the odd last panel through gemv.
 */
export function gemv2(x: usize, k: i32, b: usize, p0: i32, p1: i32, bias: usize, c: usize): void {
  let p = p0;
  const panelBytes = <usize>k << 6;
  for (; p + 1 < p1; p += 2) {
    let bk = b + <usize>p * panelBytes;
    const bEnd = bk + panelBytes;
    let xp = x;
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let a4 = f32x4.splat(0);
    let a5 = f32x4.splat(0);
    let a6 = f32x4.splat(0);
    let a7 = f32x4.splat(0);
    while (bk < bEnd) {
      const x0 = v128.load32_splat(xp);
      const bq = bk + panelBytes;
      a0 = madd(x0, v128.load(bk), a0);
      a1 = madd(x0, v128.load(bk, 16), a1);
      a2 = madd(x0, v128.load(bk, 32), a2);
      a3 = madd(x0, v128.load(bk, 48), a3);
      a4 = madd(x0, v128.load(bq), a4);
      a5 = madd(x0, v128.load(bq, 16), a5);
      a6 = madd(x0, v128.load(bq, 32), a6);
      a7 = madd(x0, v128.load(bq, 48), a7);
      bk += 64;
      xp += 4;
    }
    if (bias != 0) {
      const bb = bias + (<usize>p << 6);
      a0 = f32x4.add(a0, v128.load(bb));
      a1 = f32x4.add(a1, v128.load(bb, 16));
      a2 = f32x4.add(a2, v128.load(bb, 32));
      a3 = f32x4.add(a3, v128.load(bb, 48));
      a4 = f32x4.add(a4, v128.load(bb, 64));
      a5 = f32x4.add(a5, v128.load(bb, 80));
      a6 = f32x4.add(a6, v128.load(bb, 96));
      a7 = f32x4.add(a7, v128.load(bb, 112));
    }
    const cp = c + (<usize>p << 6);
    v128.store(cp, a0);
    v128.store(cp, a1, 16);
    v128.store(cp, a2, 32);
    v128.store(cp, a3, 48);
    v128.store(cp, a4, 64);
    v128.store(cp, a5, 80);
    v128.store(cp, a6, 96);
    v128.store(cp, a7, 112);
  }
  if (p < p1) gemv(x, k, b, p, p1, bias, c);
}
