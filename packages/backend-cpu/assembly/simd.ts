// The one multiply-add every kernel uses: a fused relaxed_madd in the relaxed-SIMD build,
// mul + add otherwise. ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so each build
// keeps exactly one branch.

// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}
