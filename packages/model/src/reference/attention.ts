/**
 * Causal grouped-query attention of the reference decoder. Follows `eager_attention_forward`
 * and `repeat_kv` of modeling_mixtral (copied by modeling_qwen2_moe, modeling_qwen3_moe and
 * modeling_olmoe): `softmax(q k^T * head_dim^-0.5 + causal_mask) v`, each key/value head
 * shared by `num_attention_heads / num_key_value_heads` query heads. `GraniteMoeAttention`
 * (modeling_granitemoe) passes `scaling = config.attention_multiplier` instead of head_dim^-0.5.
 */

/** The heads of the attention. */
export interface ReferenceAttentionShape {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

/**
 * `repeat_kv`: `[n, kvHeads * hd]` -> `[numHeads][n * hd]`, key/value head `h / groups` for
 * query head h.
 */
function repeatKv(x: Float64Array, n: number, s: ReferenceAttentionShape): Float64Array[] {
  const groups = s.numHeads / s.numKvHeads;
  const heads: Float64Array[] = [];
  for (let h = 0; h < s.numHeads; h++) {
    const kvHead = Math.floor(h / groups);
    const out = new Float64Array(n * s.headDim);
    for (let p = 0; p < n; p++) for (let c = 0; c < s.headDim; c++) out[p * s.headDim + c] = x[(p * s.numKvHeads + kvHead) * s.headDim + c];
    heads.push(out);
  }
  return heads;
}

/**
 * Attention over a whole sequence of `n` positions: q `[n, H * hd]`, k and v `[n, KV * hd]`,
 * rotary already applied. Returns the `[n, H * hd]` input of `o_proj`. `scaling` multiplies the
 * scores (default head_dim^-0.5).
 */
export function causalAttention64(q: Float64Array, k: Float64Array, v: Float64Array, n: number, s: ReferenceAttentionShape, scaling = s.headDim ** -0.5): Float64Array {
  const { numHeads, headDim } = s;
  const keys = repeatKv(k, n, s);
  const values = repeatKv(v, n, s);
  const out = new Float64Array(n * numHeads * headDim);
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < n; i++) {
      // attn_weights[i, j] for j <= i; the causal mask sets j > i to -inf, i.e. weight 0.
      const weights = new Float64Array(i + 1);
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let c = 0; c < headDim; c++) dot += q[(i * numHeads + h) * headDim + c] * keys[h][j * headDim + c];
        weights[j] = dot * scaling;
      }
      const probs = softmax(weights);
      for (let c = 0; c < headDim; c++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += probs[j] * values[h][j * headDim + c];
        out[(i * numHeads + h) * headDim + c] = acc;
      }
    }
  }
  return out;
}

/** `torch.softmax` over one row (shifted by its maximum, which leaves the result unchanged). */
export function softmax(row: Float64Array): Float64Array {
  const max = row.reduce((m, x) => Math.max(m, x), -Infinity);
  const exps = row.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}
