/**
 * Exact float64 values of stored weights, and the float64 `nn.Linear` of the reference decoder.
 * Weights are decoded by core's exact decoders (`HostTensor.toFloat64`), once per tensor.
 */
import type { HostTensor } from '@moe-runtime/core';

const decoded = new WeakMap<HostTensor, Float64Array>();

/** The tensor's values, exactly, in float64 (decoded once and kept while the tensor lives). */
export function valuesOf(t: HostTensor): Float64Array {
  let v = decoded.get(t);
  if (!v) decoded.set(t, (v = t.toFloat64()));
  return v;
}

/**
 * `torch.nn.Linear.forward`: y `[rows, out]` = x `[rows, in]` W^T + b, with W `[out, in]` as
 * Hugging Face stores it.
 */
export function linear64(x: Float64Array, rows: number, weight: HostTensor, bias?: HostTensor): Float64Array {
  const [outFeatures, inFeatures] = weight.shape;
  const w = valuesOf(weight);
  const b = bias ? valuesOf(bias) : undefined;
  const y = new Float64Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    const xr = r * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const wr = o * inFeatures;
      let s = 0;
      for (let c = 0; c < inFeatures; c++) s += w[wr + c] * x[xr + c];
      y[r * outFeatures + o] = b ? s + b[o] : s;
    }
  }
  return y;
}
