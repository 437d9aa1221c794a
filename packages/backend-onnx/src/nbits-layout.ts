/**
 * ggml's `q4_0` and `q8_0` rows repacked, once at prepare time, into the layout of onnxruntime's
 * `com.microsoft.MatMulNBits` (contrib op; CPU kernel in onnxruntime 1.30, checked with a one-node
 * graph): B uint8 `[N, K/32, 32 * bits / 8]` (one row per output feature, blocks of 32 along the
 * input, codes packed low-first: element 2i in the low nibble of byte i for 4 bits), scales
 * float32 `[N * K/32]`, zero points uint8. Both formats map exactly:
 *
 * - q4_0 (f16 d, 16 bytes: element i in the low nibble of byte i, element i+16 in the high one;
 *   value d * (nibble - 8)): the nibbles are re-paired, d widens exactly to float32, and the zero
 *   point is MatMulNBits' default for 4 bits, 8 (no zero-point input).
 * - q8_0 (f16 d, 32 x int8 q; value d * q): code q + 128 (the bit pattern with its top bit
 *   flipped), zero point 128 for every block, given as an input.
 */
import { float16ToFloat32, type BlockFormat, type DType, type HostTensor } from '@moe-runtime/core';

/** Values per MatMulNBits block (ggml's q4_0 / q8_0 block). */
export const NBITS_BLOCK = 32;

/** The formats computed through MatMulNBits, with their code width. */
const BITS: Partial<Record<DType, 4 | 8>> = { q4_0: 4, q8_0: 8 };

/** Code width of `dtype` under MatMulNBits, or undefined when it is not computed that way. */
export function nbitsOf(dtype: DType): 4 | 8 | undefined {
  return BITS[dtype];
}

/** The block formats this backend computes on without decoding. */
export const NBITS_FORMATS: readonly BlockFormat[] = ['q4_0', 'q8_0'];

/** One MatMulNBits weight: the `[N, K]` matrix of several `[n_i, K]` ones stacked along N. */
export interface NBitsWeight {
  readonly bits: 4 | 8;
  readonly n: number;
  readonly k: number;
  readonly codes: Uint8Array;
  readonly scales: Float32Array;
  /** Present for 8 bits (128 per block); 4 bits use the operator's default, 8. */
  readonly zeroPoints?: Uint8Array;
}

/** Bytes one `[n, k]` weight takes as MatMulNBits inputs (codes, float32 scales, zero points). */
export function nbitsBytes(bits: 4 | 8, n: number, k: number): number {
  const blocks = n * (k / NBITS_BLOCK);
  return blocks * ((NBITS_BLOCK * bits) / 8 + 4 + (bits === 8 ? 1 : 0));
}

function repackQ4Block(src: Uint8Array, s: number, dst: Uint8Array, o: number): void {
  // ggml: byte j holds elements j (low) and j+16 (high); MatMulNBits: byte i holds 2i (low) and 2i+1 (high).
  for (let i = 0; i < 16; i++) {
    const a = 2 * i;
    const b = a + 1;
    const lo = a < 16 ? src[s + a] & 0x0f : src[s + a - 16] >> 4;
    const hi = b < 16 ? src[s + b] & 0x0f : src[s + b - 16] >> 4;
    dst[o + i] = lo | (hi << 4);
  }
}

function repackQ8Block(src: Uint8Array, s: number, dst: Uint8Array, o: number): void {
  for (let i = 0; i < 32; i++) dst[o + i] = src[s + i] ^ 0x80;
}

/** Stacks `[n_i, K]` q4_0 or q8_0 matrices (all one format) along N in MatMulNBits layout. */
export function repackNBits(matrices: readonly HostTensor[]): NBitsWeight {
  const dtype = matrices[0].dtype;
  const bits = nbitsOf(dtype);
  if (bits === undefined || matrices.some((m) => m.dtype !== dtype)) throw new TypeError(`repackNBits: expected matrices of one of ${NBITS_FORMATS.join(', ')}`);
  const k = matrices[0].shape[1];
  const n = matrices.reduce((s, m) => s + m.shape[0], 0);
  const blob = (NBITS_BLOCK * bits) / 8;
  const srcBlock = blob + 2;
  const blocks = n * (k / NBITS_BLOCK);
  const codes = new Uint8Array(blocks * blob);
  const scales = new Float32Array(blocks);
  const repack = bits === 4 ? repackQ4Block : repackQ8Block;
  let b = 0;
  for (const m of matrices) {
    const src = m.bytes();
    for (let s = 0; s < src.length; s += srcBlock, b++) {
      scales[b] = float16ToFloat32(src[s] | (src[s + 1] << 8));
      repack(src, s + 2, codes, b * blob);
    }
  }
  return { bits, n, k, codes, scales, zeroPoints: bits === 8 ? new Uint8Array(blocks).fill(128) : undefined };
}
