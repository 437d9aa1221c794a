/**
 * mxfp4 blocks as gpt-oss's Hugging Face checkpoints store them, against GGUF's (core's
 * `mxfp4`) order. Both hold 32 FP4 (E2M1) values per block with one E8M0 exponent byte
 * (value = fp4 x 2^(e - 127), the same byte on both sides), but:
 * - Hugging Face keeps the 16 bytes of nibbles in `*_blocks` `[..., n/32, 16]` and the exponents
 *   apart in `*_scales` `[..., n/32]`; byte i holds value 2i in its low nibble and 2i+1 in its
 *   high one (transformers `convert_moe_packed_tensors`: `lut[blk & 0x0F]` to even positions,
 *   `lut[blk >> 4]` to odd ones);
 * - GGUF stores 17-byte blocks, exponent first, and byte i holds value i low and i+16 high.
 * Repacking moves nibbles only; every value and exponent is kept bit for bit.
 */

/** Bytes of nibbles per Hugging Face block (32 values). */
export const HF_MXFP4_BLOCK_BYTES = 16;

/** GGUF bytes per mxfp4 block (exponent + 16 bytes of nibbles). */
const GGUF_BLOCK = 17;

/** Nibble (FP4 code) of value k in a Hugging Face block starting at `at`. */
function hfNibble(blocks: Uint8Array, at: number, k: number): number {
  return (blocks[at + (k >> 1)] >> ((k & 1) << 2)) & 15;
}

/** Writes one GGUF block at `out[o]` from the Hugging Face block `blocks[b..b+16)` and its exponent byte. */
export function ggufBlockFromHf(blocks: Uint8Array, b: number, scale: number, out: Uint8Array, o: number): void {
  out[o] = scale;
  for (let i = 0; i < 16; i++) out[o + 1 + i] = hfNibble(blocks, b, i) | (hfNibble(blocks, b, i + 16) << 4);
}

/** Writes the Hugging Face block of the GGUF block `gguf[g..g+17)` at `blocks[b]`; returns its exponent byte. */
export function hfBlockFromGguf(gguf: Uint8Array, g: number, blocks: Uint8Array, b: number): number {
  const code = (k: number): number => (k < 16 ? gguf[g + 1 + k] & 15 : gguf[g + 1 + k - 16] >> 4);
  for (let i = 0; i < 16; i++) blocks[b + i] = code(2 * i) | (code(2 * i + 1) << 4);
  return gguf[g];
}

/**
 * Rows `first, first + step, ...` (`count` of them) of one expert's Hugging Face mxfp4 matrix
 * as GGUF bytes: `blocks` / `scales` hold `rows` rows of `perRow` blocks for every expert,
 * expert `j` starting at row `j * rows`.
 */
export function ggufRowsFromHf(blocks: Uint8Array, scales: Uint8Array, j: number, rows: number, perRow: number, first: number, step: number, count: number): Uint8Array {
  const out = new Uint8Array(count * perRow * GGUF_BLOCK);
  for (let r = 0; r < count; r++) {
    const row = j * rows + first + r * step;
    for (let k = 0; k < perRow; k++) {
      const blk = row * perRow + k;
      ggufBlockFromHf(blocks, blk * HF_MXFP4_BLOCK_BYTES, scales[blk], out, (r * perRow + k) * GGUF_BLOCK);
    }
  }
  return out;
}

/**
 * Writes GGUF mxfp4 bytes of `count` rows (`perRow` blocks each) into Hugging Face `blocks` /
 * `scales` at rows `first, first + step, ...` (the inverse of {@link ggufRowsFromHf}).
 */
export function hfRowsFromGguf(gguf: Uint8Array, count: number, perRow: number, blocks: Uint8Array, scales: Uint8Array, first: number, step: number): void {
  for (let r = 0; r < count; r++) {
    const row = first + r * step;
    for (let k = 0; k < perRow; k++) {
      const blk = row * perRow + k;
      scales[blk] = hfBlockFromGguf(gguf, (r * perRow + k) * GGUF_BLOCK, blocks, blk * HF_MXFP4_BLOCK_BYTES);
    }
  }
}
