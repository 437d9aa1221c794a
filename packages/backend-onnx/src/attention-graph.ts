/**
 * The attention graph: one `com.microsoft.GroupQueryAttention` node (onnxruntime 1.30, CPU
 * kernel, float32) over a KV cache that is both its `past_*` input and its `present_*` output.
 *
 * Layout the CPU kernel reads (onnxruntime/contrib_ops/cpu/bert/group_query_attention.cc,
 * gqa_attention_base.h, checked against core's float64 formula by test/attention.test.ts):
 * - `query` `[1, S, H * D]`, `key` / `value` `[1, S, Hkv * D]` (one head size for keys and
 *   values: a cache with keyDim != valueDim cannot run here);
 * - `past_key` / `past_value` `[1, Hkv, capacity, D]` (BNSH). When the same buffer is bound as
 *   `present_*` the kernel writes the new rows in place at positions `seqlens_k + 1 - S ..` and
 *   copies nothing else, so the cache stays one onnxruntime tensor for the session's lifetime;
 * - `seqlens_k` `[1]` int32 = position + S - 1, `total_sequence_length` scalar int32 =
 *   position + S: the new rows sit at `position`, a smaller position rewrites from there;
 * - `local_window_size` is the number of keys a query sees, its own included: the contract's
 *   window as it is (-1: none; measured: `w - 1` drops the window's oldest key); `scale`
 *   multiplies q.k;
 * - `head_sink` `[H]` (input 11) joins each head's softmax denominator only, as gpt-oss's sinks.
 */
import { OnnxGraphBuilder } from './onnx-graph.js';

/** What one attention session is specialised for (everything that is an attribute or a fixed dim). */
export interface AttentionGraphKey {
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** Head size of queries, keys and values alike. */
  readonly headDim: number;
  /** Float32 value of the layer's scale. */
  readonly scale: number;
  /** The contract's window (keys a query sees, its own included), or undefined for none. */
  readonly window: number | undefined;
  /** Whether the graph takes a `head_sink` input. */
  readonly sinks: boolean;
}

/** Input and output names of the attention graph. */
export const ATTN = {
  query: 'query',
  key: 'key',
  value: 'value',
  pastKey: 'past_key',
  pastValue: 'past_value',
  seqlensK: 'seqlens_k',
  totalLength: 'total_sequence_length',
  sinks: 'head_sink',
  output: 'output',
  presentKey: 'present_key',
  presentValue: 'present_value',
} as const;

/** A stable string for caching sessions by key. */
export function attentionGraphId(key: AttentionGraphKey): string {
  return `${key.numHeads}/${key.numKvHeads}x${key.headDim} scale ${key.scale} window ${key.window ?? '-'} sinks ${key.sinks}`;
}

/** Serialises the one-node GroupQueryAttention model for `key`. */
export function buildAttentionGraph(key: AttentionGraphKey): Uint8Array {
  const { numHeads: h, numKvHeads: kvh, headDim: d } = key;
  const g = new OnnxGraphBuilder('group_query_attention');
  g.input(ATTN.query, 'float32', [1, 'rows', h * d]);
  g.input(ATTN.key, 'float32', [1, 'rows', kvh * d]);
  g.input(ATTN.value, 'float32', [1, 'rows', kvh * d]);
  // The capacity is symbolic: one session serves caches of every context length.
  g.input(ATTN.pastKey, 'float32', [1, kvh, 'capacity', d]);
  g.input(ATTN.pastValue, 'float32', [1, kvh, 'capacity', d]);
  g.input(ATTN.seqlensK, 'int32', [1]);
  g.input(ATTN.totalLength, 'int32', []);
  const inputs: string[] = [ATTN.query, ATTN.key, ATTN.value, ATTN.pastKey, ATTN.pastValue, ATTN.seqlensK, ATTN.totalLength];
  if (key.sinks) {
    g.input(ATTN.sinks, 'float32', [h]);
    // cos_cache, sin_cache, position_ids and attention_bias are absent.
    inputs.push('', '', '', '', ATTN.sinks);
  }
  g.node(
    'GroupQueryAttention',
    inputs,
    [ATTN.output, ATTN.presentKey, ATTN.presentValue],
    {
      num_heads: { i: h },
      kv_num_heads: { i: kvh },
      scale: { f: key.scale },
      local_window_size: { i: key.window === undefined ? -1 : key.window },
    },
    'com.microsoft',
  );
  g.output(ATTN.output, 'float32', [1, 'rows', h * d]);
  g.output(ATTN.presentKey, 'float32', [1, kvh, 'capacity', d]);
  g.output(ATTN.presentValue, 'float32', [1, kvh, 'capacity', d]);
  return g.toModel();
}
