/**
 * Encoders from float32 values into ggml blocks, for quantize-on-load and for tests. Each one
 * writes a valid block of its format by a simple, documented rule (absolute-max scales, and
 * for the k-quants per-sub-block min/max scales quantized to 6 or 8 bits); the decoders read
 * any valid block exactly, so the encoder's choices only affect quantization error, never
 * agreement between backends.
 */
import { DTypeError } from '../errors.js';
import { encodeBfloat16, encodeFloat16, float16ToFloat32, float32ToFloat16 } from '../half-precision.js';
import { MXFP4_VALUES } from './block-decode.js';
import { formatLayout, rowBytes, type DType } from './block-formats.js';

function putF16(out: Uint8Array, at: number, value: number): number {
  const h = float32ToFloat16(value);
  if ((h & 0x7c00) === 0x7c00) throw new DTypeError(`a block scale of ${value} is outside the float16 range the format stores it in (|scale| < 65504)`);
  out[at] = h & 255;
  out[at + 1] = h >> 8;
  return float16ToFloat32(h);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function q8_0(x: Float32Array, i: number, out: Uint8Array, p: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i + j]));
  const d = putF16(out, p, amax / 127);
  const id = d ? 1 / d : 0;
  for (let j = 0; j < 32; j++) out[p + 2 + j] = clamp(Math.round(x[i + j] * id), -127, 127) & 255;
}

/** The value of largest magnitude among the 32 at x[i] (the first one on ties), sign kept. */
function signedAbsMax(x: Float32Array, i: number): number {
  let max = 0;
  for (let j = 0; j < 32; j++) if (Math.abs(x[i + j]) > Math.abs(max)) max = x[i + j];
  return max;
}

function q4_0(x: Float32Array, i: number, out: Uint8Array, p: number): void {
  // The value of largest magnitude maps to -8, so the full signed range is used (as ggml does).
  const max = signedAbsMax(x, i);
  const d = putF16(out, p, max / -8);
  const id = d ? 1 / d : 0;
  const q = (v: number): number => clamp(Math.round(v * id) + 8, 0, 15);
  for (let j = 0; j < 16; j++) out[p + 2 + j] = q(x[i + j]) | (q(x[i + j + 16]) << 4);
}

/**
 * q5_0 by ggml's reference rule (`quantize_row_q5_0_ref`), in float32 as it computes: the value
 * of largest magnitude (the first one on ties) maps to code 0, d = max / -16, id = 1 / d (from d
 * before its float16 rounding), code = min(31, trunc(x id + 16.5)).
 */
function q5_0(x: Float32Array, i: number, out: Uint8Array, p: number): void {
  const d = Math.fround(signedAbsMax(x, i) / -16);
  putF16(out, p, d);
  const id = d ? Math.fround(1 / d) : 0;
  const q = (v: number): number => clamp(Math.trunc(Math.fround(Math.fround(v * id) + 16.5)), 0, 31);
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const a = q(x[i + j]);
    const b = q(x[i + j + 16]);
    out[p + 6 + j] = (a & 15) | ((b & 15) << 4);
    qh |= ((a >> 4) << j) | ((b >> 4) << (j + 16));
  }
  out[p + 2] = qh & 255;
  out[p + 3] = (qh >>> 8) & 255;
  out[p + 4] = (qh >>> 16) & 255;
  out[p + 5] = qh >>> 24;
}

/** Writes the 6-bit scale and min of sub-block j into the 12 packed bytes (inverse of kScaleMin). */
function putKScaleMin(out: Uint8Array, at: number, j: number, scale: number, min: number): void {
  if (j < 4) {
    out[at + j] = (out[at + j] & 0xc0) | scale;
    out[at + j + 4] = (out[at + j + 4] & 0xc0) | min;
  } else {
    out[at + j + 4] = (scale & 15) | ((min & 15) << 4);
    out[at + j - 4] = (out[at + j - 4] & 0x3f) | ((scale >> 4) << 6);
    out[at + j] = (out[at + j] & 0x3f) | ((min >> 4) << 6);
  }
}

/**
 * A k-quant super-block with 8 sub-blocks of 32 values and `levels` codes (16 for q4_k, 32
 * for q5_k): value ~ d*sc*q - dmin*m with q in [0, levels). Per sub-block scale (max - min) /
 * (levels - 1) and offset -min (min clamped to <= 0); both quantized to 6 bits against the
 * super-block's largest; codes rounded against the quantized scale and offset.
 */
function kQuant(x: Float32Array, i: number, levels: number, out: Uint8Array, p: number, scalesAt: number, codes: Int32Array): void {
  const sub = new Float64Array(8);
  const off = new Float64Array(8);
  for (let s = 0; s < 8; s++) {
    let lo = 0;
    let hi = -Infinity;
    for (let l = 0; l < 32; l++) {
      lo = Math.min(lo, x[i + 32 * s + l]);
      hi = Math.max(hi, x[i + 32 * s + l]);
    }
    sub[s] = (hi - lo) / (levels - 1);
    off[s] = -lo;
  }
  const d = putF16(out, p, Math.max(...sub) / 63);
  const dmin = putF16(out, p + 2, Math.max(...off) / 63);
  for (let s = 0; s < 8; s++) {
    const sc = d ? clamp(Math.round(sub[s] / d), 0, 63) : 0;
    const m = dmin ? clamp(Math.round(off[s] / dmin), 0, 63) : 0;
    putKScaleMin(out, scalesAt, s, sc, m);
    const ds = d * sc;
    for (let l = 0; l < 32; l++) codes[32 * s + l] = ds ? clamp(Math.round((x[i + 32 * s + l] + dmin * m) / ds), 0, levels - 1) : 0;
  }
}

function q4_k(x: Float32Array, i: number, out: Uint8Array, p: number): void {
  const codes = new Int32Array(256);
  kQuant(x, i, 16, out, p, p + 4, codes);
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) out[p + 16 + 32 * c + l] = codes[64 * c + l] | (codes[64 * c + 32 + l] << 4);
  }
}

function q5_k(x: Float32Array, i: number, out: Uint8Array, p: number): void {
  const codes = new Int32Array(256);
  kQuant(x, i, 32, out, p, p + 4, codes);
  for (let l = 0; l < 32; l++) out[p + 16 + l] = 0;
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const a = codes[64 * c + l];
      const b = codes[64 * c + 32 + l];
      out[p + 48 + 32 * c + l] = (a & 15) | ((b & 15) << 4);
      out[p + 16 + l] |= ((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1));
    }
  }
}

function q6_k(x: Float32Array, i: number, out: Uint8Array, p: number): void {
  // 16 groups of 16 values, codes in [-32, 31]: group scale amax / 31, quantized to int8
  // against the super-block's largest.
  const scale = new Float64Array(16);
  for (let g = 0; g < 16; g++) {
    let amax = 0;
    for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[i + 16 * g + l]));
    scale[g] = amax / 31;
  }
  const d = putF16(out, p + 208, Math.max(...scale) / 127);
  const codes = new Int32Array(256);
  for (let g = 0; g < 16; g++) {
    const sc = d ? clamp(Math.round(scale[g] / d), -128, 127) : 0;
    out[p + 192 + g] = sc & 255;
    const ds = d * sc;
    for (let l = 0; l < 16; l++) codes[16 * g + l] = (ds ? clamp(Math.round(x[i + 16 * g + l] / ds), -32, 31) : 0) + 32;
  }
  for (let n = 0; n < 2; n++) {
    const c = 128 * n;
    for (let l = 0; l < 32; l++) {
      const q1 = codes[c + l];
      const q2 = codes[c + l + 32];
      const q3 = codes[c + l + 64];
      const q4 = codes[c + l + 96];
      out[p + 64 * n + l] = (q1 & 15) | ((q3 & 15) << 4);
      out[p + 64 * n + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
      out[p + 128 + 32 * n + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
  }
}

function nearestMxfp4(v: number): number {
  let best = 0;
  for (let c = 1; c < 16; c++) if (Math.abs(MXFP4_VALUES[c] - v) < Math.abs(MXFP4_VALUES[best] - v)) best = c;
  return best;
}

function mxfp4(x: Float32Array, i: number, out: Uint8Array, p: number): void {
  // Shared exponent so the largest magnitude lands in [8, 16) on the doubled FP4 grid
  // (largest code 12), as ggml's reference quantizer chooses it.
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i + j]));
  const e = amax > 0 ? clamp(Math.floor(Math.log2(amax)) - 2 + 127, 0, 254) : 0;
  out[p] = e;
  const inv = 2 ** (128 - e);
  for (let j = 0; j < 16; j++) out[p + 1 + j] = nearestMxfp4(x[i + j] * inv) | (nearestMxfp4(x[i + j + 16] * inv) << 4);
}

const BLOCK_ENCODERS = { q8_0, q4_0, q5_0, q4_k, q5_k, q6_k, mxfp4 } as const;

/**
 * Encodes `rows` rows of `cols` float32 values (row-major) into `dtype`'s storage bytes (for
 * element types, their little-endian bytes). `cols` must be a multiple of the block size.
 */
export function encodeValues(dtype: DType, values: Float32Array, rows: number, cols: number): Uint8Array {
  const perRow = rowBytes(dtype, cols);
  if (values.length < rows * cols) throw new DTypeError(`encode ${dtype}: ${rows} x ${cols} values needed, got ${values.length}`);
  for (let i = 0; i < rows * cols; i++) {
    if (!Number.isFinite(values[i])) throw new DTypeError(`encode ${dtype}: value ${values[i]} at index ${i} is not finite`);
  }
  if (dtype === 'float32') return new Uint8Array(values.slice(0, rows * cols).buffer);
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const half = dtype === 'float16' ? encodeFloat16(values.subarray(0, rows * cols)) : encodeBfloat16(values.subarray(0, rows * cols));
    return new Uint8Array(half.buffer);
  }
  const { blockElements, blockBytes } = formatLayout(dtype);
  const out = new Uint8Array(rows * perRow);
  const encodeBlock = BLOCK_ENCODERS[dtype];
  const blocks = (rows * cols) / blockElements;
  for (let k = 0; k < blocks; k++) encodeBlock(values, k * blockElements, out, k * blockBytes);
  return out;
}
