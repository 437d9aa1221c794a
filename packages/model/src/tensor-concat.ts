/** Joining host tensors, for fused projections and stacked expert weights. */
import { HostTensor, type DType, type DTypeStorage } from '@moe-runtime/core';

/**
 * Concatenates tensors along their first axis. Tensors of one storage format are joined as
 * stored (half precision and block formats stay compact: their rows are whole blocks, so the
 * bytes simply follow each other); tensors of mixed formats are decoded to float32.
 */
export function concatRows(parts: readonly HostTensor[]): HostTensor {
  const shape = [...parts[0].shape];
  shape[0] = parts.reduce((s, p) => s + p.shape[0], 0);
  const dtype: DType = parts.every((p) => p.dtype === parts[0].dtype) ? parts[0].dtype : 'float32';
  if (dtype === 'float32') {
    const out = new Float32Array(parts.reduce((s, p) => s + p.size, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p.toFloat32(), o);
      o += p.size;
    }
    return HostTensor.float32(shape, out);
  }
  const bytes = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p.bytes(), o);
    o += p.byteLength;
  }
  const data = dtype === 'float16' || dtype === 'bfloat16' ? new Uint16Array(bytes.buffer) : bytes;
  return new HostTensor<DType>(dtype, shape, data as DTypeStorage[DType]);
}

/** Stacks equally shaped tensors along a new first axis: `n x [a, b]` -> `[n, a, b]`. */
export function stackTensors(parts: readonly HostTensor[]): HostTensor {
  const joined = concatRows(parts);
  return new HostTensor(joined.dtype, [parts.length, ...parts[0].shape], joined.data as DTypeStorage[DType]);
}
