/**
 * llama.cpp's rotary layout for the `llama` architecture. Its rotary embedding pairs adjacent
 * dimensions (2j, 2j + 1) of each head, where Hugging Face's "rotate half" pairs (j, j + hd/2),
 * so the converter permutes the rows of q and k per head: Hugging Face row `h*hd + t*hd/2 + j`
 * becomes GGUF row `h*hd + 2j + t`. Writing applies that permutation, reading undoes it. Rows
 * move whole (a row is its input dimension's values, whole blocks in a block format), so any
 * storage format permutes as stored bytes.
 */
import { HostTensor, ShapeError, type DType, type DTypeStorage } from '@moe-runtime/core';

function permute(w: HostTensor, heads: number, toInterleaved: boolean): HostTensor {
  const rows = w.shape[0];
  if (w.shape.length !== 2 || rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new ShapeError(`rotary row permutation: a [heads * hd, in] matrix with an even hd is needed, got shape [${w.shape.join(', ')}] for ${heads} heads`);
  }
  const hd = rows / heads;
  const half = hd / 2;
  const src = w.bytes();
  const rowBytes = src.length / rows;
  const out = new Uint8Array(src.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let t = 0; t < 2; t++) {
        const hf = h * hd + t * half + j;
        const gg = h * hd + 2 * j + t;
        const [from, to] = toInterleaved ? [hf, gg] : [gg, hf];
        out.set(src.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
      }
    }
  }
  const data = w.dtype === 'float32' ? new Float32Array(out.buffer) : w.dtype === 'float16' || w.dtype === 'bfloat16' ? new Uint16Array(out.buffer) : out;
  return new HostTensor(w.dtype, w.shape, data as DTypeStorage[DType]);
}

/** Permutes the rows of a `[heads * hd, in]` projection from rotate-half to llama.cpp's interleaved pairs. */
export function permuteRotaryRows(w: HostTensor, heads: number): HostTensor {
  return permute(w, heads, true);
}

/** The inverse of {@link permuteRotaryRows}: llama.cpp's interleaved q/k rows back to rotate-half. */
export function unpermuteRotaryRows(w: HostTensor, heads: number): HostTensor {
  return permute(w, heads, false);
}
