/**
 * Multi-head latent attention of the production decoder (DeepSeek-V2; q from q_proj, or from
 * q_b_proj(q_a_layernorm(q_a_proj)) with q_lora_rank), with
 * the KV cache holding the compressed latent: per position one cached "head" whose key is
 * `[kv_a_layernorm(c) | rope(k_rope)]` and whose value is `kv_a_layernorm(c)`. `kv_b_proj` is
 * absorbed: query head h attends with `[W_kb[h]^T q_nope[h] | rope(q_rope[h])]` (so q.k equals
 * `q_nope . k_nope + q_rope . k_rope` of the expanded form), and its latent output goes through
 * `W_vb[h]` to the head's v_head_dim values before `o_proj`. The backend's `attend` runs it as
 * MQA with key dim kv_lora_rank + rope and value dim kv_lora_rank.
 */
import { HostTensor, linearMany, type AttentionLayerSpec, type AttentionOps, type AttentionSegment, type Backend, type PreparedLinear } from '@moe-runtime/core';
import type { LatentAttentionConfig, ModelConfig } from './model-config.js';
import type { AttentionWeights } from './model-weights.js';
import { rmsNorm } from './rms-norm.js';
import { applyRotaryInterleaved } from './rotary.js';

/** One layer's absorbed kv_b_proj and latent norm (and the low-rank q's second half). */
export interface PreparedLatent {
  /** q_b_proj and q_a_layernorm, with q_lora_rank (the fused input projection then makes q_a). */
  readonly qB?: PreparedLinear;
  readonly qANorm?: Float32Array;
  /** Per head `W_kb[h]^T` `[rank, nope]`: q_nope to the latent query. */
  readonly kb: readonly PreparedLinear[];
  /** Per head `W_vb[h]` `[v, rank]`: the latent output to the head's values. */
  readonly vb: readonly PreparedLinear[];
  readonly kvANorm: Float32Array;
}

function latentOf(c: ModelConfig): LatentAttentionConfig {
  return c.latentAttention!;
}

/**
 * Prepares head h's absorbed projections from kv_b_proj `[H * (nope + v), rank]` (the loader
 * holds it as float32): `W_kb[h]^T` is a transpose, copied once; `W_vb[h]` is a run of
 * kv_b_proj's rows, prepared from them without a copy.
 */
export async function prepareLatent(backend: Backend, c: ModelConfig, a: AttentionWeights, track: <T extends { dispose(): void }>(p: T) => T): Promise<PreparedLatent> {
  const { kvLoraRank: r, qkNopeHeadDim: nope, vHeadDim: v } = latentOf(c);
  const w = a.kvB!.toFloat32();
  const kb: PreparedLinear[] = [];
  const vb: PreparedLinear[] = [];
  for (let h = 0; h < c.numHeads; h++) {
    const base = h * (nope + v);
    const t = new Float32Array(r * nope);
    for (let j = 0; j < nope; j++) for (let x = 0; x < r; x++) t[x * nope + j] = w[(base + j) * r + x];
    kb.push(track(await backend.prepareLinear({ weight: HostTensor.float32([r, nope], t) })));
    vb.push(track(await backend.prepareLinear({ weight: a.kvB!.rowSlice(base + nope, base + nope + v) })));
  }
  const low = a.qA ? { qB: track(await backend.prepareLinear({ weight: a.q })), qANorm: a.qANorm!.toFloat32() } : {};
  return { ...low, kb, vb, kvANorm: a.kvANorm!.toFloat32() };
}

/** Columns [from, from + width) of every row of `x` (`rows` x `stride`) as a packed `[rows, width]`. */
function columns(x: Float32Array, rows: number, stride: number, from: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let i = 0; i < rows; i++) out.set(x.subarray(i * stride + from, i * stride + from + width), i * width);
  return out;
}

/** Writes packed `[rows, width]` into columns [at, at + width) of `x` (`rows` x `stride`). */
function setColumns(x: Float32Array, rows: number, stride: number, at: number, part: Float32Array, width: number): void {
  for (let i = 0; i < rows; i++) x.set(part.subarray(i * width, (i + 1) * width), i * stride + at);
}

/** What one layer's latent attention needs beyond its projection output. */
export interface LatentStep {
  readonly backend: Backend;
  readonly attention: AttentionOps;
  readonly layer: number;
  readonly spec: AttentionLayerSpec;
  readonly segments: readonly AttentionSegment[];
  readonly positions: Int32Array;
  readonly invFreq: Float64Array;
  readonly ropeScale: number;
}

/**
 * q `[n, H * (nope + rope)]` and the kv_a part `[n, rank + rope]` from the fused projection:
 * q_proj's output, or q_b_proj(q_a_layernorm(q_a)) with a low-rank q.
 */
async function splitProjection(c: ModelConfig, p: PreparedLatent, proj: Float32Array, n: number, backend: Backend): Promise<{ q: Float32Array; kv: Float32Array }> {
  const { kvLoraRank: r, qkRopeHeadDim: rope, qLoraRank } = latentOf(c);
  const first = qLoraRank ?? c.numHeads * c.headDim;
  const width = first + r + rope;
  const kv = columns(proj, n, width, first, r + rope);
  const qIn = columns(proj, n, width, 0, first);
  if (!p.qB) return { q: qIn, kv };
  rmsNorm(qIn, p.qANorm!, first, c.rmsNormEps);
  return { q: await backend.linear(p.qB, qIn, n), kv };
}

/**
 * Attention over `proj`, q_proj (or q_a_proj) and kv_a_proj_with_mqa joined per row; returns
 * the `[n, H * v]` input of o_proj.
 */
export async function latentAttention(c: ModelConfig, p: PreparedLatent, proj: Float32Array, s: LatentStep): Promise<Float32Array> {
  const { kvLoraRank: r, qkNopeHeadDim: nope, qkRopeHeadDim: rope, vHeadDim: v } = latentOf(c);
  const h = c.numHeads;
  const n = s.positions.length;
  const qw = h * c.headDim;
  const kw = r + rope;
  const { q: qAll, kv: k } = await splitProjection(c, p, proj, n, s.backend);
  const q = new Float32Array(n * h * kw);
  for (let i = 0; i < n; i++) {
    const row = qAll.subarray(i * qw, (i + 1) * qw);
    rmsNorm(k.subarray(i * kw, i * kw + r), p.kvANorm, r, c.rmsNormEps);
    applyRotaryInterleaved(k, i * kw + r, 1, rope, kw, s.positions[i], s.invFreq, s.ropeScale);
    for (let hd = 0; hd < h; hd++) q.set(row.subarray(hd * c.headDim + nope, (hd + 1) * c.headDim), (i * h + hd) * kw + r);
    applyRotaryInterleaved(q, i * h * kw + r, h, rope, kw, s.positions[i], s.invFreq, s.ropeScale);
  }
  // The per-head products run as one batch each (linearMany): 2 x H small linears a layer.
  const heads = Array.from({ length: h }, (_, hd) => hd);
  const qLatent = await linearMany(s.backend, p.kb, heads.map((hd) => columns(qAll, n, qw, hd * c.headDim, nope)), n);
  for (const hd of heads) setColumns(q, n, h * kw, hd * kw, qLatent[hd], r);
  const values = columns(k, n, kw, 0, r);
  const latentOut = await s.attention.attend(s.layer, s.spec, s.segments, q, k, values);
  const out = new Float32Array(n * h * v);
  const ys = await linearMany(s.backend, p.vb, heads.map((hd) => columns(latentOut, n, h * r, hd * r, r)), n);
  for (const hd of heads) setColumns(out, n, h * v, hd * v, ys[hd], v);
  return out;
}
