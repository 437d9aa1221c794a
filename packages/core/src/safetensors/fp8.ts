/**
 * 8-bit floats as safetensors stores them (`F8_E4M3` = OCP E4M3FN, `F8_E5M2`), decoded to
 * float32, and the block-wise dequantisation FP8 checkpoints (DeepSeek-V3, Qwen3 FP8) use:
 * a weight `[R, C]` is stored as E4M3 with a float32 `weight_scale_inv` `[ceil(R/bR), ceil(C/bC)]`,
 * and the real value is `fp8 * scale` of the element's block (blocks of 128 x 128 in those models).
 */
import { float16ToFloat32 } from '../half-precision.js';

function table(decode: (b: number) => number): Float32Array {
  return Float32Array.from({ length: 256 }, (_, b) => decode(b));
}

/** Decodes one E4M3FN byte: bias 7, 3 mantissa bits, no infinities, 0x7f / 0xff are NaN, max 448. */
export function float8E4M3ToFloat32(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> 3) & 0x0f;
  const mant = b & 0x07;
  if (exp === 0x0f && mant === 0x07) return NaN;
  if (exp === 0) return sign * (mant / 8) * 2 ** -6;
  return sign * (1 + mant / 8) * 2 ** (exp - 7);
}

/** Decodes one E5M2 byte: the upper byte of an IEEE float16 (bias 15, infinities and NaN). */
export function float8E5M2ToFloat32(b: number): number {
  return float16ToFloat32((b & 0xff) << 8);
}

const E4M3 = table(float8E4M3ToFloat32);
const E5M2 = table(float8E5M2ToFloat32);

/** Decodes E4M3FN bytes to float32. */
export function decodeFloat8E4M3(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = E4M3[bytes[i]];
  return out;
}

/** Decodes E5M2 bytes to float32. */
export function decodeFloat8E5M2(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = E5M2[bytes[i]];
  return out;
}

/** The scale grid `[ceil(R/bR), ceil(C/bC)]` of a `[R, C]` weight quantised in `[bR, bC]` blocks. */
export function blockScaleShape(rows: number, cols: number, block: readonly [number, number]): [number, number] {
  return [Math.ceil(rows / block[0]), Math.ceil(cols / block[1])];
}

/** Multiplies `w` `[rows, cols]` (float32, in place) by the scale of each element's block. */
export function applyBlockScales(w: Float32Array, rows: number, cols: number, scale: Float32Array, block: readonly [number, number]): Float32Array {
  const scaleCols = Math.ceil(cols / block[1]);
  for (let i = 0; i < rows; i++) {
    const srow = Math.floor(i / block[0]) * scaleCols;
    const o = i * cols;
    for (let j = 0; j < cols; j++) w[o + j] *= scale[srow + Math.floor(j / block[1])];
  }
  return w;
}
