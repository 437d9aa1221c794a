/** The weights of a decoder-only MoE model, in Hugging Face layout (`[out, in]` projections). */
import type { HostTensor, MoEWeights } from '@moe-runtime/core';

/** Self-attention weights of one layer. */
export interface AttentionWeights {
  /** `[H * hd, D]` */
  readonly q: HostTensor;
  /** `[KV * hd, D]` */
  readonly k: HostTensor;
  /** `[KV * hd, D]` */
  readonly v: HostTensor;
  /** `[D, H * hd]` */
  readonly o: HostTensor;
  readonly qBias?: HostTensor;
  readonly kBias?: HostTensor;
  readonly vBias?: HostTensor;
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
    add(l.moe.sharedGate);
    for (const t of Object.values(l.moe.routerParams ?? {})) add(t);
    for (const e of [...l.moe.experts, ...(l.moe.shared ?? [])]) for (const t of Object.values(e)) add(t);
  }
  return bytes;
}
