/**
 * Exact decoding of ggml blocks (the semantics of ggml-quants.c `dequantize_row_*`). Every
 * decoded value is a product of small integers and f16 / power-of-two scales, computed here in
 * float64, so the float64 reference sees exactly the values the file means; decoding into a
 * Float32Array rounds each value once.
 */
import { bfloat16ToFloat32, float16ToFloat32 } from '../half-precision.js';
import { formatLayout, type DType } from './block-formats.js';

/** Where decoded values go. */
export type DecodeTarget = Float32Array | Float64Array;

/** The FP4 (E2M1) values of an MXFP4 nibble, doubled so they are integers (ggml's kvalues_mxfp4). */
export const MXFP4_VALUES: readonly number[] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

function f16(b: Uint8Array, at: number): number {
  return float16ToFloat32(b[at] | (b[at + 1] << 8));
}

function q8_0(b: Uint8Array, p: number, out: DecodeTarget, o: number): void {
  const d = f16(b, p);
  for (let j = 0; j < 32; j++) out[o + j] = d * ((b[p + 2 + j] << 24) >> 24);
}

function q4_0(b: Uint8Array, p: number, out: DecodeTarget, o: number): void {
  const d = f16(b, p);
  for (let j = 0; j < 16; j++) {
    const q = b[p + 2 + j];
    out[o + j] = d * ((q & 15) - 8);
    out[o + j + 16] = d * ((q >> 4) - 8);
  }
}

/**
 * q5_0: f16 d, then a little-endian u32 qh whose bit j is the fifth bit of value j, then 16
 * bytes whose low nibbles are values 0-15 and high nibbles values 16-31; value = d (code - 16)
 * with code = nibble | fifth bit << 4 (0..31).
 */
function q5_0(b: Uint8Array, p: number, out: DecodeTarget, o: number): void {
  const d = f16(b, p);
  const qh = (b[p + 2] | (b[p + 3] << 8) | (b[p + 4] << 16) | (b[p + 5] << 24)) >>> 0;
  for (let j = 0; j < 16; j++) {
    const q = b[p + 6 + j];
    out[o + j] = d * ((q & 15) + (((qh >>> j) & 1) << 4) - 16);
    out[o + j + 16] = d * ((q >> 4) + (((qh >>> (j + 16)) & 1) << 4) - 16);
  }
}

/**
 * The 6-bit scale and min of sub-block j (0..7) of a q4_k / q5_k block, packed in 12 bytes:
 * sub-blocks 0-3 in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); 4-7 take their low
 * 4 bits from bytes 8-11 and their high 2 bits from the top bits of bytes 0-7 (ggml `get_scale_min_k4`).
 */
export function kScaleMin(b: Uint8Array, scales: number, j: number): [scale: number, min: number] {
  if (j < 4) return [b[scales + j] & 63, b[scales + j + 4] & 63];
  const lo = b[scales + j + 4];
  return [(lo & 15) | ((b[scales + j - 4] >> 6) << 4), (lo >> 4) | ((b[scales + j] >> 6) << 4)];
}

function q4_k(b: Uint8Array, p: number, out: DecodeTarget, o: number): void {
  const d = f16(b, p);
  const dmin = f16(b, p + 2);
  const qs = p + 16;
  // 4 chunks of 32 bytes: the low nibbles are sub-block 2c, the high nibbles sub-block 2c + 1.
  for (let c = 0; c < 4; c++) {
    const [s0, m0] = kScaleMin(b, p + 4, 2 * c);
    const [s1, m1] = kScaleMin(b, p + 4, 2 * c + 1);
    for (let l = 0; l < 32; l++) {
      const q = b[qs + 32 * c + l];
      out[o + 64 * c + l] = d * s0 * (q & 15) - dmin * m0;
      out[o + 64 * c + 32 + l] = d * s1 * (q >> 4) - dmin * m1;
    }
  }
}

function q5_k(b: Uint8Array, p: number, out: DecodeTarget, o: number): void {
  const d = f16(b, p);
  const dmin = f16(b, p + 2);
  const qh = p + 16;
  const qs = p + 48;
  // As q4_k, with the fifth bit of sub-block s in bit s of qh[l].
  for (let c = 0; c < 4; c++) {
    const [s0, m0] = kScaleMin(b, p + 4, 2 * c);
    const [s1, m1] = kScaleMin(b, p + 4, 2 * c + 1);
    for (let l = 0; l < 32; l++) {
      const q = b[qs + 32 * c + l];
      const h = b[qh + l];
      out[o + 64 * c + l] = d * s0 * ((q & 15) | (((h >> (2 * c)) & 1) << 4)) - dmin * m0;
      out[o + 64 * c + 32 + l] = d * s1 * ((q >> 4) | (((h >> (2 * c + 1)) & 1) << 4)) - dmin * m1;
    }
  }
}

function q6_k(b: Uint8Array, p: number, out: DecodeTarget, o: number): void {
  const d = f16(b, p + 208);
  const sc = p + 192;
  // Two halves of 128 values: ql 64 bytes, qh 32 bytes, scales 8 (one per 16 values) each.
  for (let n = 0; n < 2; n++) {
    const ql = p + 64 * n;
    const qh = p + 128 + 32 * n;
    const s = sc + 8 * n;
    const y = o + 128 * n;
    for (let l = 0; l < 32; l++) {
      const is = l >> 4;
      const h = b[qh + l];
      const lo = b[ql + l];
      const hi = b[ql + l + 32];
      out[y + l] = d * ((b[s + is] << 24) >> 24) * (((lo & 15) | ((h & 3) << 4)) - 32);
      out[y + l + 32] = d * ((b[s + is + 2] << 24) >> 24) * (((hi & 15) | (((h >> 2) & 3) << 4)) - 32);
      out[y + l + 64] = d * ((b[s + is + 4] << 24) >> 24) * (((lo >> 4) | (((h >> 4) & 3) << 4)) - 32);
      out[y + l + 96] = d * ((b[s + is + 6] << 24) >> 24) * (((hi >> 4) | (((h >> 6) & 3) << 4)) - 32);
    }
  }
}

function mxfp4(b: Uint8Array, p: number, out: DecodeTarget, o: number): void {
  // E8M0 scale 2^(e - 127); the doubled FP4 values make it 2^(e - 128).
  const d = 2 ** (b[p] - 128);
  for (let j = 0; j < 16; j++) {
    const q = b[p + 1 + j];
    out[o + j] = MXFP4_VALUES[q & 15] * d;
    out[o + j + 16] = MXFP4_VALUES[q >> 4] * d;
  }
}

const BLOCK_DECODERS = { q8_0, q4_0, q5_0, q4_k, q5_k, q6_k, mxfp4 } as const;

/**
 * Decodes `count` values (a whole number of blocks) of `dtype` from `bytes`, starting at byte
 * `byteOffset`, into `out` from index `outOffset`. Element types decode too (raw little-endian
 * bytes), so one call serves every format.
 */
export function decodeValues(dtype: DType, bytes: Uint8Array, byteOffset: number, count: number, out: DecodeTarget, outOffset = 0): void {
  const { blockElements, blockBytes } = formatLayout(dtype);
  if (dtype === 'float32') {
    const view = new DataView(bytes.buffer, bytes.byteOffset + byteOffset, count * 4);
    for (let i = 0; i < count; i++) out[outOffset + i] = view.getFloat32(4 * i, true);
    return;
  }
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const decode = dtype === 'float16' ? float16ToFloat32 : bfloat16ToFloat32;
    for (let i = 0, p = byteOffset; i < count; i++, p += 2) out[outOffset + i] = decode(bytes[p] | (bytes[p + 1] << 8));
    return;
  }
  const decodeBlock = BLOCK_DECODERS[dtype];
  const blocks = count / blockElements;
  for (let k = 0; k < blocks; k++) decodeBlock(bytes, byteOffset + k * blockBytes, out, outOffset + k * blockElements);
}
