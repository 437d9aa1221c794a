/**
 * RMSNorm of the reference decoder. Follows `MixtralRMSNorm.forward` (modeling_mixtral), which
 * `Qwen2MoeRMSNorm` (modeling_qwen2_moe), `Qwen3MoeRMSNorm` (modeling_qwen3_moe) and
 * `OlmoeRMSNorm` (modeling_olmoe) repeat: `weight * x * rsqrt(mean(x^2, -1) + eps)`.
 */
import { ShapeError } from '@moe-runtime/core';

/**
 * A new array: every run of `width` consecutive values of `x` (the last dimension Hugging Face
 * normalises over) divided by its root mean square, times `weight` `[width]`.
 */
export function rmsNorm64(x: Float64Array, weight: Float64Array, width: number, eps: number): Float64Array {
  if (weight.length !== width || x.length % width !== 0) throw new ShapeError(`RMSNorm over ${width} values: weight has ${weight.length}, input ${x.length}`);
  const y = new Float64Array(x.length);
  for (let start = 0; start < x.length; start += width) {
    let sumSquares = 0;
    for (let i = 0; i < width; i++) sumSquares += x[start + i] ** 2;
    const variance = sumSquares / width;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < width; i++) y[start + i] = weight[i] * (x[start + i] * inv);
  }
  return y;
}
