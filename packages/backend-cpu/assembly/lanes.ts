// Lane arithmetic the block-format kernels share (rows.ts, rows-q8.ts, rows-q5.ts).

/**
 * The high nibble of every byte. V8 (x64) lowers i8x16.shr_u to a 16-bit shift and a mask
 * too, but builds the mask anew at every use (three more instructions); a v128.const mask is
 * built once.
 */
// @ts-ignore: decorator
@inline
export function highNibbles(q: v128): v128 {
  return v128.and(i16x8.shr_u(q, 4), i8x16.splat(15));
}

/**
 * Every byte shifted left by 4, for bytes below 16 (the callers mask them to one or two bits
 * first): a 16-bit shift, since no bit then crosses into the next byte. V8 (x64) lowers
 * i8x16.shl to the same shift plus a mask it rebuilds from a general register at every use
 * (three instructions, two on the shuffle port).
 */
// @ts-ignore: decorator
@inline
export function shl4(q: v128): v128 {
  return i16x8.shl(q, 4);
}

/**
 * i16 lanes holding sums of the 16 products x c (x signed, |x| <= 127; c codes 0..127, each
 * lane at most 2 x 127 x 127 in magnitude): the relaxed dot or the i16 products. The pairing
 * of products into lanes differs between the two; every caller sums all lanes.
 */
// @ts-ignore: decorator
@inline
export function dot16(x: v128, c: v128, relaxed: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (relaxed) return i16x8.relaxed_dot_i8x16_i7x16_s(x, c);
  }
  return i16x8.add(i16x8.extmul_low_i8x16_s(x, c), i16x8.extmul_high_i8x16_s(x, c));
}

/** Lane r = the sum of the four lanes of the r-th argument (i32). */
// @ts-ignore: decorator
@inline
export function sum4x4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 1, 4, 5), v128.shuffle<i32>(c, d, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7));
}

/** Lane r = the sum of the four lanes of the r-th argument (f32). */
// @ts-ignore: decorator
@inline
export function sum4x4f(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 1, 4, 5), v128.shuffle<f32>(a, b, 2, 3, 6, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 1, 4, 5), v128.shuffle<f32>(c, d, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 2, 4, 6), v128.shuffle<f32>(ab, cd, 1, 3, 5, 7));
}

/**
 * The bytes of t at indices s, all below 16 (a table lookup, or bytes picked by a constant):
 * relaxed_swizzle in the relaxed build, one pshufb on x64 and exact for such indices; the plain
 * swizzle adds a saturating fix with a constant V8 rebuilds at every use. A constant s is kept
 * in a register across a loop, where i8x16.shuffle's immediate lanes are rebuilt into a mask at
 * every use (four instructions).
 */
// @ts-ignore: decorator
@inline
export function pickBytes(t: v128, s: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(t, s);
  return i8x16.swizzle(t, s);
}

/**
 * Four float16 values (the low 16 bits of each i32 lane) to float32: the exponent and
 * mantissa moved into place and scaled by 2^112, which is exact for normals, subnormals and
 * zeros; infinities and NaNs get the all-ones exponent. Fewer operations than rows.ts's
 * h2fx4; a subnormal float16 scale only costs time (a float32 subnormal operand).
 */
// @ts-ignore: decorator
@inline
export function scalesF16(h: v128): v128 {
  const mag = v128.and(h, i32x4.splat(0x7fff));
  let f = f32x4.mul(i32x4.shl(mag, 13), f32x4.splat(5.192296858534828e33));
  f = v128.or(f, v128.and(i32x4.gt_s(mag, i32x4.splat(0x7bff)), i32x4.splat(0x7f800000)));
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/**
 * The float16 bits at w, w + stride, w + 2 stride, w + 3 stride (the scales of four blocks of a
 * row) in the low half of each i32 lane, zeros above: one load16_lane each (one pinsrw on x64),
 * where a lane insert of a scalar load takes two instructions.
 */
// @ts-ignore: decorator
@inline
export function halves4(w: usize, stride: usize): v128 {
  let h = v128.load16_lane(w, i32x4.splat(0), 0);
  h = v128.load16_lane(w + stride, h, 2);
  h = v128.load16_lane(w + 2 * stride, h, 4);
  return v128.load16_lane(w + 3 * stride, h, 6);
}

/** The float16 scales of four blocks (as {@link halves4}) as float32 lanes, by scalesF16. */
// @ts-ignore: decorator
@inline
export function halfScales4(w: usize, stride: usize): v128 {
  return scalesF16(halves4(w, stride));
}
