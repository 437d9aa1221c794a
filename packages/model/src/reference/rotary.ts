/**
 * Rotary position embeddings of the reference decoder, on the Hugging Face layout of q/k
 * (rows not permuted). Follows `MixtralRotaryEmbedding` (default rope type) and
 * `apply_rotary_pos_emb` / `rotate_half` of modeling_mixtral, which modeling_qwen2_moe,
 * modeling_qwen3_moe and modeling_olmoe copy unchanged.
 */
import { ShapeError } from '@moe-runtime/core';
import type { ModelConfig } from '../model-config.js';

/** The config's parsed `rope_scaling`. */
type RopeScaling = NonNullable<ModelConfig['ropeScaling']>;
import { referenceRopeParameters } from './rope-scaling.js';

/**
 * `cos` and `sin` `[positions, headDim]` of `MixtralRotaryEmbedding.forward`:
 * `inv_freq = 1 / base^(arange(0, dim, 2) / dim)`, `freqs = pos * inv_freq`,
 * `emb = cat(freqs, freqs)`, `cos = emb.cos() * attention_scaling` (and sin), with `inv_freq` and
 * `attention_scaling` of the config's `rope_scaling` type (`reference/rope-scaling.ts`).
 */
export function rotaryTables(positions: number, headDim: number, base: number, scaling?: RopeScaling): { cos: Float64Array; sin: Float64Array } {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new ShapeError(`rotary head size must be an even integer >= 2, got ${headDim}`);
  const half = headDim / 2;
  const { invFreq: inv, attentionScaling } = referenceRopeParameters(headDim, base, scaling);
  const cos = new Float64Array(positions * headDim);
  const sin = new Float64Array(positions * headDim);
  for (let p = 0; p < positions; p++) {
    for (let j = 0; j < half; j++) {
      const angle = p * inv[j];
      for (const col of [j, j + half]) {
        cos[p * headDim + col] = Math.cos(angle) * attentionScaling;
        sin[p * headDim + col] = Math.sin(angle) * attentionScaling;
      }
    }
  }
  return { cos, sin };
}

/** `rotate_half`: `cat(-x2, x1)` of one head's vector (x1 its first half, x2 its second). */
function rotateHalf(x: Float64Array): Float64Array {
  const half = x.length / 2;
  const out = new Float64Array(x.length);
  for (let i = 0; i < half; i++) {
    out[i] = -x[half + i];
    out[half + i] = x[i];
  }
  return out;
}

/**
 * `apply_rotary_pos_emb` on one of q or k, `[n, heads * headDim]` with row i at position i:
 * `x * cos + rotate_half(x) * sin`, head by head. Returns a new array.
 */
export function applyRotaryPosEmb(x: Float64Array, n: number, heads: number, headDim: number, tables: { cos: Float64Array; sin: Float64Array }): Float64Array {
  const out = new Float64Array(x.length);
  for (let p = 0; p < n; p++) {
    for (let h = 0; h < heads; h++) {
      const at = (p * heads + h) * headDim;
      const head = x.slice(at, at + headDim);
      const rotated = rotateHalf(head);
      for (let c = 0; c < headDim; c++) out[at + c] = head[c] * tables.cos[p * headDim + c] + rotated[c] * tables.sin[p * headDim + c];
    }
  }
  return out;
}
