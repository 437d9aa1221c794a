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
