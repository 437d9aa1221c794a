/** The weights of a decoder-only MoE model, in Hugging Face layout (`[out, in]` projections). */
import { ShapeError, type HostTensor, type MoEWeights } from '@moe-runtime/core';
import type { ModelConfig } from './model-config.js';

/**
 * Self-attention weights of one layer: GQA (`q`, `k`, `v`, `o`), or multi-head latent attention
 * (`q`, `kvA`, `kvANorm`, `kvB`, `o`, and `qA`, `qANorm` with a low-rank q; DeepSeek-V2) where
 * `k` and `v` are absent.
 */
export interface AttentionWeights {
  /** `[H * hd, D]`: the projection that makes q (MLA with q_lora_rank: `q_b_proj` `[H * hd, q_lora_rank]`). */
  readonly q: HostTensor;
  /** MLA `q_a_proj` `[q_lora_rank, D]` (DeepSeek-V2 / V2.5). */
  readonly qA?: HostTensor;
  /** MLA `q_a_layernorm` `[q_lora_rank]`. */
  readonly qANorm?: HostTensor;
  /** `[KV * hd, D]` (GQA) */
  readonly k?: HostTensor;
  /** `[KV * hd, D]` (GQA) */
  readonly v?: HostTensor;
  /** `[D, H * hd]` (MLA: `[D, H * v_head_dim]`) */
  readonly o: HostTensor;
  /** MLA `kv_a_proj_with_mqa` `[kv_lora_rank + qk_rope, D]`: the latent, then the shared k_rope. */
  readonly kvA?: HostTensor;
  /** MLA `kv_a_layernorm` `[kv_lora_rank]`. */
  readonly kvANorm?: HostTensor;
  /** MLA `kv_b_proj` `[H * (qk_nope + v_head_dim), kv_lora_rank]`: per head k_nope rows, then v rows. */
  readonly kvB?: HostTensor;
  readonly qBias?: HostTensor;
  readonly kBias?: HostTensor;
  readonly vBias?: HostTensor;
  /** `[D]`, gpt-oss. */
  readonly oBias?: HostTensor;
  /** `[H]`: one learned sink logit per query head (gpt-oss). */
  readonly sinks?: HostTensor;
  /** RMSNorm weight over q: `[hd]` (Qwen3, per head) or `[H * hd]` (OLMoE). */
  readonly qNorm?: HostTensor;
  /** RMSNorm weight over k: `[hd]` or `[KV * hd]`. */
  readonly kNorm?: HostTensor;
}

/** One decoder layer. */
export interface DecoderLayerWeights {
  /** `[D]` */
  readonly inputNorm: HostTensor;
  /** `[D]` */
  readonly postAttentionNorm: HostTensor;
  readonly attention: AttentionWeights;
  readonly moe: MoEWeights;
}

/** The whole model. */
export interface ModelWeights {
  /** `[V, D]` */
  readonly embed: HostTensor;
  readonly layers: readonly DecoderLayerWeights[];
  /** `[D]` */
  readonly finalNorm: HostTensor;
  /** `[V, D]` (the embedding itself when tied). */
  readonly lmHead: HostTensor;
}

/** Bytes the weights occupy as stored (shared tensors counted once). */
export function weightBytes(weights: ModelWeights): number {
  const seen = new Set<HostTensor>();
  let bytes = 0;
  const add = (t: HostTensor | undefined): void => {
    if (!t || seen.has(t)) return;
    seen.add(t);
    bytes += t.data.byteLength;
  };
  add(weights.embed);
  add(weights.finalNorm);
  add(weights.lmHead);
  for (const l of weights.layers) {
    add(l.inputNorm);
    add(l.postAttentionNorm);
    for (const t of Object.values(l.attention)) add(t);
    add(l.moe.router);
    add(l.moe.routerBias);
    add(l.moe.sharedGate);
    for (const t of Object.values(l.moe.routerParams ?? {})) add(t);
    for (const e of [...l.moe.experts, ...(l.moe.shared ?? [])]) for (const t of Object.values(e)) add(t);
  }
  return bytes;
}

/** Checks a tensor that the config requires (present, with this shape). */
function required(t: HostTensor | undefined, what: string, shape: readonly number[], c: ModelConfig): void {
  if (!t) throw new ShapeError(`${what} is missing; ${c.modelType} needs [${shape.join(', ')}]`);
  t.assertShape(what, shape);
}

/** Checks one decoder layer's non-MoE tensors against the config (core's MoELayer checks the MoE ones). */
export function validateLayerWeights(c: ModelConfig, l: DecoderLayerWeights, i: number): void {
  const d = c.hiddenSize;
  const qw = c.numHeads * c.headDim;
  const kvw = c.numKvHeads * c.headDim;
  const p = `weights.layers[${i}]`;
  const a = l.attention;
  required(l.inputNorm, `${p}.inputNorm`, [d], c);
  required(l.postAttentionNorm, `${p}.postAttentionNorm`, [d], c);
  const m = c.latentAttention;
  required(a.q, `${p}.attention.q`, [qw, m?.qLoraRank ?? d], c);
  if (m) {
    if (m.qLoraRank !== undefined) {
      required(a.qA, `${p}.attention.qA`, [m.qLoraRank, d], c);
      required(a.qANorm, `${p}.attention.qANorm`, [m.qLoraRank], c);
    }
    required(a.kvA, `${p}.attention.kvA`, [m.kvLoraRank + m.qkRopeHeadDim, d], c);
    required(a.kvANorm, `${p}.attention.kvANorm`, [m.kvLoraRank], c);
    required(a.kvB, `${p}.attention.kvB`, [c.numHeads * (m.qkNopeHeadDim + m.vHeadDim), m.kvLoraRank], c);
    required(a.o, `${p}.attention.o`, [d, c.numHeads * m.vHeadDim], c);
    return;
  }
  required(a.k, `${p}.attention.k`, [kvw, d], c);
  required(a.v, `${p}.attention.v`, [kvw, d], c);
  required(a.o, `${p}.attention.o`, [d, qw], c);
  // Biases are all or nothing: the fused q/k/v projection cannot take some of them.
  if (c.qkvBias || a.qBias || a.kBias || a.vBias) {
    required(a.qBias, `${p}.attention.qBias`, [qw], c);
    required(a.kBias, `${p}.attention.kBias`, [kvw], c);
    required(a.vBias, `${p}.attention.vBias`, [kvw], c);
  }
  if (c.oBias) required(a.oBias, `${p}.attention.oBias`, [d], c);
  if (c.attentionSinks) required(a.sinks, `${p}.attention.sinks`, [c.numHeads], c);
  if (c.routerBias) required(l.moe.routerBias, `${p}.moe.routerBias`, [c.moe.numExperts], c);
  if (c.qkNorm !== 'none') {
    required(a.qNorm, `${p}.attention.qNorm`, [c.qkNorm === 'per-head' ? c.headDim : qw], c);
    required(a.kNorm, `${p}.attention.kNorm`, [c.qkNorm === 'per-head' ? c.headDim : kvw], c);
  }
}

/** Checks the embedding, final norm and LM head against the config. */
export function validateOuterWeights(c: ModelConfig, w: Pick<ModelWeights, 'embed' | 'finalNorm' | 'lmHead'>): void {
  const d = c.hiddenSize;
  required(w.embed, 'weights.embed', [c.vocabSize, d], c);
  required(w.finalNorm, 'weights.finalNorm', [d], c);
  required(w.lmHead, 'weights.lmHead', [c.vocabSize, d], c);
}

/**
 * Checks every non-MoE tensor against the config (core's MoELayer checks the MoE ones), so
 * hand-built weights fail with the tensor named instead of in a kernel or at the first forward.
 */
export function validateModelWeights(c: ModelConfig, w: ModelWeights): void {
  if (w.layers.length !== c.numLayers) throw new ShapeError(`weights have ${w.layers.length} layers, config.num_hidden_layers is ${c.numLayers}`);
  validateOuterWeights(c, w);
  w.layers.forEach((l, i) => validateLayerWeights(c, l, i));
}
