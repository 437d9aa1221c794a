// q5_0 rows (ggml's block_q5_0, 22 bytes per 32 values): f16 d at +0, a little-endian u32 qh
// at +2 whose bit j is the fifth bit of value j, 16 bytes qs at +6 whose low nibbles are values
// 0..15 and high nibbles values 16..31; value = d (code - 16), code = nibble | fifth bit << 4.
//
// Three kernels, dispatched from rows.ts (decodeRow, dotFused) and rows-q8.ts (rows4):
// - decodeQ5_0: a row to float32, each value d (code - 16) exactly (a float16 times a 5-bit
//   integer is exact in float32), so prefill's decodePanel + GEMM and the reference agree;
// - dotQ5_0: the fused float32-activation dot (codes - 16 as signed bytes, as q4_0's);
// - rows4Q5_0: four rows times a row of 8-bit activations (rows-q8.ts's layout). The codes
//   0..31 fit the unsigned 7-bit operand of relaxed SIMD's i8 x i7 dot; the offset comes back
//   out as 16 times the block's activation code sum, as q4_0 takes out its 8. Where the relaxed
//   dot is not in use (the SIMD build, or an engine that fails rows-q8.ts's probe) exact i16
//   products do the same sums.
// All pointers are byte addresses (unsigned) in the shared memory.
import { madd } from './simd';
import { dot32i8, h2f, hsum, storeScaled16s } from './rows';
import { dot16, halfScales4, highNibbles, pickBytes, sum4x4, sum4x4f } from './lanes';

/** Bytes of one q5_0 block. */
const BLOCK: usize = 22;

/**
 * The fifth bits of values 0..15 (`upper` false) or 16..31 of a block whose qh word is `qh`,
 * as 16 bytes of 0 or 16: byte j of the half tests bit j of its two qh bytes.
 */
// @ts-ignore: decorator
@inline
function fifthBits(qh: v128, upper: bool): v128 {
  const bytes = upper ? pickBytes(qh, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)) : pickBytes(qh, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const bit = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(bytes, bit), bit), i8x16.splat(16));
}

/** The 16 codes (0..31) of values 0..15 (`upper` false) or 16..31 of the block at w. */
// @ts-ignore: decorator
@inline
function codes(w: usize, upper: bool): v128 {
  const q = v128.load(w, 6);
  const qh = i32x4.splat(load<i32>(w, 2));
  const nibbles = upper ? highNibbles(q) : v128.and(q, i8x16.splat(15));
  return v128.or(nibbles, fifthBits(qh, upper));
}

// ---- decoding ---------------------------------------------------------------------------------

/** Decodes nb q5_0 blocks at w into float32 at dst. */
export function decodeQ5_0(w: usize, nb: i32, dst: usize): void {
  const sixteen = i8x16.splat(16);
  for (let b = 0; b < nb; b++, w += BLOCK, dst += 128) {
    const d = h2f(load<u16>(w));
    storeScaled16s(i8x16.sub(codes(w, false), sixteen), d, dst);
    storeScaled16s(i8x16.sub(codes(w, true), sixteen), d, dst + 64);
  }
}

// ---- float32 activations ----------------------------------------------------------------------

/** x . w over a q5_0 row of k values: per block, the 32 products x (code - 16) summed, then scaled by d. */
export function dotQ5_0(x: usize, w: usize, k: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  const nb = k >> 5;
  const sixteen = i8x16.splat(16);
  let wp = w;
  let xp = x;
  let i = 0;
  for (; i + 1 < nb; i += 2, wp += 2 * BLOCK, xp += 256) {
    const w1 = wp + BLOCK;
    acc0 = madd(dot32i8(i8x16.sub(codes(wp, false), sixteen), i8x16.sub(codes(wp, true), sixteen), xp), f32x4.splat(h2f(load<u16>(wp))), acc0);
    acc1 = madd(dot32i8(i8x16.sub(codes(w1, false), sixteen), i8x16.sub(codes(w1, true), sixteen), xp + 128), f32x4.splat(h2f(load<u16>(w1))), acc1);
  }
  if (i < nb) acc0 = madd(dot32i8(i8x16.sub(codes(wp, false), sixteen), i8x16.sub(codes(wp, true), sixteen), xp), f32x4.splat(h2f(load<u16>(wp))), acc0);
  return hsum(f32x4.add(acc0, acc1));
}

// ---- 8-bit activations ------------------------------------------------------------------------
// The quantized activation row is rows-q8.ts's (quantizeRow); its dispatch passes the three
// parts read here, so this file does not depend on that layout: q8 (k i8 codes), dx (k / 32
// float32 block scales) and sums (k / 32 i32 block code sums).

/** The i32 partial sums of one q5_0 block's codes (offset not applied) times x0, x1 (i8 activations of values 0..15, 16..31). */
// @ts-ignore: decorator
@inline
function blockQ5_0(wp: usize, x0: v128, x1: v128, relaxed: bool): v128 {
  // Lanes at most 2 x 127 x 31 each, so the two halves add in i16 (at most 15748).
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(dot16(x0, codes(wp, false), relaxed), dot16(x1, codes(wp, true), relaxed)));
}

/** One q5_0 row times one quantized activation row, as four lanes to be summed: d dx (x . codes - 16 sum x) per block, four blocks a pass. */
// @ts-ignore: decorator
@inline
function rowQ5_0(q8: usize, dx: usize, sums: usize, k: i32, w: usize, relaxed: bool): v128 {
  const nb = k >> 5;
  let acc = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const wp = w + <usize>b * BLOCK;
    const xp = q8 + (<usize>b << 5);
    let s = sum4x4(
      blockQ5_0(wp, v128.load(xp), v128.load(xp, 16), relaxed),
      blockQ5_0(wp + BLOCK, v128.load(xp, 32), v128.load(xp, 48), relaxed),
      blockQ5_0(wp + 2 * BLOCK, v128.load(xp, 64), v128.load(xp, 80), relaxed),
      blockQ5_0(wp + 3 * BLOCK, v128.load(xp, 96), v128.load(xp, 112), relaxed),
    );
    s = i32x4.sub(s, i32x4.shl(v128.load(sums + (<usize>b << 2)), 4));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.mul(halfScales4(wp, BLOCK), v128.load(dx + (<usize>b << 2))), acc);
  }
  for (; b < nb; b++) {
    const wp = w + <usize>b * BLOCK;
    const xp = q8 + (<usize>b << 5);
    const s = i32x4.sub(blockQ5_0(wp, v128.load(xp), v128.load(xp, 16), relaxed), i32x4.replace_lane(i32x4.splat(0), 0, load<i32>(sums + (<usize>b << 2)) << 4));
    acc = madd(f32x4.convert_i32x4_s(s), f32x4.splat(h2f(load<u16>(wp)) * load<f32>(dx + (<usize>b << 2))), acc);
  }
  return acc;
}

/**
 * Four q5_0 rows w0..w3 (each streamed front to back) times one quantized activation row of k
 * values (its i8 codes at q8, block scales at dx, block code sums at sums): lane r is row r's dot
 * product (rows-q8.ts's rows4 contract).
 */
// @ts-ignore: decorator
@inline
export function rows4Q5_0(q8: usize, dx: usize, sums: usize, k: i32, w0: usize, w1: usize, w2: usize, w3: usize, relaxed: bool): v128 {
  return sum4x4f(rowQ5_0(q8, dx, sums, k, w0, relaxed), rowQ5_0(q8, dx, sums, k, w1, relaxed), rowQ5_0(q8, dx, sums, k, w2, relaxed), rowQ5_0(q8, dx, sums, k, w3, relaxed));
}
