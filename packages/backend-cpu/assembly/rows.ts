// Weights kept in their stored format (rows of blocks along the input dimension, exactly as
// GGUF stores them): decoding a row to float32 and dot products of float32 activation rows
// with such rows. Every format but mxfp4 has a fused SIMD dot product that decodes in
// registers (each value exactly as decodeRow writes it); mxfp4 decodes a row into the
// thread's work buffer first.
// All pointers are byte addresses (unsigned) in the shared memory.
import { madd } from './simd';
import { halves4, highNibbles, pickBytes, shl4 } from './lanes';
import { decodeQ5_0, dotQ5_0 } from './rows-q5';

/** Weight format codes (src/wasm/descriptors.ts mirrors them). PANELS = packed float32 panels. */
export const PANELS = 0;
export const F32 = 1;
export const F16 = 2;
export const BF16 = 3;
export const Q8_0 = 4;
export const Q4_0 = 5;
export const Q4_K = 6;
export const Q5_K = 7;
export const Q6_K = 8;
export const MXFP4 = 9;
export const Q5_0 = 10;

/** Bytes of one row of k values. */
export function rowBytesOf(fmt: i32, k: i32): usize {
  const n = <usize>k;
  switch (fmt) {
    case F32: return n << 2;
    case F16:
    case BF16: return n << 1;
    case Q8_0: return (n >> 5) * 34;
    case Q4_0: return (n >> 5) * 18;
    case Q5_0: return (n >> 5) * 22;
    case Q4_K: return (n >> 8) * 144;
    case Q5_K: return (n >> 8) * 176;
    case Q6_K: return (n >> 8) * 210;
    case MXFP4: return (n >> 5) * 17;
    default: return 0;
  }
}

/** Whether a format has a fused dot product (no decode into the work buffer). */
// @ts-ignore: decorator
@inline
export function fused(fmt: i32): bool {
  if (fmt == Q5_0) return true;
  return fmt <= Q6_K;
}

// ---- half precision ---------------------------------------------------------------------

/** float16 bits to float32, exactly (normals, subnormals, inf/nan). */
// @ts-ignore: decorator
@inline
export function h2f(h: u32): f32 {
  const mag = h & 0x7fff;
  // Normals by re-biasing the exponent; subnormals exactly as m 2^-24 (an integer times a power of two).
  const normal = reinterpret<f32>((mag << 13) + 0x38000000);
  const sub = <f32>mag * reinterpret<f32>(0x33800000); // 2^-24
  let r = select<f32>(sub, normal, mag < 0x400);
  r = select<f32>(reinterpret<f32>((mag << 13) | 0x7f800000), r, mag >= 0x7c00);
  return reinterpret<f32>(reinterpret<u32>(r) | ((h & 0x8000) << 16));
}

/**
 * Four float16 values (the low 16 bits of each i32 lane) to float32, exactly, without ever
 * computing on a subnormal float32 (those cost a microcode assist per operation on x86):
 * normals by moving the fields and re-biasing the exponent (integer ops), zeros and
 * subnormals as (2^-14 + m 2^-24) - 2^-14, infinities and NaNs by a second re-bias.
 */
// @ts-ignore: decorator
@inline
export function h2fx4(h: v128): v128 {
  // Sign to bit 31, exponent to 23..27, mantissa to 13..22 (bits 28..30 cleared).
  const w = v128.and(i32x4.shr_s(i32x4.shl(h, 16), 3), i32x4.splat(0x8fffffff));
  const exp = v128.and(w, i32x4.splat(0x0f800000));
  let t = i32x4.add(w, i32x4.splat(0x38000000));
  t = i32x4.add(t, v128.and(i32x4.eq(exp, i32x4.splat(0x0f800000)), i32x4.splat(0x38000000)));
  // Exponent field 113 makes +-(2^-14 + m 2^-24); taking 2^-14 away leaves m 2^-24 exactly.
  const twoPow = v128.or(v128.and(w, i32x4.splat(0x80000000)), i32x4.splat(0x38800000));
  const sub = f32x4.sub(i32x4.add(w, i32x4.splat(0x38800000)), twoPow);
  return v128.bitselect(sub, t, i32x4.eq(exp, i32x4.splat(0)));
}

/** Whether any of eight float16 values (one v128) is a zero, subnormal, infinity or NaN (else the field moves alone convert them). */
// @ts-ignore: decorator
@inline
function halfPairSpecial(h: v128): bool {
  const e = v128.and(h, i16x8.splat(0x7c00));
  return v128.any_true(v128.or(i16x8.eq(e, i16x8.splat(0)), i16x8.eq(e, i16x8.splat(0x7c00))));
}

/** Four float16 values known to be normal numbers, to float32. */
// @ts-ignore: decorator
@inline
function h2fx4Normal(h: v128): v128 {
  return i32x4.add(v128.and(i32x4.shr_s(i32x4.shl(h, 16), 3), i32x4.splat(0x8fffffff)), i32x4.splat(0x38000000));
}

// ---- fused dot products (float32 activations) ---------------------------------------------

// @ts-ignore: decorator
@inline
export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** x . w over k float32 values (both contiguous), 4 chains of 4 lanes. */
export function dotF32(x: usize, w: usize, k: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  const end = x + (<usize>k << 2);
  let xp = x;
  let wp = w;
  for (; xp + 64 <= end; xp += 64, wp += 64) {
    a0 = madd(v128.load(xp), v128.load(wp), a0);
    a1 = madd(v128.load(xp, 16), v128.load(wp, 16), a1);
    a2 = madd(v128.load(xp, 32), v128.load(wp, 32), a2);
    a3 = madd(v128.load(xp, 48), v128.load(wp, 48), a3);
  }
  for (; xp + 16 <= end; xp += 16, wp += 16) a0 = madd(v128.load(xp), v128.load(wp), a0);
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; xp < end; xp += 4, wp += 4) s += load<f32>(xp) * load<f32>(wp);
  return s;
}

/** x . w over k half-precision values; bf16 (a shift) when `brain`, else f16. */
function dotHalf(x: usize, w: usize, k: i32, brain: bool): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  const end = x + (<usize>k << 2);
  let xp = x;
  let wp = w;
  if (brain) {
    for (; xp + 32 <= end; xp += 32, wp += 16) {
      const h = v128.load(wp);
      a0 = madd(v128.load(xp), i32x4.shl(i32x4.extend_low_i16x8_u(h), 16), a0);
      a1 = madd(v128.load(xp, 16), i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), a1);
    }
  } else {
    for (; xp + 32 <= end; xp += 32, wp += 16) {
      const h = v128.load(wp);
      const lo = i32x4.extend_low_i16x8_u(h);
      const hi = i32x4.extend_high_i16x8_u(h);
      const special = halfPairSpecial(h);
      a0 = madd(v128.load(xp), special ? h2fx4(lo) : h2fx4Normal(lo), a0);
      a1 = madd(v128.load(xp, 16), special ? h2fx4(hi) : h2fx4Normal(hi), a1);
    }
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; xp < end; xp += 4, wp += 2) {
    const h = <u32>load<u16>(wp);
    s += load<f32>(xp) * (brain ? reinterpret<f32>(h << 16) : h2f(h));
  }
  return s;
}

/** Eight float32 vectors from 32 signed bytes times eight vectors of x, summed in two chains. */
// @ts-ignore: decorator
@inline
export function dot32i8(q0: v128, q1: v128, xp: usize): v128 {
  const l0 = i16x8.extend_low_i8x16_s(q0);
  const h0 = i16x8.extend_high_i8x16_s(q0);
  const l1 = i16x8.extend_low_i8x16_s(q1);
  const h1 = i16x8.extend_high_i8x16_s(q1);
  let s0 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l0)), v128.load(xp));
  let s1 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l0)), v128.load(xp, 16));
  s0 = madd(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h0)), v128.load(xp, 32), s0);
  s1 = madd(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h0)), v128.load(xp, 48), s1);
  s0 = madd(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l1)), v128.load(xp, 64), s0);
  s1 = madd(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l1)), v128.load(xp, 80), s1);
  s0 = madd(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h1)), v128.load(xp, 96), s0);
  s1 = madd(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h1)), v128.load(xp, 112), s1);
  return f32x4.add(s0, s1);
}

/** The f16 scales of four consecutive blocks `stride` bytes apart, as float32 lanes (one SIMD conversion instead of four scalar ones). */
// @ts-ignore: decorator
@inline
export function scales4(w: usize, stride: usize): v128 {
  return h2fx4(halves4(w, stride));
}

/** x . w over a q8_0 row: per block, the 32 products summed then scaled by the block's d. */
function dotQ8_0(x: usize, w: usize, k: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  const nb = k >> 5;
  let wp = w;
  let xp = x;
  let i = 0;
  for (; i + 4 <= nb; i += 4, wp += 136, xp += 512) {
    const s = scales4(wp, 34);
    acc0 = madd(dot32i8(v128.load(wp, 2), v128.load(wp, 18), xp), f32x4.splat(f32x4.extract_lane(s, 0)), acc0);
    acc1 = madd(dot32i8(v128.load(wp, 36), v128.load(wp, 52), xp + 128), f32x4.splat(f32x4.extract_lane(s, 1)), acc1);
    acc0 = madd(dot32i8(v128.load(wp, 70), v128.load(wp, 86), xp + 256), f32x4.splat(f32x4.extract_lane(s, 2)), acc0);
    acc1 = madd(dot32i8(v128.load(wp, 104), v128.load(wp, 120), xp + 384), f32x4.splat(f32x4.extract_lane(s, 3)), acc1);
  }
  for (; i < nb; i++, wp += 34, xp += 128) acc0 = madd(dot32i8(v128.load(wp, 2), v128.load(wp, 18), xp), f32x4.splat(h2f(load<u16>(wp))), acc0);
  return hsum(f32x4.add(acc0, acc1));
}

/** x . w over a q4_0 row: nibbles minus 8 as signed bytes, then as q8_0. */
function dotQ4_0(x: usize, w: usize, k: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  const nb = k >> 5;
  let wp = w;
  let xp = x;
  const mask = i8x16.splat(15);
  const eight = i8x16.splat(8);
  let i = 0;
  for (; i + 1 < nb; i += 2, wp += 36, xp += 256) {
    const q0 = v128.load(wp, 2);
    const q1 = v128.load(wp, 20);
    acc0 = madd(dot32i8(i8x16.sub(v128.and(q0, mask), eight), i8x16.sub(highNibbles(q0), eight), xp), f32x4.splat(h2f(load<u16>(wp))), acc0);
    acc1 = madd(dot32i8(i8x16.sub(v128.and(q1, mask), eight), i8x16.sub(highNibbles(q1), eight), xp + 128), f32x4.splat(h2f(load<u16>(wp, 18))), acc1);
  }
  if (i < nb) {
    const q = v128.load(wp, 2);
    acc0 = madd(dot32i8(i8x16.sub(v128.and(q, mask), eight), i8x16.sub(highNibbles(q), eight), xp), f32x4.splat(h2f(load<u16>(wp))), acc0);
  }
  return hsum(f32x4.add(acc0, acc1));
}

/** acc + x . (d q - m) over 16 values (q: 16 unsigned bytes, x: 16 float32 at xp). */
// @ts-ignore: decorator
@inline
function fmaAffine16(q: v128, d: v128, m: v128, xp: usize, acc: v128): v128 {
  const l = i16x8.extend_low_i8x16_u(q);
  const h = i16x8.extend_high_i8x16_u(q);
  acc = madd(v128.load(xp), f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(l)), d), m), acc);
  acc = madd(v128.load(xp, 16), f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(l)), d), m), acc);
  acc = madd(v128.load(xp, 32), f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(h)), d), m), acc);
  return madd(v128.load(xp, 48), f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(h)), d), m), acc);
}

/** acc + x . (d q) over 16 values (q: 16 signed bytes). */
// @ts-ignore: decorator
@inline
function fmaScaled16(q: v128, d: v128, xp: usize, acc: v128): v128 {
  const l = i16x8.extend_low_i8x16_s(q);
  const h = i16x8.extend_high_i8x16_s(q);
  acc = madd(v128.load(xp), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l)), d), acc);
  acc = madd(v128.load(xp, 16), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l)), d), acc);
  acc = madd(v128.load(xp, 32), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h)), d), acc);
  return madd(v128.load(xp, 48), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h)), d), acc);
}

/**
 * x . w for a q4_k (or, with `high`, q5_k) row: each value decoded in registers exactly as
 * decodeQ4K writes it (d sc q - dmin m, one rounding), so the float32 path stays tight.
 */
function dotQ4K(x: usize, w: usize, k: i32, high: bool): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  const mask = i8x16.splat(15);
  const one = i8x16.splat(1);
  const stride: usize = high ? 176 : 144;
  const nb = k >> 8;
  let xp = x;
  for (let b = 0; b < nb; b++, w += stride) {
    const d = h2f(load<u16>(w));
    const dmin = h2f(load<u16>(w, 2));
    const qs = w + (high ? 48 : 16);
    for (let c = 0; c < 4; c++, xp += 256) {
      const sm0 = scaleMin(w + 4, 2 * c);
      const sm1 = scaleMin(w + 4, 2 * c + 1);
      const d0 = f32x4.splat(d * <f32>(sm0 & 255));
      const m0 = f32x4.splat(dmin * <f32>(sm0 >> 8));
      const d1 = f32x4.splat(d * <f32>(sm1 & 255));
      const m1 = f32x4.splat(dmin * <f32>(sm1 >> 8));
      for (let half = 0; half < 2; half++) {
        const q = v128.load(qs + 32 * c + 16 * half);
        let lo = v128.and(q, mask);
        let hi = highNibbles(q);
        if (high) {
          const h = v128.load(w + 16 + 16 * half);
          lo = v128.or(lo, shl4(v128.and(i16x8.shr_u(h, 2 * c), one)));
          hi = v128.or(hi, shl4(v128.and(i16x8.shr_u(h, 2 * c + 1), one)));
        }
        a0 = fmaAffine16(lo, d0, m0, xp + 64 * half, a0);
        a1 = fmaAffine16(hi, d1, m1, xp + 128 + 64 * half, a1);
      }
    }
  }
  return hsum(f32x4.add(a0, a1));
}

/**
 * The 16 six-bit codes (0..63) of group g (0..3) of a q6_k half block: value 32 g + l of the
 * half block takes its low four bits from ql (lo = ql[l], hi = ql[l + 32]: groups 0 and 2 from
 * lo, 1 and 3 from hi, low nibbles first) and its top two from bits 2 g of qh[l]. The one
 * unpacking every q6_k kernel uses (float32 dot, decode, 8-bit dot); g is a constant at each
 * call, so inlining leaves one branch.
 */
// @ts-ignore: decorator
@inline
export function q6Codes(lo: v128, hi: v128, h: v128, g: i32): v128 {
  const mask = i8x16.splat(15);
  const three = i8x16.splat(3);
  if (g == 0) return v128.or(v128.and(lo, mask), shl4(v128.and(h, three)));
  if (g == 1) return v128.or(v128.and(hi, mask), shl4(v128.and(i16x8.shr_u(h, 2), three)));
  if (g == 2) return v128.or(highNibbles(lo), shl4(v128.and(highNibbles(h), three)));
  return v128.or(highNibbles(hi), v128.and(i16x8.shr_u(h, 2), i8x16.splat(0x30)));
}

/** x . w for a q6_k row, each value decoded in registers as decodeQ6K writes it. */
function dotQ6K(x: usize, w: usize, k: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  const off = i8x16.splat(32);
  const nb = k >> 8;
  for (let b = 0; b < nb; b++, w += 210) {
    const d = h2f(load<u16>(w, 208));
    for (let n = 0; n < 2; n++) {
      const ql = w + 64 * n;
      const qh = w + 128 + 32 * n;
      const sc = w + 192 + 8 * n;
      const y = x + (<usize>(2 * b + n) << 9);
      for (let half = 0; half < 2; half++) {
        const lo = v128.load(ql + 16 * half);
        const hi = v128.load(ql + 32 + 16 * half);
        const h = v128.load(qh + 16 * half);
        const o = y + 64 * half;
        a0 = fmaScaled16(i8x16.sub(q6Codes(lo, hi, h, 0), off), f32x4.splat(d * <f32>load<i8>(sc + half)), o, a0);
        a1 = fmaScaled16(i8x16.sub(q6Codes(lo, hi, h, 1), off), f32x4.splat(d * <f32>load<i8>(sc + half + 2)), o + 128, a1);
        a0 = fmaScaled16(i8x16.sub(q6Codes(lo, hi, h, 2), off), f32x4.splat(d * <f32>load<i8>(sc + half + 4)), o + 256, a0);
        a1 = fmaScaled16(i8x16.sub(q6Codes(lo, hi, h, 3), off), f32x4.splat(d * <f32>load<i8>(sc + half + 6)), o + 384, a1);
      }
    }
  }
  return hsum(f32x4.add(a0, a1));
}

/** x . w for a fused format (all but MXFP4). */
export function dotFused(fmt: i32, x: usize, w: usize, k: i32): f32 {
  switch (fmt) {
    case F32: return dotF32(x, w, k);
    case F16: return dotHalf(x, w, k, false);
    case BF16: return dotHalf(x, w, k, true);
    case Q8_0: return dotQ8_0(x, w, k);
    case Q4_0: return dotQ4_0(x, w, k);
    case Q5_0: return dotQ5_0(x, w, k);
    case Q4_K: return dotQ4K(x, w, k, false);
    case Q5_K: return dotQ4K(x, w, k, true);
    default: return dotQ6K(x, w, k);
  }
}

// ---- decoding a row to float32 (the semantics of core's decodeValues) --------------------

/** The 6-bit scale and min of sub-block j of a q4_k / q5_k block (scales at s): scale | min << 8. */
// @ts-ignore: decorator
@inline
export function scaleMin(s: usize, j: i32): u32 {
  if (j < 4) return (<u32>load<u8>(s + j) & 63) | ((<u32>load<u8>(s + j + 4) & 63) << 8);
  const lo = <u32>load<u8>(s + j + 4);
  const sc = (lo & 15) | ((<u32>load<u8>(s + j - 4) >> 6) << 4);
  const mn = (lo >> 4) | ((<u32>load<u8>(s + j) >> 6) << 4);
  return sc | (mn << 8);
}

/** Writes 16 float32 values d * q - m (q: 16 unsigned bytes) to dst. */
// @ts-ignore: decorator
@inline
function storeAffine16(q: v128, d: f32, m: f32, dst: usize): void {
  const dv = f32x4.splat(d);
  const mv = f32x4.splat(m);
  const l = i16x8.extend_low_i8x16_u(q);
  const h = i16x8.extend_high_i8x16_u(q);
  v128.store(dst, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(l)), dv), mv));
  v128.store(dst, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(l)), dv), mv), 16);
  v128.store(dst, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(h)), dv), mv), 32);
  v128.store(dst, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(h)), dv), mv), 48);
}

/** Writes 16 float32 values d * q (q: 16 signed bytes) to dst. */
// @ts-ignore: decorator
@inline
export function storeScaled16s(q: v128, d: f32, dst: usize): void {
  const dv = f32x4.splat(d);
  const l = i16x8.extend_low_i8x16_s(q);
  const h = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l)), dv));
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l)), dv), 16);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h)), dv), 32);
  v128.store(dst, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h)), dv), 48);
}

function decodeQ4K(w: usize, nb: i32, dst: usize, high: bool): void {
  const mask = i8x16.splat(15);
  const stride: usize = high ? 176 : 144;
  for (let b = 0; b < nb; b++, w += stride, dst += 1024) {
    const d = h2f(load<u16>(w));
    const dmin = h2f(load<u16>(w, 2));
    const qh = w + 16;
    const qs = w + (high ? 48 : 16);
    for (let c = 0; c < 4; c++) {
      const sm0 = scaleMin(w + 4, 2 * c);
      const sm1 = scaleMin(w + 4, 2 * c + 1);
      const d0 = d * <f32>(sm0 & 255);
      const m0 = dmin * <f32>(sm0 >> 8);
      const d1 = d * <f32>(sm1 & 255);
      const m1 = dmin * <f32>(sm1 >> 8);
      for (let half = 0; half < 2; half++) {
        const q = v128.load(qs + 32 * c + 16 * half);
        let lo = v128.and(q, mask);
        let hi = highNibbles(q);
        if (high) {
          // The fifth bit of sub-block s sits in bit s of qh[l].
          const h = v128.load(qh + 16 * half);
          const one = i8x16.splat(1);
          lo = v128.or(lo, shl4(v128.and(i16x8.shr_u(h, <u32>(2 * c)), one)));
          hi = v128.or(hi, shl4(v128.and(i16x8.shr_u(h, <u32>(2 * c + 1)), one)));
        }
        storeAffine16(lo, d0, m0, dst + 256 * c + 64 * half);
        storeAffine16(hi, d1, m1, dst + 256 * c + 128 + 64 * half);
      }
    }
  }
}

function decodeQ6K(w: usize, nb: i32, dst: usize): void {
  const off = i8x16.splat(32);
  for (let b = 0; b < nb; b++, w += 210, dst += 1024) {
    const d = h2f(load<u16>(w, 208));
    for (let n = 0; n < 2; n++) {
      const ql = w + 64 * n;
      const qh = w + 128 + 32 * n;
      const sc = w + 192 + 8 * n;
      const y = dst + 512 * n;
      for (let half = 0; half < 2; half++) {
        const lo = v128.load(ql + 16 * half);
        const hi = v128.load(ql + 32 + 16 * half);
        const h = v128.load(qh + 16 * half);
        const o = y + 64 * half;
        storeScaled16s(i8x16.sub(q6Codes(lo, hi, h, 0), off), d * <f32>load<i8>(sc + half), o);
        storeScaled16s(i8x16.sub(q6Codes(lo, hi, h, 1), off), d * <f32>load<i8>(sc + half + 2), o + 128);
        storeScaled16s(i8x16.sub(q6Codes(lo, hi, h, 2), off), d * <f32>load<i8>(sc + half + 4), o + 256);
        storeScaled16s(i8x16.sub(q6Codes(lo, hi, h, 3), off), d * <f32>load<i8>(sc + half + 6), o + 384);
      }
    }
  }
}

/** FP4 (E2M1) values doubled (ggml's kvalues_mxfp4), as the bytes of one v128 for a swizzle. */
const MXFP4_LUT = memory.data<i8>([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

function decodeMxfp4(w: usize, nb: i32, dst: usize): void {
  const lut = v128.load(MXFP4_LUT);
  const mask = i8x16.splat(15);
  for (let b = 0; b < nb; b++, w += 17, dst += 128) {
    // E8M0 scale 2^(e - 127), halved for the doubled values; e = 0 gives 2^-128 (a subnormal).
    const e = <i32>load<u8>(w);
    const d = e >= 2 ? reinterpret<f32>((e - 1) << 23) : <f32>Math.pow(2, <f64>(e - 128));
    const q = v128.load(w, 1);
    storeScaled16s(pickBytes(lut, v128.and(q, mask)), d, dst);
    storeScaled16s(pickBytes(lut, highNibbles(q)), d, dst + 64);
  }
}

function decodeQ8_0(w: usize, nb: i32, dst: usize): void {
  for (let b = 0; b < nb; b++, w += 34, dst += 128) {
    const d = h2f(load<u16>(w));
    storeScaled16s(v128.load(w, 2), d, dst);
    storeScaled16s(v128.load(w, 18), d, dst + 64);
  }
}

function decodeQ4_0(w: usize, nb: i32, dst: usize): void {
  const mask = i8x16.splat(15);
  const eight = i8x16.splat(8);
  for (let b = 0; b < nb; b++, w += 18, dst += 128) {
    const d = h2f(load<u16>(w));
    const q = v128.load(w, 2);
    storeScaled16s(i8x16.sub(v128.and(q, mask), eight), d, dst);
    storeScaled16s(i8x16.sub(highNibbles(q), eight), d, dst + 64);
  }
}

function decodeHalf(w: usize, k: i32, dst: usize, brain: bool): void {
  let i = 0;
  for (; i + 8 <= k; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const lo = i32x4.extend_low_i16x8_u(h);
    const hi = i32x4.extend_high_i16x8_u(h);
    v128.store(dst + (<usize>i << 2), brain ? i32x4.shl(lo, 16) : h2fx4(lo));
    v128.store(dst + (<usize>i << 2), brain ? i32x4.shl(hi, 16) : h2fx4(hi), 16);
  }
  for (; i < k; i++) {
    const h = <u32>load<u16>(w + (<usize>i << 1));
    store<f32>(dst + (<usize>i << 2), brain ? reinterpret<f32>(h << 16) : h2f(h));
  }
}

/** Decodes one row of k values of `fmt` at w into float32 at dst. */
export function decodeRow(fmt: i32, w: usize, k: i32, dst: usize): void {
  switch (fmt) {
    case F32: memory.copy(dst, w, <usize>k << 2); break;
    case F16:
    case BF16: decodeHalf(w, k, dst, fmt == BF16); break;
    case Q8_0: decodeQ8_0(w, k >> 5, dst); break;
    case Q4_0: decodeQ4_0(w, k >> 5, dst); break;
    case Q5_0: decodeQ5_0(w, k >> 5, dst); break;
    case Q4_K: decodeQ4K(w, k >> 8, dst, false); break;
    case Q5_K: decodeQ4K(w, k >> 8, dst, true); break;
    case Q6_K: decodeQ6K(w, k >> 8, dst); break;
    default: decodeMxfp4(w, k >> 5, dst); break;
  }
}
