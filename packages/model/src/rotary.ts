/**
 * Rotary position embeddings in the Hugging Face "rotate half" convention: dimension i and
 * i + hd/2 of each head form a pair rotated by position * theta^(-2i / hd).
 */
import { ShapeError } from '@moe-runtime/core';

/** Precomputed inverse frequencies of one head size (even: dimensions pair up as i, i + hd/2). */
export function inverseFrequencies(headDim: number, theta: number): Float64Array {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new ShapeError(`rotary head_dim must be an even integer >= 2, got ${headDim}`);
  const half = headDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = 1 / theta ** ((2 * i) / headDim);
  return out;
}

/**
 * Rotates `heads` heads of `vec` (at `offset`, each `headDim` long) in place for `position`;
 * `scale` multiplies cos and sin (YaRN's attention factor, see `rope-scaling.ts`).
 */
export function applyRotary(vec: Float32Array | Float64Array, offset: number, heads: number, headDim: number, position: number, invFreq: Float64Array, scale = 1): void {
  const half = headDim / 2;
  for (let i = 0; i < half; i++) {
    const angle = position * invFreq[i];
    const c = Math.cos(angle) * scale;
    const s = Math.sin(angle) * scale;
    for (let h = 0; h < heads; h++) {
      const base = offset + h * headDim;
      const a = vec[base + i];
      const b = vec[base + i + half];
      vec[base + i] = a * c - b * s;
      vec[base + i + half] = b * c + a * s;
    }
  }
}

/**
 * Rotary embedding on interleaved pairs (dimension 2i with 2i+1, frequency i), in place on
 * `heads` heads of `headDim` at `offset`, `stride` apart: DeepSeek-V2's `apply_rotary_pos_emb`
 * (which de-interleaves to rotate-half order first; q.k is unchanged when q and k are both kept
 * interleaved) and llama.cpp's NORM rope. `scale` multiplies cos and sin.
 */
export function applyRotaryInterleaved(vec: Float32Array, offset: number, heads: number, headDim: number, stride: number, position: number, invFreq: Float64Array, scale = 1): void {
  for (let i = 0; i < headDim / 2; i++) {
    const angle = position * invFreq[i];
    const c = Math.cos(angle) * scale;
    const s = Math.sin(angle) * scale;
    for (let h = 0; h < heads; h++) {
      const at = offset + h * stride + 2 * i;
      const a = vec[at];
      const b = vec[at + 1];
      vec[at] = a * c - b * s;
      vec[at + 1] = b * c + a * s;
    }
  }
}
