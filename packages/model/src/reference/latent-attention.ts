/**
 * DeepSeek-V2's multi-head latent attention in the reference decoder, in the expanded form of
 * `DeepseekV2Attention.forward` (modeling_deepseek): no latent cache, no absorbed projections
 * (the production decoder's form), so the two meet only in the logits.
 *
 *     q = q_proj(x)   (q_lora_rank: q_b_proj(q_a_layernorm(q_a_proj(x))))
 *     q = q.view(n, H, q_head_dim); q_nope, q_pe = split(q, [nope, rope])
 *     compressed_kv, k_pe = split(kv_a_proj_with_mqa(x), [kv_lora_rank, rope])
 *     kv = kv_b_proj(kv_a_layernorm(compressed_kv)).view(n, H, nope + v); k_nope, value = split(kv, [nope, v])
 *     q_pe, k_pe = apply_rotary_pos_emb(q_pe, k_pe, cos, sin)   (k_pe one head, shared)
 *     query = [q_nope | q_pe], key = [k_nope | k_pe]
 *     attn = softmax(query key^T * softmax_scale + causal mask) value; o_proj(attn)
 */
import { ShapeError } from '@moe-runtime/core';
import type { ModelConfig } from '../model-config.js';
import type { AttentionWeights } from '../model-weights.js';
import { softmax } from './attention.js';
import { rmsNorm64 } from './rms-norm.js';
import { rotaryTables } from './rotary.js';
import { linear64, valuesOf } from './weight-values.js';

/**
 * modeling_deepseek `apply_rotary_pos_emb` on one vector of `d` values at position p: first
 * `x.view(d/2, 2).transpose(-1, -2).reshape(d)` (even dimensions, then odd), then
 * `x * cos + rotate_half(x) * sin`.
 */
function deepseekRotary(x: Float64Array, p: number, tables: { cos: Float64Array; sin: Float64Array }): Float64Array {
  const d = x.length;
  const half = d / 2;
  const permuted = new Float64Array(d);
  for (let i = 0; i < half; i++) {
    permuted[i] = x[2 * i];
    permuted[half + i] = x[2 * i + 1];
  }
  const out = new Float64Array(d);
  for (let c = 0; c < d; c++) {
    // rotate_half: cat(-x2, x1).
    const rotated = c < half ? -permuted[c + half] : permuted[c - half];
    out[c] = permuted[c] * tables.cos[p * d + c] + rotated * tables.sin[p * d + c];
  }
  return out;
}

/** The attention block of a DeepSeek-V2 layer over `n` rows `x` `[n, D]`; returns `o_proj`'s output `[n, D]`. */
export function latentSelfAttention(c: ModelConfig, a: AttentionWeights, x: Float64Array, n: number): Float64Array {
  const m = c.latentAttention!;
  if (!a.kvA || !a.kvANorm || !a.kvB) throw new ShapeError(`${c.modelType} attention needs kv_a_proj_with_mqa, kv_a_layernorm and kv_b_proj weights`);
  const { kvLoraRank: rank, qkNopeHeadDim: nope, qkRopeHeadDim: rope, vHeadDim: vd } = m;
  const heads = c.numHeads;
  const qHeadDim = nope + rope;
  const rq = m.qLoraRank;
  if (rq !== undefined && (!a.qA || !a.qANorm)) throw new ShapeError(`${c.modelType} attention with q_lora_rank needs q_a_proj and q_a_layernorm weights`);
  const q = rq === undefined ? linear64(x, n, a.q) : linear64(rmsNorm64(linear64(x, n, a.qA!), valuesOf(a.qANorm!), rq, c.rmsNormEps), n, a.q);
  const ckv = linear64(x, n, a.kvA);
  const compressed = new Float64Array(n * rank);
  for (let t = 0; t < n; t++) compressed.set(ckv.subarray(t * (rank + rope), t * (rank + rope) + rank), t * rank);
  const kv = linear64(rmsNorm64(compressed, valuesOf(a.kvANorm), rank, c.rmsNormEps), n, a.kvB);
  // DeepseekV2YarnRotaryEmbedding(qk_rope_head_dim): inv_freq and cos/sin * _mscale as rotaryTables.
  const tables = rotaryTables(n, rope, c.ropeTheta, c.ropeScaling);
  const query: Float64Array[] = [];
  const key: Float64Array[] = [];
  for (let t = 0; t < n; t++) {
    const kPe = deepseekRotary(ckv.slice(t * (rank + rope) + rank, (t + 1) * (rank + rope)), t, tables);
    for (let h = 0; h < heads; h++) {
      const qRow = q.subarray((t * heads + h) * qHeadDim, (t * heads + h + 1) * qHeadDim);
      const qs = new Float64Array(qHeadDim);
      qs.set(qRow.subarray(0, nope));
      qs.set(deepseekRotary(qRow.slice(nope), t, tables), nope);
      query.push(qs);
      const ks = new Float64Array(qHeadDim);
      ks.set(kv.subarray((t * heads + h) * (nope + vd), (t * heads + h) * (nope + vd) + nope));
      ks.set(kPe, nope);
      key.push(ks);
    }
  }
  const out = new Float64Array(n * heads * vd);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < n; i++) {
      const scores = new Float64Array(i + 1);
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let e = 0; e < qHeadDim; e++) dot += query[i * heads + h][e] * key[j * heads + h][e];
        scores[j] = dot * m.softmaxScale;
      }
      const probs = softmax(scores);
      for (let e = 0; e < vd; e++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += probs[j] * kv[(j * heads + h) * (nope + vd) + nope + e];
        out[(i * heads + h) * vd + e] = acc;
      }
    }
  }
  return linear64(out, n, a.o);
}
