/** Joining host tensors, for fused projections and stacked expert weights. */
import { HostTensor, shapeSize } from '@moe-runtime/core';

/** Concatenates tensors along their first axis (float32 unless all share one half dtype). */
export function concatRows(parts: readonly HostTensor[]): HostTensor {
  const shape = [...parts[0].shape];
  shape[0] = parts.reduce((s, p) => s + p.shape[0], 0);
  const half = parts.every((p) => p.dtype === parts[0].dtype) && parts[0].dtype !== 'float32';
  const out = half ? new Uint16Array(shapeSize(shape)) : new Float32Array(shapeSize(shape));
  let o = 0;
  for (const p of parts) {
    out.set(half ? (p.data as Uint16Array) : p.toFloat32(), o);
    o += p.size;
  }
  return half ? new HostTensor(parts[0].dtype, shape, out as Uint16Array) : HostTensor.float32(shape, out as Float32Array);
}

/** Stacks equally shaped tensors along a new first axis: `n x [a, b]` -> `[n, a, b]`. */
export function stackTensors(parts: readonly HostTensor[]): HostTensor {
  const joined = concatRows(parts);
  return new HostTensor(joined.dtype, [parts.length, ...parts[0].shape], joined.data);
}
