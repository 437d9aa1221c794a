// Weights kept in their stored format (rows of blocks along the input dimension, exactly as
// GGUF stores them): decoding a row to float32 and dot products of float32 activation rows
// with such rows. Every format but mxfp4 has a fused SIMD dot product that decodes in
// registers (each value exactly as decodeRow writes it); mxfp4 decodes a row into the
// thread's work buffer first.
// All pointers are byte addresses (unsigned) in the shared memory.
import { madd } from './simd';

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

/** Bytes of one row of k values. */
export function rowBytesOf(fmt: i32, k: i32): usize {
  const n = <usize>k;
  switch (fmt) {
    case F32: return n << 2;
    case F16:
    case BF16: return n << 1;
    case Q8_0: return (n >> 5) * 34;
    case Q4_0: return (n >> 5) * 18;
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
  return fmt <= Q6_K;
}

// ---- half precision ---------------------------------------------------------------------

/** float16 bits to float32, exactly (normals, subnormals, inf/nan). */
// @ts-ignore: decorator
@inline
function h2f(h: u32): f32 {
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
function h2fx4(h: v128): v128 {
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
function hsum(v: v128): f32 {
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
function dot32i8(q0: v128, q1: v128, xp: usize): v128 {
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
    acc0 = madd(dot32i8(i8x16.sub(v128.and(q0, mask), eight), i8x16.sub(i8x16.shr_u(q0, 4), eight), xp), f32x4.splat(h2f(load<u16>(wp))), acc0);
    acc1 = madd(dot32i8(i8x16.sub(v128.and(q1, mask), eight), i8x16.sub(i8x16.shr_u(q1, 4), eight), xp + 128), f32x4.splat(h2f(load<u16>(wp, 18))), acc1);
  }
  if (i < nb) {
    const q = v128.load(wp, 2);
    acc0 = madd(dot32i8(i8x16.sub(v128.and(q, mask), eight), i8x16.sub(i8x16.shr_u(q, 4), eight), xp), f32x4.splat(h2f(load<u16>(wp))), acc0);
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
        let hi = i8x16.shr_u(q, 4);
        if (high) {
          const h = v128.load(w + 16 + 16 * half);
          lo = v128.or(lo, i8x16.shl(v128.and(i8x16.shr_u(h, 2 * c), one), 4));
          hi = v128.or(hi, i8x16.shl(v128.and(i8x16.shr_u(h, 2 * c + 1), one), 4));
        }
        a0 = fmaAffine16(lo, d0, m0, xp + 64 * half, a0);
        a1 = fmaAffine16(hi, d1, m1, xp + 128 + 64 * half, a1);
      }
    }
  }
  return hsum(f32x4.add(a0, a1));
}

/** x . w for a q6_k row, each value decoded in registers as decodeQ6K writes it. */
function dotQ6K(x: usize, w: usize, k: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  const mask = i8x16.splat(15);
  const three = i8x16.splat(3);
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
        const q0 = i8x16.sub(v128.or(v128.and(lo, mask), i8x16.shl(v128.and(h, three), 4)), off);
        const q1 = i8x16.sub(v128.or(v128.and(hi, mask), i8x16.shl(v128.and(i8x16.shr_u(h, 2), three), 4)), off);
        const q2 = i8x16.sub(v128.or(i8x16.shr_u(lo, 4), i8x16.shl(v128.and(i8x16.shr_u(h, 4), three), 4)), off);
        const q3 = i8x16.sub(v128.or(i8x16.shr_u(hi, 4), i8x16.shl(i8x16.shr_u(h, 6), 4)), off);
        const o = y + 64 * half;
        a0 = fmaScaled16(q0, f32x4.splat(d * <f32>load<i8>(sc + half)), o, a0);
        a1 = fmaScaled16(q1, f32x4.splat(d * <f32>load<i8>(sc + half + 2)), o + 128, a1);
        a0 = fmaScaled16(q2, f32x4.splat(d * <f32>load<i8>(sc + half + 4)), o + 256, a0);
        a1 = fmaScaled16(q3, f32x4.splat(d * <f32>load<i8>(sc + half + 6)), o + 384, a1);
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
    case Q4_K: return dotQ4K(x, w, k, false);
    case Q5_K: return dotQ4K(x, w, k, true);
    default: return dotQ6K(x, w, k);
  }
}

// ---- decoding a row to float32 (the semantics of core's decodeValues) --------------------

/** The 6-bit scale and min of sub-block j of a q4_k / q5_k block (scales at s): scale | min << 8. */
// @ts-ignore: decorator
@inline
function scaleMin(s: usize, j: i32): u32 {
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
function storeScaled16s(q: v128, d: f32, dst: usize): void {
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
        let hi = i8x16.shr_u(q, 4);
        if (high) {
          // The fifth bit of sub-block s sits in bit s of qh[l].
          const h = v128.load(qh + 16 * half);
          const one = i8x16.splat(1);
          lo = v128.or(lo, i8x16.shl(v128.and(i8x16.shr_u(h, <u32>(2 * c)), one), 4));
          hi = v128.or(hi, i8x16.shl(v128.and(i8x16.shr_u(h, <u32>(2 * c + 1)), one), 4));
        }
        storeAffine16(lo, d0, m0, dst + 256 * c + 64 * half);
        storeAffine16(hi, d1, m1, dst + 256 * c + 128 + 64 * half);
      }
    }
  }
}

function decodeQ6K(w: usize, nb: i32, dst: usize): void {
  const mask = i8x16.splat(15);
  const three = i8x16.splat(3);
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
        const q0 = i8x16.sub(v128.or(v128.and(lo, mask), i8x16.shl(v128.and(h, three), 4)), off);
        const q1 = i8x16.sub(v128.or(v128.and(hi, mask), i8x16.shl(v128.and(i8x16.shr_u(h, 2), three), 4)), off);
        const q2 = i8x16.sub(v128.or(i8x16.shr_u(lo, 4), i8x16.shl(v128.and(i8x16.shr_u(h, 4), three), 4)), off);
        const q3 = i8x16.sub(v128.or(i8x16.shr_u(hi, 4), i8x16.shl(i8x16.shr_u(h, 6), 4)), off);
        const o = y + 64 * half;
        storeScaled16s(q0, d * <f32>load<i8>(sc + half), o);
        storeScaled16s(q1, d * <f32>load<i8>(sc + half + 2), o + 128);
        storeScaled16s(q2, d * <f32>load<i8>(sc + half + 4), o + 256);
        storeScaled16s(q3, d * <f32>load<i8>(sc + half + 6), o + 384);
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
    storeScaled16s(i8x16.swizzle(lut, v128.and(q, mask)), d, dst);
    storeScaled16s(i8x16.swizzle(lut, i8x16.shr_u(q, 4)), d, dst + 64);
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
    storeScaled16s(i8x16.sub(i8x16.shr_u(q, 4), eight), d, dst + 64);
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
    case Q4_K: decodeQ4K(w, k >> 8, dst, false); break;
    case Q5_K: decodeQ4K(w, k >> 8, dst, true); break;
    case Q6_K: decodeQ6K(w, k >> 8, dst); break;
    default: decodeMxfp4(w, k >> 5, dst); break;
  }
}

// ---- 8-bit activations (llama.cpp-style q8 dot products) ---------------------------------

/** Flag on a descriptor's format: quantize the activations to 8 bits for fused formats. */
export const ACT_Q8 = 256;

/** Whether a format has a dot product on 8-bit activations. */
// @ts-ignore: decorator
@inline
export function hasQ8Dot(fmt: i32): bool {
  return fmt == Q8_0 || fmt == Q4_0 || fmt == Q4_K || fmt == Q5_K || fmt == Q6_K;
}

/**
 * Quantizes one activation row of k values (k a multiple of 32) into blocks of 32 signed
 * bytes at q with, per block, the float32 scale amax / 127 at sc and the sum of its 32
 * integers at sums (what q4_0's offset of 8 needs).
 */
export function quantizeRow(x: usize, k: i32, q: usize, sc: usize, sums: usize): void {
  const nb = k >> 5;
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
      v128.store(q + (<usize>b << 5) + (<usize>h << 4), i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(i0, i1), i16x8.narrow_i32x4_s(i2, i3)));
    }
    store<f32>(sc + (<usize>b << 2), d);
    store<i32>(sums + (<usize>b << 2), i32x4.extract_lane(total, 0) + i32x4.extract_lane(total, 1) + i32x4.extract_lane(total, 2) + i32x4.extract_lane(total, 3));
  }
}

/**
 * Sum of the 16 products of two vectors of signed bytes, as four i32 lanes: products as i16
 * (|q| <= 127 on both sides, so a product and the sum of two fit), pairs added, widened.
 */
// @ts-ignore: decorator
@inline
function dotI8(a: v128, b: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(a, b), i16x8.extmul_high_i8x16_s(a, b)));
}

/**
 * Sum of the 16 products of signed bytes x and codes q (0..63), added to acc. The relaxed
 * i8 x i7 dot (`i32x4.relaxed_dot_i8x16_i7x16_add_s`) would take the codes as its 7-bit
 * operand in one instruction, but on Node 20's V8 (11.3) it gave wrong sums here (rel-L2 ~1
 * on a q4_0 / k-quant row, tested), so both builds use the i16 products.
 */
// @ts-ignore: decorator
@inline
function dotI8U4(x: v128, q: v128, acc: v128): v128 {
  return i32x4.add(acc, dotI8(x, q));
}

/** The f16 scales of four consecutive blocks `stride` bytes apart, as float32 lanes (one SIMD conversion instead of four scalar ones). */
// @ts-ignore: decorator
@inline
function scales4(w: usize, stride: usize): v128 {
  let h = i32x4.splat(<i32>load<u16>(w));
  h = i32x4.replace_lane(h, 1, <i32>load<u16>(w + stride));
  h = i32x4.replace_lane(h, 2, <i32>load<u16>(w + 2 * stride));
  h = i32x4.replace_lane(h, 3, <i32>load<u16>(w + 3 * stride));
  return h2fx4(h);
}

/** The integer dot product of one q8_0 block (weights at wp) with 32 quantized activations at qp. */
// @ts-ignore: decorator
@inline
function blockQ8(wp: usize, qp: usize): v128 {
  return f32x4.convert_i32x4_s(i32x4.add(dotI8(v128.load(wp, 2), v128.load(qp)), dotI8(v128.load(wp, 18), v128.load(qp, 16))));
}

/** x . w for a q8_0 row and a quantized activation row (q, sc as quantizeRow writes them). */
function dotQ8_0q(q: usize, sc: usize, w: usize, k: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  const nb = k >> 5;
  let wp = w;
  let qp = q;
  let sp = sc;
  let i = 0;
  // Four blocks a pass: their weight scales converted together, times the activation scales.
  for (; i + 4 <= nb; i += 4, wp += 136, qp += 128, sp += 16) {
    const s = f32x4.mul(scales4(wp, 34), v128.load(sp));
    acc0 = madd(blockQ8(wp, qp), f32x4.splat(f32x4.extract_lane(s, 0)), acc0);
    acc1 = madd(blockQ8(wp + 34, qp + 32), f32x4.splat(f32x4.extract_lane(s, 1)), acc1);
    acc0 = madd(blockQ8(wp + 68, qp + 64), f32x4.splat(f32x4.extract_lane(s, 2)), acc0);
    acc1 = madd(blockQ8(wp + 102, qp + 96), f32x4.splat(f32x4.extract_lane(s, 3)), acc1);
  }
  for (; i < nb; i++, wp += 34, qp += 32, sp += 4) acc0 = madd(blockQ8(wp, qp), f32x4.splat(h2f(load<u16>(wp)) * load<f32>(sp)), acc0);
  return hsum(f32x4.add(acc0, acc1));
}

/** x . w for a q4_0 row: d dx (sum x q - 8 sum x) per block, the codes taken as they are stored. */
function dotQ4_0q(q: usize, sc: usize, sums: usize, w: usize, k: i32): f32 {
  let acc = f32x4.splat(0);
  const nb = k >> 5;
  const mask = i8x16.splat(15);
  let wp = w;
  let qp = q;
  for (let b = 0; b < nb; b++, wp += 18, qp += 32) {
    const codes = v128.load(wp, 2);
    let s = dotI8U4(v128.load(qp), v128.and(codes, mask), i32x4.splat(0));
    s = dotI8U4(v128.load(qp, 16), i8x16.shr_u(codes, 4), s);
    // The offset: -8 sum(x) on lane 0 only, so the lanes still add up to the block's sum.
    s = i32x4.sub(s, i32x4.replace_lane(i32x4.splat(0), 0, load<i32>(sums + (<usize>b << 2)) << 3));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.splat(h2f(load<u16>(wp)) * load<f32>(sc + (<usize>b << 2))), acc);
  }
  return hsum(acc);
}

/**
 * x . w for a q4_k / q5_k row on 8-bit activations: per sub-block j of 32 (activation block
 * j), d sc_j dx_j (x_q . codes) - dmin m_j dx_j sum(x_q); the codes (4 or 5 bits) are the
 * relaxed dot's 7-bit operand.
 */
function dotQ4Kq(q: usize, sc: usize, sums: usize, w: usize, k: i32, high: bool): f32 {
  let acc = f32x4.splat(0);
  let mins: f32 = 0;
  const mask = i8x16.splat(15);
  const one = i8x16.splat(1);
  const stride: usize = high ? 176 : 144;
  const nb = k >> 8;
  for (let b = 0; b < nb; b++, w += stride) {
    const d = h2f(load<u16>(w));
    const dmin = h2f(load<u16>(w, 2));
    const qs = w + (high ? 48 : 16);
    const blk = <usize>b << 3;
    for (let c = 0; c < 4; c++) {
      const j0 = blk + (<usize>c << 1);
      const sm0 = scaleMin(w + 4, 2 * c);
      const sm1 = scaleMin(w + 4, 2 * c + 1);
      let lo0 = v128.and(v128.load(qs + 32 * c), mask);
      let lo1 = v128.and(v128.load(qs + 32 * c + 16), mask);
      let hi0 = i8x16.shr_u(v128.load(qs + 32 * c), 4);
      let hi1 = i8x16.shr_u(v128.load(qs + 32 * c + 16), 4);
      if (high) {
        const h0 = v128.load(w + 16);
        const h1 = v128.load(w + 32);
        lo0 = v128.or(lo0, i8x16.shl(v128.and(i8x16.shr_u(h0, 2 * c), one), 4));
        lo1 = v128.or(lo1, i8x16.shl(v128.and(i8x16.shr_u(h1, 2 * c), one), 4));
        hi0 = v128.or(hi0, i8x16.shl(v128.and(i8x16.shr_u(h0, 2 * c + 1), one), 4));
        hi1 = v128.or(hi1, i8x16.shl(v128.and(i8x16.shr_u(h1, 2 * c + 1), one), 4));
      }
      const x0 = q + (j0 << 5);
      const s0 = dotI8U4(v128.load(x0, 16), lo1, dotI8U4(v128.load(x0), lo0, i32x4.splat(0)));
      const s1 = dotI8U4(v128.load(x0, 48), hi1, dotI8U4(v128.load(x0, 32), hi0, i32x4.splat(0)));
      const dx0 = load<f32>(sc + (j0 << 2));
      const dx1 = load<f32>(sc + (j0 << 2), 4);
      acc = madd(f32x4.convert_i32x4_s(s0), f32x4.splat(d * <f32>(sm0 & 255) * dx0), acc);
      acc = madd(f32x4.convert_i32x4_s(s1), f32x4.splat(d * <f32>(sm1 & 255) * dx1), acc);
      mins += dmin * (<f32>(sm0 >> 8) * dx0 * <f32>load<i32>(sums + (j0 << 2)) + <f32>(sm1 >> 8) * dx1 * <f32>load<i32>(sums + (j0 << 2), 4));
    }
  }
  return hsum(acc) - mins;
}

/**
 * x . w for a q6_k row on 8-bit activations: codes 0..63 (the relaxed dot's 7-bit operand),
 * d sc (x_q . codes - 32 sum(x_q)) per 16 values; the 16-value sums of x_q come from the dot
 * of x_q with ones.
 */
function dotQ6Kq(q: usize, sc: usize, w: usize, k: i32): f32 {
  let acc = f32x4.splat(0);
  const mask = i8x16.splat(15);
  const three = i8x16.splat(3);
  const ones = i8x16.splat(1);
  const zero = i32x4.splat(0);
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
        const c0 = v128.or(v128.and(lo, mask), i8x16.shl(v128.and(h, three), 4));
        const c1 = v128.or(v128.and(hi, mask), i8x16.shl(v128.and(i8x16.shr_u(h, 2), three), 4));
        const c2 = v128.or(i8x16.shr_u(lo, 4), i8x16.shl(v128.and(i8x16.shr_u(h, 4), three), 4));
        const c3 = v128.or(i8x16.shr_u(hi, 4), i8x16.shl(i8x16.shr_u(h, 6), 4));
        for (let g = 0; g < 4; g++) {
          const codes = g == 0 ? c0 : g == 1 ? c1 : g == 2 ? c2 : c3;
          const j = blk + <usize>g;
          const xq = v128.load(q + (j << 5) + (<usize>half << 4));
          // x_q . codes - 32 sum(x_q) over these 16 values.
          const s = i32x4.sub(dotI8U4(xq, codes, zero), i32x4.shl(dotI8U4(xq, ones, zero), 5));
          const scale = d * <f32>load<i8>(scales + half + 2 * g) * load<f32>(sc + (j << 2));
          acc = madd(f32x4.convert_i32x4_s(s), f32x4.splat(scale), acc);
        }
      }
    }
  }
  return hsum(acc);
}

/** x . w on 8-bit activations for q8_0 / q4_0 / q4_k / q5_k / q6_k rows. */
export function dotQ8(fmt: i32, q: usize, sc: usize, sums: usize, w: usize, k: i32): f32 {
  switch (fmt) {
    case Q8_0: return dotQ8_0q(q, sc, w, k);
    case Q4_0: return dotQ4_0q(q, sc, sums, w, k);
    case Q4_K: return dotQ4Kq(q, sc, sums, w, k, false);
    case Q5_K: return dotQ4Kq(q, sc, sums, w, k, true);
    default: return dotQ6Kq(q, sc, w, k);
  }
}
