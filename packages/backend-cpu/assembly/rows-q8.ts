// Dot products of block-format weight rows with activations quantized to 8 bits (as llama.cpp
// does: blocks of 32 with a float32 scale amax / 127), integer inside a block. A call takes
// four weight rows, one after another (each streamed front to back: four rows read side by
// side measured slower from DRAM), and returns the four results as the lanes of one v128
// (stored as four adjacent outputs). q8_0 and q4_0 take four blocks a pass, their sums
// gathered into one vector and scaled by the four blocks' scales converted at once.
//
// Integer products:
// - q8_0 (both operands signed 8-bit): the activations are kept as i16 too, and
//   i32x4.dot_i16x8_s multiplies and adds pairs in one instruction (exact in both builds);
// - 4- to 6-bit codes (q4_0, k-quants): the codes fit the unsigned 7-bit operand of relaxed
//   SIMD's i16x8.relaxed_dot_i8x16_i7x16_s (one instruction for 16 products). Whether this
//   engine computes it as specified is checked once per instance on values that exercise
//   its range (probeRelaxedDot); otherwise, and in the plain SIMD build, i16 products
//   (extmul) do the same sums. (Node 20's V8 gives twice the true sum for the i32 form,
//   i32x4.relaxed_dot_i8x16_i7x16_add_s, on x64, so it is not used.)
import { madd } from './simd';
import { dot16, halfScales4, highNibbles, pickBytes, scalesF16, shl4, sum4x4, sum4x4f } from './lanes';
import { h2f, MXFP4, q6Codes, Q4_0, Q4_K, Q5_0, Q5_K, Q6_K, Q8_0 } from './rows';
import { rows4Q5_0 } from './rows-q5';
import { readAheadSink } from './prefetch';

/** Flag on a descriptor's format: quantize the activations to 8 bits for fused formats. */
export const ACT_Q8 = 256;

/** Whether a format has a dot product on 8-bit activations. */
// @ts-ignore: decorator
@inline
export function hasQ8Dot(fmt: i32): bool {
  return fmt == Q8_0 || fmt == Q4_0 || fmt == Q5_0 || fmt == Q4_K || fmt == Q5_K || fmt == Q6_K || fmt == MXFP4;
}

// ---- the quantized activation row ------------------------------------------------------------
// Layout for k values (nb = k / 32 blocks): i16 codes [k] | i8 codes [k] | f32 dx [nb] (block
// scale) | i32 sums [nb] (the code sums).

/** Bytes of one quantized activation row of k values. */
// @ts-ignore: decorator
@inline
export function q8RowBytes(k: i32): usize {
  return <usize>k * 3 + (<usize>(k >> 5) << 3);
}

// @ts-ignore: decorator
@inline
function i8Codes(q: usize, k: i32): usize {
  return q + (<usize>k << 1);
}

// @ts-ignore: decorator
@inline
function dxOf(q: usize, k: i32): usize {
  return q + <usize>k * 3;
}

// @ts-ignore: decorator
@inline
function sumsOf(q: usize, k: i32): usize {
  return q + <usize>k * 3 + (<usize>(k >> 5) << 2);
}

/** Quantizes one activation row of k values (k a multiple of 32) into the layout above at q. */
export function quantizeRow(x: usize, k: i32, q: usize): void {
  const nb = k >> 5;
  const q8 = i8Codes(q, k);
  const dx = dxOf(q, k);
  const sums = sumsOf(q, k);
  for (let b = 0; b < nb; b++) {
    const xp = x + (<usize>b << 7);
    let m = f32x4.abs(v128.load(xp));
    for (let i = 1; i < 8; i++) m = f32x4.max(m, f32x4.abs(v128.load(xp + (<usize>i << 4))));
    const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const d: f32 = amax / 127;
    const id = f32x4.splat(amax > 0 ? <f32>127 / amax : 0);
    let total = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      const hp = xp + (<usize>h << 6);
      const i0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(hp), id)));
      const i1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(hp, 16), id)));
      const i2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(hp, 32), id)));
      const i3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(hp, 48), id)));
      total = i32x4.add(total, i32x4.add(i32x4.add(i0, i1), i32x4.add(i2, i3)));
      const w0 = i16x8.narrow_i32x4_s(i0, i1);
      const w1 = i16x8.narrow_i32x4_s(i2, i3);
      const o16 = q + (<usize>b << 6) + (<usize>h << 5);
      v128.store(o16, w0);
      v128.store(o16, w1, 16);
      v128.store(q8 + (<usize>b << 5) + (<usize>h << 4), i8x16.narrow_i16x8_s(w0, w1));
    }
    const s = i32x4.extract_lane(total, 0) + i32x4.extract_lane(total, 1) + i32x4.extract_lane(total, 2) + i32x4.extract_lane(total, 3);
    store<f32>(dx + (<usize>b << 2), d);
    store<i32>(sums + (<usize>b << 2), s);
  }
}

// ---- the k-quant activation row (llama.cpp's q8_K) ------------------------------------------
// One scale per 256 values (a k-quant super-block), so the sub-block sums of q4_k / q5_k /
// q6_k take their 6- or 8-bit scales in integer arithmetic and one float multiply-add serves a
// whole super-block. Layout for k values (k a multiple of 256, nk = k / 256): i8 codes [k] |
// f32 d [nk] | i16 sums [k / 16] (the code sums of each 16 values, for the codes' offsets and mins).

/** Whether a format's 8-bit dot takes the k-quant activation row. */
// @ts-ignore: decorator
@inline
export function takesRowK(fmt: i32): bool {
  return fmt == Q4_K || fmt == Q5_K || fmt == Q6_K;
}

/** Bytes of one k-quant activation row of k values. */
// @ts-ignore: decorator
@inline
export function q8KRowBytes(k: i32): usize {
  return <usize>k + (<usize>(k >> 8) << 2) + (<usize>(k >> 4) << 1);
}

/** Quantizes one activation row of k values (k a multiple of 256) into the k-quant layout at q. */
export function quantizeRowK(x: usize, k: i32, q: usize): void {
  const nk = k >> 8;
  const ds = q + <usize>k;
  const sums = ds + (<usize>nk << 2);
  for (let b = 0; b < nk; b++) {
    const xp = x + (<usize>b << 10);
    let m = f32x4.abs(v128.load(xp));
    for (let i = 1; i < 64; i++) m = f32x4.max(m, f32x4.abs(v128.load(xp + (<usize>i << 4))));
    const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const id = f32x4.splat(amax > 0 ? <f32>127 / amax : 0);
    for (let g = 0; g < 16; g++) {
      const gp = xp + (<usize>g << 6);
      const i0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(gp), id)));
      const i1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(gp, 16), id)));
      const i2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(gp, 32), id)));
      const i3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(gp, 48), id)));
      const t = i32x4.add(i32x4.add(i0, i1), i32x4.add(i2, i3));
      v128.store(q + (<usize>b << 8) + (<usize>g << 4), i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(i0, i1), i16x8.narrow_i32x4_s(i2, i3)));
      store<i16>(sums + (<usize>((b << 4) + g) << 1), <i16>(i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1) + i32x4.extract_lane(t, 2) + i32x4.extract_lane(t, 3)));
    }
    store<f32>(ds + (<usize>b << 2), amax / 127);
  }
}

// ---- the relaxed dot and its check -----------------------------------------------------------

/** -1 until checked, then 1 where the relaxed dot is used, 0 where the i16 products are. */
let dotMode: i32 = -1;

/**
 * Whether i16x8.relaxed_dot_i8x16_i7x16_s gives, on this engine, the specified pair sums
 * a[2i] b[2i] + a[2i+1] b[2i+1] for signed a in -127..127 and b in 0..127 (the operands the
 * kernels pass), compared with the same sums from exact i16 products of even and odd bytes.
 */
function probeRelaxedDot(): bool {
  if (!ASC_FEATURE_RELAXED_SIMD) return false;
  let ok = true;
  for (let t = 0; t < 4; t++) {
    // Four vector pairs: extreme magnitudes of both signs, zeros, and mixed values.
    const a = t == 0 ? i8x16(-127, 127, -1, 5, 100, -100, 7, -3, 127, 127, -127, -127, 13, -64, 0, 55)
      : t == 1 ? i8x16(-127, -127, -127, -127, 127, 127, 127, 127, 1, -1, 2, -2, 3, -3, 4, -4)
      : t == 2 ? i8x16(0, 0, 0, 0, -50, 50, -25, 25, 99, -99, 64, -64, 127, -127, 31, -31)
      : i8x16(-127, 126, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 15);
    const b = t == 0 ? i8x16(127, 127, 0, 63, 15, 1, 127, 126, 127, 127, 127, 127, 31, 2, 9, 64)
      : t == 1 ? i8x16(127, 127, 63, 63, 127, 127, 15, 15, 0, 0, 1, 1, 127, 127, 100, 100)
      : t == 2 ? i8x16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
      : i8x16(127, 0, 127, 0, 0, 127, 0, 127, 64, 64, 32, 32, 16, 16, 8, 8);
    const even = i16x8.mul(i16x8.shr_s(i16x8.shl(a, 8), 8), v128.and(b, i16x8.splat(0xff)));
    const odd = i16x8.mul(i16x8.shr_s(a, 8), i16x8.shr_u(b, 8));
    ok = ok && i16x8.all_true(i16x8.eq(i16x8.relaxed_dot_i8x16_i7x16_s(a, b), i16x8.add(even, odd)));
  }
  return ok;
}

/** Whether this instance's kernels use the relaxed dot (checked on first use). */
export function relaxedDotInUse(): bool {
  if (dotMode < 0) dotMode = probeRelaxedDot() ? 1 : 0;
  return dotMode == 1;
}

// ---- q8_0 ------------------------------------------------------------------------------------

/**
 * The combined scales d_w d_x of every block of a q8_0 row, as float32 at sc (nb values), four
 * blocks a pass (one float16 conversion). Done as a pass of its own before the row's dot
 * product: this keeps the dot's loop small enough for V8 to hold it in registers (scales
 * inside the loop spilled a dozen vectors a pass), and its loads, one per block, touch
 * every cache line of the row in a few instructions, so the row's DRAM reads are all in
 * flight at once.
 */
function scalesQ8_0(q: usize, k: i32, w: usize, sc: usize): void {
  const nb = k >> 5;
  const dx = dxOf(q, k);
  let b = 0;
  for (; b + 4 <= nb; b += 4) v128.store(sc + (<usize>b << 2), f32x4.mul(halfScales4(w + <usize>b * 34, 34), v128.load(dx + (<usize>b << 2))));
  for (; b < nb; b++) store<f32>(sc + (<usize>b << 2), h2f(load<u16>(w + <usize>b * 34)) * load<f32>(dx + (<usize>b << 2)));
}

/** The i32 partial sums of one q8_0 block (codes at wp + 2) times the i16 activations at xp. */
// @ts-ignore: decorator
@inline
function blockQ8_0(wp: usize, xp: usize): v128 {
  // load8x8_s sign-extends eight codes in the load (one instruction on x64).
  const s = i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(wp, 2), v128.load(xp)), i32x4.dot_i16x8_s(v128.load8x8_s(wp, 10), v128.load(xp, 16)));
  return i32x4.add(s, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(wp, 18), v128.load(xp, 32)), i32x4.dot_i16x8_s(v128.load8x8_s(wp, 26), v128.load(xp, 48))));
}

/**
 * One q8_0 row times one quantized activation row, as four lanes to be summed, with the
 * row's combined block scales at sc (scalesQ8_0). Two blocks a pass on two accumulators.
 */
// @ts-ignore: decorator
@inline
function rowQ8_0(q: usize, k: i32, w: usize, sc: usize): v128 {
  const nb = k >> 5;
  let acc = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  let wp = w;
  let xp = q;
  let sp = sc;
  const pairsEnd = sc + (<usize>(nb & ~1) << 2);
  for (; sp < pairsEnd; wp += 68, xp += 128, sp += 8) {
    acc = madd(f32x4.convert_i32x4_s(blockQ8_0(wp, xp)), v128.load32_splat(sp), acc);
    acc2 = madd(f32x4.convert_i32x4_s(blockQ8_0(wp + 34, xp + 64)), v128.load32_splat(sp, 4), acc2);
  }
  if ((nb & 1) != 0) acc = madd(f32x4.convert_i32x4_s(blockQ8_0(wp, xp)), v128.load32_splat(sp), acc);
  return f32x4.add(acc, acc2);
}

/**
 * Four q8_0 rows, one after another. The scales pass of the next row runs before the dot of
 * the current one (sc and sc + nb floats alternate), so one row's reads overlap the other's
 * arithmetic.
 */
// @ts-ignore: decorator
@inline
function rows4Q8_0(q: usize, k: i32, w0: usize, w1: usize, w2: usize, w3: usize, sc: usize): v128 {
  const sc2 = sc + (<usize>(k >> 5) << 2);
  scalesQ8_0(q, k, w0, sc);
  scalesQ8_0(q, k, w1, sc2);
  const d0 = rowQ8_0(q, k, w0, sc);
  scalesQ8_0(q, k, w2, sc);
  const d1 = rowQ8_0(q, k, w1, sc2);
  scalesQ8_0(q, k, w3, sc2);
  const d2 = rowQ8_0(q, k, w2, sc);
  return sum4x4f(d0, d1, d2, rowQ8_0(q, k, w3, sc2));
}

// ---- q4_0 ------------------------------------------------------------------------------------

/** The i32 partial sums of one q4_0 block's codes (at wp + 2, offset not applied) times x0, x1 (i8). */
// @ts-ignore: decorator
@inline
function blockQ4_0(wp: usize, x0: v128, x1: v128, relaxed: bool): v128 {
  const c = v128.load(wp, 2);
  // Lanes at most 2 x 127 x 15 each, so the two halves add in i16.
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(dot16(x0, v128.and(c, i8x16.splat(15)), relaxed), dot16(x1, highNibbles(c), relaxed)));
}

/** One q4_0 row times one quantized activation row, as four lanes to be summed: d dx (x . codes - 8 sum x) per block, four blocks a pass as for q8_0. */
// @ts-ignore: decorator
@inline
function rowQ4_0(q: usize, k: i32, w: usize, relaxed: bool): v128 {
  const nb = k >> 5;
  const q8 = i8Codes(q, k);
  const dx = dxOf(q, k);
  const sums = sumsOf(q, k);
  let acc = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const wp = w + <usize>b * 18;
    const xp = q8 + (<usize>b << 5);
    let s = sum4x4(
      blockQ4_0(wp, v128.load(xp), v128.load(xp, 16), relaxed),
      blockQ4_0(wp + 18, v128.load(xp, 32), v128.load(xp, 48), relaxed),
      blockQ4_0(wp + 36, v128.load(xp, 64), v128.load(xp, 80), relaxed),
      blockQ4_0(wp + 54, v128.load(xp, 96), v128.load(xp, 112), relaxed),
    );
    s = i32x4.sub(s, i32x4.shl(v128.load(sums + (<usize>b << 2)), 3));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.mul(halfScales4(wp, 18), v128.load(dx + (<usize>b << 2))), acc);
  }
  for (; b < nb; b++) {
    const wp = w + <usize>b * 18;
    const xp = q8 + (<usize>b << 5);
    const s = i32x4.sub(blockQ4_0(wp, v128.load(xp), v128.load(xp, 16), relaxed), i32x4.replace_lane(i32x4.splat(0), 0, load<i32>(sums + (<usize>b << 2)) << 3));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.splat(h2f(load<u16>(wp)) * load<f32>(dx + (<usize>b << 2))), acc);
  }
  return acc;
}

// ---- q4_k / q5_k -----------------------------------------------------------------------------

/**
 * The eight 6-bit scales and eight 6-bit mins of the q4_k / q5_k block at w (packed in its 12
 * bytes at w + 4), as bytes 0..7 (scales) and 8..15 (mins) of a v128: sub-blocks 0..3 keep the
 * low six bits of packed bytes 0..3 (scales) and 4..7 (mins); sub-blocks 4..7 take four bits
 * from bytes 8..11 and their top two from the top bits of bytes 0..3 (scales) or 4..7 (mins).
 */
// @ts-ignore: decorator
@inline
function kScales(w: usize): v128 {
  // In lanes, as four u32 words: [u0, u2, u1, u2 >> 4] masked to their 6 or 4 low bits of each
  // byte, ORed with [0, u0, 0, u1]'s top two bits of each byte moved to bits 4-5.
  const v = v128.load(w);
  const low = v128.shuffle<i32>(v, i32x4.shr_u(v, 4), 1, 3, 2, 7);
  const masked = v128.and(low, i32x4(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
  const top = v128.shuffle<i32>(i32x4.splat(0), v, 0, 5, 0, 6);
  return v128.or(masked, i32x4.shl(v128.and(i32x4.shr_u(top, 6), i32x4.splat(0x03030303)), 4));
}

/**
 * Swizzle indices that broadcast i16 lane j (bytes 2 j, 2 j + 1) of a v128 to all eight lanes,
 * for j = 0..7, 16 bytes each: a sub-block's 6-bit scale from the scales widened to i16. Every
 * index is below 16, so the relaxed swizzle is exact; loading them (two loads a sub-block
 * pair) costs fewer instructions than building them (a splat, an add, and the plain swizzle's
 * saturating fix).
 */
const LANE16_PICK = memory.data<u8>([
  0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
  2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
  4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5,
  6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7,
  8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9,
  10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
  12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13,
  14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15,
]);

/**
 * Sub-blocks 2 c and 2 c + 1 of a block (the low and high nibbles of the 32 code bytes q0, q1;
 * q5_k's fifth bits in bits 0 and 1 of h0, h1) times their activations at x, x + 32, each
 * times its 6-bit scale (i16 lanes 2 c, 2 c + 1 of s16, broadcast by the LANE16_PICK rows at
 * pick and pick + 16), as i32 lanes. Products pair up in i16 (at most 2 x 2 x 127 x 31 a
 * lane), and the multiply by the scale widens them to i32.
 */
// @ts-ignore: decorator
@inline
function pairQ4K(x: usize, q0: v128, q1: v128, h0: v128, h1: v128, s16: v128, pick: usize, high: bool, relaxed: bool): v128 {
  const nib = i8x16.splat(15);
  let l0 = v128.and(q0, nib);
  let l1 = v128.and(q1, nib);
  let u0 = highNibbles(q0);
  let u1 = highNibbles(q1);
  if (high) {
    const one = i8x16.splat(1);
    l0 = v128.or(l0, shl4(v128.and(h0, one)));
    l1 = v128.or(l1, shl4(v128.and(h1, one)));
    u0 = v128.or(u0, shl4(v128.and(i16x8.shr_u(h0, 1), one)));
    u1 = v128.or(u1, shl4(v128.and(i16x8.shr_u(h1, 1), one)));
  }
  const pl = i16x8.add(dot16(v128.load(x), l0, relaxed), dot16(v128.load(x, 16), l1, relaxed));
  const pu = i16x8.add(dot16(v128.load(x, 32), u0, relaxed), dot16(v128.load(x, 48), u1, relaxed));
  return i32x4.add(i32x4.dot_i16x8_s(pl, pickBytes(s16, v128.load(pick))), i32x4.dot_i16x8_s(pu, pickBytes(s16, v128.load(pick, 16))));
}

/**
 * One q4_k (q5_k when `high`) row times one k-quant activation row, as four lanes to be
 * summed: per super-block, d dx (sum_j sc_j x_j . codes_j) - dmin dx (sum_j m_j sum x_j), both
 * sums in integers (sum x_j from the row's 16-value sums, paired by the multiply with the
 * mins duplicated), then one multiply-add each. Each super-block also reads one byte of every
 * cache line of the same super-block `ahead` bytes on (WebAssembly has no prefetch; see
 * row-gemm.ts readsAheadInLoop), so those rows' DRAM misses start early.
 */
// @ts-ignore: decorator
@inline
function rowQ4K(q: usize, k: i32, w: usize, ahead: usize, high: bool, relaxed: bool): v128 {
  const nb = k >> 8;
  const ds = q + <usize>k;
  const sums = ds + (<usize>nb << 2);
  const stride: usize = high ? 176 : 144;
  // The mins (bytes 8-15 of kScales) each twice: one swizzle by a constant kept in a register.
  const mins2 = i8x16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  let acc = f32x4.splat(0);
  let touched: u32 = 0;
  for (let b = 0; b < nb; b++, w += stride) {
    // Bytes 48 apart of the row `ahead` bytes on: every line of its super-block (144 or 176 bytes).
    touched += <u32>load<u8>(w + ahead) + <u32>load<u8>(w + ahead, 48) + <u32>load<u8>(w + ahead, 96);
    if (high) touched += <u32>load<u8>(w + ahead, 144);
    const sm = kScales(w);
    const s16 = i16x8.extend_low_i8x16_u(sm);
    const qs = w + (high ? 48 : 16);
    const xb = q + (<usize>b << 8);
    // A loop over the four sub-block pairs (not unrolled: unrolled, V8 hoisted every load
    // and spilled most of them).
    let isum = i32x4.splat(0);
    let h0 = v128.load(w, 16);
    let h1 = v128.load(w, 32);
    for (let c = 0; c < 4; c++) {
      const qc = qs + (<usize>c << 5);
      isum = i32x4.add(isum, pairQ4K(xb + (<usize>c << 6), v128.load(qc), v128.load(qc, 16), h0, h1, s16, LANE16_PICK + (<usize>c << 5), high, relaxed));
      if (high) {
        // A 16-bit shift: bits of the next byte enter at the top, and only bits 0 and 1 are read.
        h0 = i16x8.shr_u(h0, 2);
        h1 = i16x8.shr_u(h1, 2);
      }
    }
    // Lane i of each product: m_j (s_2j + s_2j+1) for the 16-value sums s of sub-block j.
    const sp = sums + (<usize>b << 5);
    const mins = pickBytes(sm, mins2);
    const mLow = i16x8.extend_low_i8x16_u(mins);
    const mHigh = i16x8.extend_high_i8x16_u(mins);
    const msum = i32x4.add(i32x4.dot_i16x8_s(v128.load(sp), mLow), i32x4.dot_i16x8_s(v128.load(sp, 16), mHigh));
    // d and dmin (float16 at w, w + 2) converted together, times dx: lanes 0 and 1.
    const dm = f32x4.mul(scalesF16(i32x4.extend_low_i16x8_u(v128.load32_zero(w))), v128.load32_splat(ds + (<usize>b << 2)));
    acc = madd(f32x4.convert_i32x4_s(isum), v128.shuffle<f32>(dm, dm, 0, 0, 0, 0), acc);
    acc = f32x4.sub(acc, f32x4.mul(f32x4.convert_i32x4_s(msum), v128.shuffle<f32>(dm, dm, 1, 1, 1, 1)));
  }
  readAheadSink += touched;
  return acc;
}

// ---- q6_k ------------------------------------------------------------------------------------

/** The 16 values of group g, half `half` (codes 0..63) times their activations, times their 8-bit scale, as i32 lanes. */
// @ts-ignore: decorator
@inline
function groupQ6K(xq: v128, codes: v128, scale: usize, relaxed: bool): v128 {
  // x . codes pairs at most 2 x 127 x 63 a lane (i16); the scale multiply widens to i32.
  return i32x4.dot_i16x8_s(dot16(xq, codes, relaxed), i16x8.splat(<i16>load<i8>(scale)));
}

/**
 * One q6_k row times one k-quant activation row, as four lanes to be summed: codes 0..63
 * (rows.ts q6Codes), per super-block d dx sum_i sc_i (x_i . codes_i - 32 sum x_i) over its
 * sixteen groups of 16, in integers (sum x_i is the activation row's 16-value sum i, which
 * matches scale i), then one multiply-add.
 */
// @ts-ignore: decorator
@inline
function rowQ6K(q: usize, k: i32, w: usize, relaxed: bool): v128 {
  const nb = k >> 8;
  const ds = q + <usize>k;
  const sums = ds + (<usize>nb << 2);
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++, w += 210) {
    let isum = i32x4.splat(0);
    const xb = q + (<usize>b << 8);
    for (let n = 0; n < 2; n++) {
      const ql = w + 64 * n;
      const qh = w + 128 + 32 * n;
      const scales = w + 192 + 8 * n;
      // Values 128 n + 32 g + 16 half + l; their scale is scales[2 g + half].
      for (let half = 0; half < 2; half++) {
        const lo = v128.load(ql + 16 * half);
        const hi = v128.load(ql + 32 + 16 * half);
        const h = v128.load(qh + 16 * half);
        const x = xb + 128 * n + 16 * half;
        isum = i32x4.add(isum, groupQ6K(v128.load(x), q6Codes(lo, hi, h, 0), scales + half, relaxed));
        isum = i32x4.add(isum, groupQ6K(v128.load(x, 32), q6Codes(lo, hi, h, 1), scales + half + 2, relaxed));
        isum = i32x4.add(isum, groupQ6K(v128.load(x, 64), q6Codes(lo, hi, h, 2), scales + half + 4, relaxed));
        isum = i32x4.add(isum, groupQ6K(v128.load(x, 96), q6Codes(lo, hi, h, 3), scales + half + 6, relaxed));
      }
    }
    // The codes' offset: 32 sum_i sc_i s_i, scale i and 16-value sum i in the same order.
    const sc = v128.load(w + 192);
    const sp = sums + (<usize>b << 5);
    const off = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(sc), v128.load(sp)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(sc), v128.load(sp, 16)));
    isum = i32x4.sub(isum, i32x4.shl(off, 5));
    acc = madd(f32x4.convert_i32x4_s(isum), f32x4.splat(h2f(load<u16>(w, 208)) * load<f32>(ds + (<usize>b << 2))), acc);
  }
  return acc;
}

// ---- mxfp4 ----------------------------------------------------------------------------------
// A block: one E8M0 exponent byte, then 16 bytes whose low nibbles are values 0..15 and high
// nibbles values 16..31, each an FP4 (E2M1) code. A swizzle turns the codes into the doubled
// FP4 values plus 12 (within [0, 24]: the unsigned 7-bit operand of the relaxed dot), and the
// offset comes back out as 12 times the block's activation code sum, as q4_0 takes out its 8.

/** Doubled FP4 (E2M1) values plus 12, as the bytes of one v128 for a swizzle. */
const MXFP4_LUT_12 = memory.data<u8>([12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0]);

/** The exponent byte e of a block as its scale for the doubled values: 2^(e - 128) (subnormal for e < 2), as rows.ts decodes it. */
// @ts-ignore: decorator
@inline
function e8m0Half(e: i32): f32 {
  return e >= 2 ? reinterpret<f32>((e - 1) << 23) : reinterpret<f32>(1 << (21 + e));
}

/**
 * e8m0Half of the exponent bytes of four consecutive blocks (at w, w + 17, w + 34, w + 51), as
 * float32 lanes: each byte goes into the low byte of its lane in one load8_lane (one pinsrb on
 * x64), then the two cases in all lanes at once: (e - 1) << 23 for e >= 2, and (e + 1) << 21 for
 * e = 0 and 1 (2^-128 and 2^-127, the subnormals 1 << 21 and 1 << 22). The scalar conversions it
 * replaces cost a compare, a select and a lane insert each.
 */
// @ts-ignore: decorator
@inline
function e8m0Half4(w: usize): v128 {
  let e = v128.load8_lane(w, i32x4.splat(0), 0);
  e = v128.load8_lane(w, e, 4, 17);
  e = v128.load8_lane(w, e, 8, 34);
  e = v128.load8_lane(w, e, 12, 51);
  const one = i32x4.splat(1);
  const normal = i32x4.shl(i32x4.sub(e, one), 23);
  const subnormal = i32x4.shl(i32x4.add(e, one), 21);
  return v128.bitselect(normal, subnormal, i32x4.gt_s(e, one));
}

/** The i32 partial sums of one mxfp4 block's offset codes (at wp + 1) times x0, x1 (i8). */
// @ts-ignore: decorator
@inline
function blockMxfp4(wp: usize, lut: v128, x0: v128, x1: v128, relaxed: bool): v128 {
  return i32x4.extadd_pairwise_i16x8_s(pairsMxfp4(v128.load(wp, 1), lut, x0, x1, relaxed));
}

/** One mxfp4 block's 16 code bytes q times x0, x1 (i8) as i16 lanes to be summed (each at most 2 x 2 x 127 x 24). */
// @ts-ignore: decorator
@inline
function pairsMxfp4(q: v128, lut: v128, x0: v128, x1: v128, relaxed: bool): v128 {
  const lo = pickBytes(lut, v128.and(q, i8x16.splat(15)));
  const hi = pickBytes(lut, highNibbles(q));
  return i16x8.add(dot16(x0, lo, relaxed), dot16(x1, hi, relaxed));
}

/**
 * Two blocks' i16 lanes (pairsMxfp4) as i32 [a', a'', b', b''], each block's sum in two halves:
 * lanes of one block added in i16 first (at most 24384), then pairs widened by one multiply.
 * Fewer instructions than widening each block and gathering four (sum4x4).
 */
// @ts-ignore: decorator
@inline
function halves2(a: v128, b: v128, ones: v128): v128 {
  return i32x4.dot_i16x8_s(i16x8.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7)), ones);
}

/**
 * One mxfp4 row times one quantized activation row, as four lanes to be summed: e dx (x . codes
 * - 12 sum x) per block, four blocks a pass (addresses stepped, offsets in the loads). Each pass
 * reads two bytes of the blocks `ahead` bytes on, as rowQ4K does.
 */
// @ts-ignore: decorator
@inline
function rowMxfp4(q: usize, k: i32, w: usize, ahead: usize, relaxed: bool): v128 {
  const nb = k >> 5;
  const q8 = i8Codes(q, k);
  const dx = dxOf(q, k);
  const sums = sumsOf(q, k);
  const lut = v128.load(MXFP4_LUT_12);
  const twelve = i32x4.splat(12);
  const ones = i16x8.splat(1);
  let acc = f32x4.splat(0);
  let touched: u32 = 0;
  let wp = w;
  let xp = q8;
  let sp = sums;
  let dp = dx;
  const passesEnd = w + <usize>(nb >> 2) * 68;
  for (; wp < passesEnd; wp += 68, xp += 128, sp += 16, dp += 16) {
    // Bytes 64 apart of the four blocks `ahead` bytes on (68 bytes): every line in turn.
    touched += <u32>load<u8>(wp + ahead) + <u32>load<u8>(wp + ahead, 64);
    const ab = halves2(
      pairsMxfp4(v128.load(wp, 1), lut, v128.load(xp), v128.load(xp, 16), relaxed),
      pairsMxfp4(v128.load(wp, 18), lut, v128.load(xp, 32), v128.load(xp, 48), relaxed),
      ones,
    );
    const cd = halves2(
      pairsMxfp4(v128.load(wp, 35), lut, v128.load(xp, 64), v128.load(xp, 80), relaxed),
      pairsMxfp4(v128.load(wp, 52), lut, v128.load(xp, 96), v128.load(xp, 112), relaxed),
      ones,
    );
    let s = i32x4.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7));
    s = i32x4.sub(s, i32x4.mul(v128.load(sp), twelve));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.mul(e8m0Half4(wp), v128.load(dp)), acc);
  }
  let b = (nb >> 2) << 2;
  for (; b < nb; b++) {
    const wp = w + <usize>b * 17;
    const xp = q8 + (<usize>b << 5);
    const s = i32x4.sub(blockMxfp4(wp, lut, v128.load(xp), v128.load(xp, 16), relaxed), i32x4.replace_lane(i32x4.splat(0), 0, load<i32>(sums + (<usize>b << 2)) * 12));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.splat(e8m0Half(<i32>load<u8>(wp)) * load<f32>(dx + (<usize>b << 2))), acc);
  }
  readAheadSink += touched;
  return acc;
}

// ---- dispatch --------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline
function rows4(fmt: i32, q: usize, k: i32, w0: usize, w1: usize, w2: usize, w3: usize, sc: usize, ahead: usize, relaxed: bool): v128 {
  // One row after another (each streamed front to back), their lane sums gathered at the end.
  if (fmt == Q8_0) return rows4Q8_0(q, k, w0, w1, w2, w3, sc);
  if (fmt == MXFP4) return sum4x4f(rowMxfp4(q, k, w0, ahead, relaxed), rowMxfp4(q, k, w1, ahead, relaxed), rowMxfp4(q, k, w2, ahead, relaxed), rowMxfp4(q, k, w3, ahead, relaxed));
  if (fmt == Q4_0) return sum4x4f(rowQ4_0(q, k, w0, relaxed), rowQ4_0(q, k, w1, relaxed), rowQ4_0(q, k, w2, relaxed), rowQ4_0(q, k, w3, relaxed));
  if (fmt == Q5_0) return rows4Q5_0(i8Codes(q, k), dxOf(q, k), sumsOf(q, k), k, w0, w1, w2, w3, relaxed);
  // q4_k and q5_k each with a constant `high`, so each gets a loop of its own (a shared loop
  // tested the format inside its innermost iteration).
  if (fmt == Q4_K) return sum4x4f(rowQ4K(q, k, w0, ahead, false, relaxed), rowQ4K(q, k, w1, ahead, false, relaxed), rowQ4K(q, k, w2, ahead, false, relaxed), rowQ4K(q, k, w3, ahead, false, relaxed));
  if (fmt == Q5_K) return sum4x4f(rowQ4K(q, k, w0, ahead, true, relaxed), rowQ4K(q, k, w1, ahead, true, relaxed), rowQ4K(q, k, w2, ahead, true, relaxed), rowQ4K(q, k, w3, ahead, true, relaxed));
  return sum4x4f(rowQ6K(q, k, w0, relaxed), rowQ6K(q, k, w1, relaxed), rowQ6K(q, k, w2, relaxed), rowQ6K(q, k, w3, relaxed));
}

function rows4Relaxed(fmt: i32, q: usize, k: i32, w0: usize, w1: usize, w2: usize, w3: usize, sc: usize, ahead: usize): v128 {
  return rows4(fmt, q, k, w0, w1, w2, w3, sc, ahead, true);
}

function rows4Products(fmt: i32, q: usize, k: i32, w0: usize, w1: usize, w2: usize, w3: usize, sc: usize, ahead: usize): v128 {
  return rows4(fmt, q, k, w0, w1, w2, w3, sc, ahead, false);
}

/**
 * Stored rows w, w + rb, w + 2 rb, w + 3 rb (of a format with hasQ8Dot) times the quantized
 * activation row at q (quantizeRowK's layout for formats that takesRowK, else quantizeRow's):
 * lane r is row r's dot product. With fewer than 4 rows (`rows`), the missing ones repeat the
 * last real row (their lanes are not to be used). `scratch`: k / 4 bytes the kernels may
 * overwrite (q8_0 keeps two rows' block scales there). `ahead`: for q4_k, q5_k and mxfp4, the byte
 * distance at which they read the rows to come (row-gemm.ts readsAheadInLoop); 0 reads their
 * own rows again, and every address read ahead must lie within the weights.
 */
export function dotRowsQ8(fmt: i32, q: usize, k: i32, w: usize, rb: usize, rows: i32, scratch: usize, ahead: usize): v128 {
  const w1 = w + (rows > 1 ? rb : 0);
  const w2 = w + (rows > 2 ? 2 * rb : rows > 1 ? rb : 0);
  const w3 = w + (rows > 3 ? 3 * rb : rows > 2 ? 2 * rb : rows > 1 ? rb : 0);
  if (relaxedDotInUse()) return rows4Relaxed(fmt, q, k, w, w1, w2, w3, scratch, ahead);
  return rows4Products(fmt, q, k, w, w1, w2, w3, scratch, ahead);
}
