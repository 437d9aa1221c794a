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
import { h2f, MXFP4, q6Codes, Q4_0, Q4_K, Q5_K, Q6_K, Q8_0 } from './rows';
import { Q5_0 } from './rows';
import { rows4Q5_0 } from './rows-q5';

/** Flag on a descriptor's format: quantize the activations to 8 bits for fused formats. */
export const ACT_Q8 = 256;

/** Whether a format has a dot product on 8-bit activations. */
// @ts-ignore: decorator
@inline
export function hasQ8Dot(fmt: i32): bool {
  if (fmt == Q5_0) return true;
  return fmt == Q8_0 || fmt == Q4_0 || fmt == Q4_K || fmt == Q5_K || fmt == Q6_K || fmt == MXFP4;
}

// ---- the quantized activation row ------------------------------------------------------------
// Layout for k values (nb = k / 32 blocks): i16 codes [k] | i8 codes [k] | f32 dx [nb] (block
// scale) | f32 dxs [nb] (dx times the block's code sum) | i32 sums [nb] (the code sums).

/** Bytes of one quantized activation row of k values. */
// @ts-ignore: decorator
@inline
export function q8RowBytes(k: i32): usize {
  return <usize>k * 3 + (<usize>(k >> 5) * 12);
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
function dxsOf(q: usize, k: i32): usize {
  return q + <usize>k * 3 + (<usize>(k >> 5) << 2);
}

// @ts-ignore: decorator
@inline
function sumsOf(q: usize, k: i32): usize {
  return q + <usize>k * 3 + (<usize>(k >> 5) << 3);
}

/** Quantizes one activation row of k values (k a multiple of 32) into the layout above at q. */
export function quantizeRow(x: usize, k: i32, q: usize): void {
  const nb = k >> 5;
  const q8 = i8Codes(q, k);
  const dx = dxOf(q, k);
  const dxs = dxsOf(q, k);
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
    store<f32>(dxs + (<usize>b << 2), d * <f32>s);
    store<i32>(sums + (<usize>b << 2), s);
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

/**
 * i16 lanes holding sums of the 16 products x c (x signed, |x| <= 127; c codes 0..127, each
 * lane at most 2 x 127 x 127 in magnitude): the relaxed dot or the i16 products. The pairing
 * of products into lanes differs between the two; every caller sums all lanes.
 */
// @ts-ignore: decorator
@inline
function dot16(x: v128, c: v128, relaxed: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (relaxed) return i16x8.relaxed_dot_i8x16_i7x16_s(x, c);
  }
  return i16x8.add(i16x8.extmul_low_i8x16_s(x, c), i16x8.extmul_high_i8x16_s(x, c));
}

// ---- shared pieces ---------------------------------------------------------------------------

/** Lane r = the sum of the four lanes of the r-th argument (i32). */
// @ts-ignore: decorator
@inline
function sum4x4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 1, 4, 5), v128.shuffle<i32>(c, d, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7));
}

/** Lane r = the sum of the four lanes of the r-th argument (f32). */
// @ts-ignore: decorator
@inline
function sum4x4f(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 1, 4, 5), v128.shuffle<f32>(a, b, 2, 3, 6, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 1, 4, 5), v128.shuffle<f32>(c, d, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 2, 4, 6), v128.shuffle<f32>(ab, cd, 1, 3, 5, 7));
}

/**
 * Four float16 values (the low 16 bits of each i32 lane) to float32: the exponent and
 * mantissa moved into place and scaled by 2^112, which is exact for normals, subnormals and
 * zeros; infinities and NaNs get the all-ones exponent. Fewer operations than rows.ts's
 * h2fx4; a subnormal float16 scale only costs time (a float32 subnormal operand).
 */
// @ts-ignore: decorator
@inline
function scalesF16(h: v128): v128 {
  const mag = v128.and(h, i32x4.splat(0x7fff));
  let f = f32x4.mul(i32x4.shl(mag, 13), f32x4.splat(5.192296858534828e33));
  f = v128.or(f, v128.and(i32x4.gt_s(mag, i32x4.splat(0x7bff)), i32x4.splat(0x7f800000)));
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/** The float16 at byte o of each of four rows, as float32 lanes. */
// @ts-ignore: decorator
@inline
function scales4Rows(w0: usize, w1: usize, w2: usize, w3: usize, o: usize): v128 {
  let h = i32x4.splat(<i32>load<u16>(w0 + o));
  h = i32x4.replace_lane(h, 1, <i32>load<u16>(w1 + o));
  h = i32x4.replace_lane(h, 2, <i32>load<u16>(w2 + o));
  h = i32x4.replace_lane(h, 3, <i32>load<u16>(w3 + o));
  return scalesF16(h);
}

// ---- q8_0 ------------------------------------------------------------------------------------

/** The i32 partial sums of one q8_0 block (codes at wp + 2) times the i16 activations x0..x3. */
// @ts-ignore: decorator
@inline
function blockQ8_0(wp: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const v0 = v128.load(wp, 2);
  const v1 = v128.load(wp, 18);
  const s = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v0), x0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v0), x1));
  return i32x4.add(s, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(v1), x2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(v1), x3)));
}

/** The float16 at w, w + stride, w + 2 stride, w + 3 stride (four blocks of one row), as float32 lanes. */
// @ts-ignore: decorator
@inline
function scales4Blocks(w: usize, stride: usize): v128 {
  return scales4Rows(w, w + stride, w + 2 * stride, w + 3 * stride, 0);
}

/**
 * One q8_0 row times one quantized activation row, as four lanes to be summed. Four blocks a
 * pass: their sums gathered into one vector (lane = block) and scaled by the four blocks'
 * weight scales (one conversion) times their activation scales. One row at a time, so the
 * weights stream front to back (four rows read side by side measured slower from DRAM).
 */
// @ts-ignore: decorator
@inline
function rowQ8_0(q: usize, k: i32, w: usize): v128 {
  const nb = k >> 5;
  const dx = dxOf(q, k);
  let acc = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const wp = w + <usize>b * 34;
    const xp = q + (<usize>b << 6);
    const s = sum4x4(
      blockQ8_0(wp, v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48)),
      blockQ8_0(wp + 34, v128.load(xp, 64), v128.load(xp, 80), v128.load(xp, 96), v128.load(xp, 112)),
      blockQ8_0(wp + 68, v128.load(xp, 128), v128.load(xp, 144), v128.load(xp, 160), v128.load(xp, 176)),
      blockQ8_0(wp + 102, v128.load(xp, 192), v128.load(xp, 208), v128.load(xp, 224), v128.load(xp, 240)),
    );
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.mul(scales4Blocks(wp, 34), v128.load(dx + (<usize>b << 2))), acc);
  }
  for (; b < nb; b++) {
    const wp = w + <usize>b * 34;
    const xp = q + (<usize>b << 6);
    const s = blockQ8_0(wp, v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.splat(h2f(load<u16>(wp)) * load<f32>(dx + (<usize>b << 2))), acc);
  }
  return acc;
}

// ---- q4_0 ------------------------------------------------------------------------------------

/** The i32 partial sums of one q4_0 block's codes (at wp + 2, offset not applied) times x0, x1 (i8). */
// @ts-ignore: decorator
@inline
function blockQ4_0(wp: usize, x0: v128, x1: v128, relaxed: bool): v128 {
  const c = v128.load(wp, 2);
  // Lanes at most 2 x 127 x 15 each, so the two halves add in i16.
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(dot16(x0, v128.and(c, i8x16.splat(15)), relaxed), dot16(x1, i8x16.shr_u(c, 4), relaxed)));
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
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.mul(scales4Blocks(wp, 18), v128.load(dx + (<usize>b << 2))), acc);
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
 * The eight 6-bit scales (high = false) or mins (high = true) of a q4_k / q5_k block (12
 * bytes at s), as the bytes 0..7 of a v128: sub-blocks 0..3 keep the low six bits of bytes
 * 0..3 (scales) and 4..7 (mins); sub-blocks 4..7 take four bits from bytes 8..11 and their
 * top two from the top bits of bytes 0..3 (scales) or 4..7 (mins).
 */
// @ts-ignore: decorator
@inline
function kScales(s: usize): v128 {
  const u0 = load<u32>(s);
  const u1 = load<u32>(s, 4);
  const u2 = load<u32>(s, 8);
  const sc03 = u0 & 0x3f3f3f3f;
  const mn03 = u1 & 0x3f3f3f3f;
  const sc47 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
  const mn47 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
  let v = i32x4.splat(<i32>sc03);
  v = i32x4.replace_lane(v, 1, <i32>sc47);
  v = i32x4.replace_lane(v, 2, <i32>mn03);
  return i32x4.replace_lane(v, 3, <i32>mn47);
}

/** Sub-block sums (i32 lanes) of codes c0, c1 (16 each) times activations at x, x + 16. */
// @ts-ignore: decorator
@inline
function subQ4K(x: usize, c0: v128, c1: v128, relaxed: bool): v128 {
  // Codes of at most 5 bits: lanes at most 2 x 127 x 31, so two add in i16.
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(dot16(v128.load(x), c0, relaxed), dot16(v128.load(x, 16), c1, relaxed)));
}

/**
 * The 16 codes of bytes qs + 32 c + 16 part of a q4_k / q5_k block w: low nibbles (sub-block
 * 2 c) or high nibbles (2 c + 1, `upper`), with q5_k's fifth bit (bit s of qh[l] for sub-block s).
 * c, part and upper are constants at every call.
 */
// @ts-ignore: decorator
@inline
function codesQ4K(w: usize, qs: usize, c: i32, part: i32, upper: bool, high: bool): v128 {
  const q = v128.load(qs + 32 * c + 16 * part);
  let v = upper ? i8x16.shr_u(q, 4) : v128.and(q, i8x16.splat(15));
  if (high) {
    const h = v128.load(w + 16 + 16 * part);
    v = v128.or(v, i8x16.shl(v128.and(i8x16.shr_u(h, 2 * c + (upper ? 1 : 0)), i8x16.splat(1)), 4));
  }
  return v;
}

/** The sub-block sum of sub-block 2 c (+ 1 when `upper`) of block w, activations of the block at xb. */
// @ts-ignore: decorator
@inline
function subBlockQ4K(w: usize, qs: usize, xb: usize, c: i32, upper: bool, high: bool, relaxed: bool): v128 {
  return subQ4K(xb + (<usize>(2 * c + (upper ? 1 : 0)) << 5), codesQ4K(w, qs, c, 0, upper, high), codesQ4K(w, qs, c, 1, upper, high), relaxed);
}

/**
 * One q4_k (q5_k when `high`) row times one quantized activation row, as four lanes to be
 * summed: per sub-block j of 32 (activation block j), d sc_j dx_j (x . codes) - dmin m_j dx_j
 * sum(x); the eight sub-block sums are gathered into two vectors and scaled at once.
 */
// @ts-ignore: decorator
@inline
function rowQ4K(q: usize, k: i32, w: usize, high: bool, relaxed: bool): v128 {
  const nb = k >> 8;
  const q8 = i8Codes(q, k);
  const dx = dxOf(q, k);
  const dxs = dxsOf(q, k);
  const stride: usize = high ? 176 : 144;
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++, w += stride) {
    const dd = scalesF16(i32x4.splat(<i32>load<u16>(w)));
    const dm = scalesF16(i32x4.splat(<i32>load<u16>(w, 2)));
    const sm = kScales(w + 4);
    const sc = i16x8.extend_low_i8x16_u(sm);
    const mn = i16x8.extend_high_i8x16_u(sm);
    const qs = w + (high ? 48 : 16);
    const xb = q8 + (<usize>b << 8);
    const part0 = sum4x4(
      subBlockQ4K(w, qs, xb, 0, false, high, relaxed), subBlockQ4K(w, qs, xb, 0, true, high, relaxed),
      subBlockQ4K(w, qs, xb, 1, false, high, relaxed), subBlockQ4K(w, qs, xb, 1, true, high, relaxed),
    );
    const part1 = sum4x4(
      subBlockQ4K(w, qs, xb, 2, false, high, relaxed), subBlockQ4K(w, qs, xb, 2, true, high, relaxed),
      subBlockQ4K(w, qs, xb, 3, false, high, relaxed), subBlockQ4K(w, qs, xb, 3, true, high, relaxed),
    );
    const j = <usize>b << 5;
    const sc0 = f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(sc)), dd);
    const sc1 = f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(sc)), dd);
    const mn0 = f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(mn)), dm);
    const mn1 = f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(mn)), dm);
    acc = madd(f32x4.convert_i32x4_s(part0), f32x4.mul(sc0, v128.load(dx + j)), acc);
    acc = madd(f32x4.convert_i32x4_s(part1), f32x4.mul(sc1, v128.load(dx + j, 16)), acc);
    acc = f32x4.sub(acc, f32x4.mul(mn0, v128.load(dxs + j)));
    acc = f32x4.sub(acc, f32x4.mul(mn1, v128.load(dxs + j, 16)));
  }
  return acc;
}

// ---- q6_k ------------------------------------------------------------------------------------

/** acc + d sc (x . codes - 32 sum(x)) over the 16 values of group g, half `half` (x: activation block blk + g). */
// @ts-ignore: decorator
@inline
function groupQ6K(acc: v128, q8: usize, dx: usize, scales: usize, blk: usize, half: i32, d: f32, codes: v128, g: i32, relaxed: bool): v128 {
  const j = blk + <usize>g;
  const xq = v128.load(q8 + (j << 5) + (<usize>half << 4));
  // Lanes: x . codes at most 2 x 127 x 63, 32 sum(x) at most 32 x 254: the difference fits i16.
  const s = i16x8.sub(dot16(xq, codes, relaxed), i16x8.shl(dot16(xq, i8x16.splat(1), relaxed), 5));
  const scale = d * <f32>load<i8>(scales + half + 2 * g) * load<f32>(dx + (j << 2));
  return madd(f32x4.convert_i32x4_s(i32x4.extadd_pairwise_i16x8_s(s)), f32x4.splat(scale), acc);
}

/**
 * One q6_k row times one quantized activation row, as four lanes to be summed: codes 0..63
 * (rows.ts q6Codes), d sc (x . codes - 32 sum(x)) per 16 values; the 16-value sums of x come
 * from the dot of x with ones.
 */
// @ts-ignore: decorator
@inline
function rowQ6K(q: usize, k: i32, w: usize, relaxed: bool): v128 {
  let acc = f32x4.splat(0);
  const q8 = i8Codes(q, k);
  const dx = dxOf(q, k);
  const nb = k >> 8;
  for (let b = 0; b < nb; b++, w += 210) {
    const d = h2f(load<u16>(w, 208));
    for (let n = 0; n < 2; n++) {
      const ql = w + 64 * n;
      const qh = w + 128 + 32 * n;
      const scales = w + 192 + 8 * n;
      // Values 128 n + 32 g + l (group g = 0..3) are activation block 8 b + 4 n + g.
      const blk = (<usize>b << 3) + (<usize>n << 2);
      for (let half = 0; half < 2; half++) {
        const lo = v128.load(ql + 16 * half);
        const hi = v128.load(ql + 32 + 16 * half);
        const h = v128.load(qh + 16 * half);
        acc = groupQ6K(acc, q8, dx, scales, blk, half, d, q6Codes(lo, hi, h, 0), 0, relaxed);
        acc = groupQ6K(acc, q8, dx, scales, blk, half, d, q6Codes(lo, hi, h, 1), 1, relaxed);
        acc = groupQ6K(acc, q8, dx, scales, blk, half, d, q6Codes(lo, hi, h, 2), 2, relaxed);
        acc = groupQ6K(acc, q8, dx, scales, blk, half, d, q6Codes(lo, hi, h, 3), 3, relaxed);
      }
    }
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

/** The i32 partial sums of one mxfp4 block's offset codes (at wp + 1) times x0, x1 (i8). */
// @ts-ignore: decorator
@inline
function blockMxfp4(wp: usize, lut: v128, x0: v128, x1: v128, relaxed: bool): v128 {
  const q = v128.load(wp, 1);
  const lo = i8x16.swizzle(lut, v128.and(q, i8x16.splat(15)));
  const hi = i8x16.swizzle(lut, i8x16.shr_u(q, 4));
  // Lanes at most 2 x 128 x 24 each, so the two halves add in i16.
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(dot16(x0, lo, relaxed), dot16(x1, hi, relaxed)));
}

/** One mxfp4 row times one quantized activation row, as four lanes to be summed: e dx (x . codes - 12 sum x) per block, four blocks a pass. */
// @ts-ignore: decorator
@inline
function rowMxfp4(q: usize, k: i32, w: usize, relaxed: bool): v128 {
  const nb = k >> 5;
  const q8 = i8Codes(q, k);
  const dx = dxOf(q, k);
  const sums = sumsOf(q, k);
  const lut = v128.load(MXFP4_LUT_12);
  const twelve = i32x4.splat(12);
  let acc = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const wp = w + <usize>b * 17;
    const xp = q8 + (<usize>b << 5);
    let s = sum4x4(
      blockMxfp4(wp, lut, v128.load(xp), v128.load(xp, 16), relaxed),
      blockMxfp4(wp + 17, lut, v128.load(xp, 32), v128.load(xp, 48), relaxed),
      blockMxfp4(wp + 34, lut, v128.load(xp, 64), v128.load(xp, 80), relaxed),
      blockMxfp4(wp + 51, lut, v128.load(xp, 96), v128.load(xp, 112), relaxed),
    );
    s = i32x4.sub(s, i32x4.mul(v128.load(sums + (<usize>b << 2)), twelve));
    let sc = f32x4.splat(e8m0Half(<i32>load<u8>(wp)));
    sc = f32x4.replace_lane(sc, 1, e8m0Half(<i32>load<u8>(wp + 17)));
    sc = f32x4.replace_lane(sc, 2, e8m0Half(<i32>load<u8>(wp + 34)));
    sc = f32x4.replace_lane(sc, 3, e8m0Half(<i32>load<u8>(wp + 51)));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.mul(sc, v128.load(dx + (<usize>b << 2))), acc);
  }
  for (; b < nb; b++) {
    const wp = w + <usize>b * 17;
    const xp = q8 + (<usize>b << 5);
    const s = i32x4.sub(blockMxfp4(wp, lut, v128.load(xp), v128.load(xp, 16), relaxed), i32x4.replace_lane(i32x4.splat(0), 0, load<i32>(sums + (<usize>b << 2)) * 12));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.splat(e8m0Half(<i32>load<u8>(wp)) * load<f32>(dx + (<usize>b << 2))), acc);
  }
  return acc;
}

// ---- dispatch --------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline
function rows4(fmt: i32, q: usize, k: i32, w0: usize, w1: usize, w2: usize, w3: usize, relaxed: bool): v128 {
  // One row after another (each streamed front to back), their lane sums gathered at the end.
  if (fmt == Q8_0) return sum4x4f(rowQ8_0(q, k, w0), rowQ8_0(q, k, w1), rowQ8_0(q, k, w2), rowQ8_0(q, k, w3));
  if (fmt == MXFP4) return sum4x4f(rowMxfp4(q, k, w0, relaxed), rowMxfp4(q, k, w1, relaxed), rowMxfp4(q, k, w2, relaxed), rowMxfp4(q, k, w3, relaxed));
  if (fmt == Q4_0) return sum4x4f(rowQ4_0(q, k, w0, relaxed), rowQ4_0(q, k, w1, relaxed), rowQ4_0(q, k, w2, relaxed), rowQ4_0(q, k, w3, relaxed));
  if (fmt == Q5_0) return rows4Q5_0(i8Codes(q, k), dxOf(q, k), sumsOf(q, k), k, w0, w1, w2, w3, relaxed);
  if (fmt == Q4_K || fmt == Q5_K) {
    const high = fmt == Q5_K;
    return sum4x4f(rowQ4K(q, k, w0, high, relaxed), rowQ4K(q, k, w1, high, relaxed), rowQ4K(q, k, w2, high, relaxed), rowQ4K(q, k, w3, high, relaxed));
  }
  return sum4x4f(rowQ6K(q, k, w0, relaxed), rowQ6K(q, k, w1, relaxed), rowQ6K(q, k, w2, relaxed), rowQ6K(q, k, w3, relaxed));
}

function rows4Relaxed(fmt: i32, q: usize, k: i32, w0: usize, w1: usize, w2: usize, w3: usize): v128 {
  return rows4(fmt, q, k, w0, w1, w2, w3, true);
}

function rows4Products(fmt: i32, q: usize, k: i32, w0: usize, w1: usize, w2: usize, w3: usize): v128 {
  return rows4(fmt, q, k, w0, w1, w2, w3, false);
}

/**
 * Stored rows w, w + rb, w + 2 rb, w + 3 rb (of a format with hasQ8Dot) times the quantized
 * activation row at q: lane r is row r's dot product. With fewer than 4 rows (`rows`), the
 * missing ones repeat the last real row (their lanes are not to be used).
 */
export function dotRowsQ8(fmt: i32, q: usize, k: i32, w: usize, rb: usize, rows: i32): v128 {
  const w1 = w + (rows > 1 ? rb : 0);
  const w2 = w + (rows > 2 ? 2 * rb : rows > 1 ? rb : 0);
  const w3 = w + (rows > 3 ? 3 * rb : rows > 2 ? 2 * rb : rows > 1 ? rb : 0);
  if (relaxedDotInUse()) return rows4Relaxed(fmt, q, k, w, w1, w2, w3);
  return rows4Products(fmt, q, k, w, w1, w2, w3);
}
