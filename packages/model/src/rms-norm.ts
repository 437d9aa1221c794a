/** RMSNorm: x / sqrt(mean(x^2) + eps) * weight, over consecutive groups of `width` values. */

/** Normalises `rows` groups of `width` values of `x` into `out` (may alias `x`). */
export function rmsNorm(
  x: Float32Array | Float64Array,
  weight: Float32Array,
  width: number,
  eps: number,
  out: Float32Array | Float64Array = x,
): Float32Array | Float64Array {
  const groups = x.length / width;
  for (let g = 0; g < groups; g++) {
    const o = g * width;
    let ss = 0;
    for (let i = 0; i < width; i++) ss += x[o + i] * x[o + i];
    const scale = 1 / Math.sqrt(ss / width + eps);
    for (let i = 0; i < width; i++) out[o + i] = x[o + i] * scale * weight[i];
  }
  return out;
}
