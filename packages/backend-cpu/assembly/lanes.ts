// Lane arithmetic the 8-bit-activation kernels share (rows-q8.ts, rows-q5.ts).

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
