/**
 * The attention graph: grouped-query attention written as MatMul and Softmax over a KV cache
 * prefix that is a view of the cache's own buffer (no copy).
 *
 * Shapes (S new rows, G = numHeads / numKvHeads query heads per KV head, T keys: the prefix of
 * the cache a run reads, a multiple of {@link KEY_BLOCK}):
 * - `q` `[S, Hkv, G * Dk]` (the caller's `[S, H * Dk]` rows as they are) is transposed to
 *   `[Hkv, S * G, Dk]`: each KV head's whole query group in one matrix, so each key is read once
 *   per KV head, not once per query head;
 * - `keys` `[T, Hkv, Dk]` and `values` `[T, Hkv, Dv]` are the cache's position-major rows;
 *   `com.microsoft.FusedMatMul` with `transBatchB` reads them as `[Hkv, T, D]` (and `transB`
 *   as `[Hkv, Dk, T]` for the scores), `alpha` is the scale;
 * - the mask: key j of row r is visible when `lo[r] <= j <= qpos[r]` (`qpos` `[S * G, 1]`, its
 *   position; `lo` the window's first key or 0), from `kpos` `[T]` = 0 .. T-1; hidden scores
 *   become -inf (Where, not Add: stale rows past the length never reach the sum);
 * - sinks: a first column `[Hkv, S * G, 1]` before the scores joins the softmax and is sliced
 *   off after it, so it adds to the denominator only;
 * - out `[Hkv, S * G, Dv]` transposed back to `[S, Hkv, G * Dv]` = `[S, H * Dv]`.
 */
import { OnnxGraphBuilder } from './onnx-graph.js';

/**
 * Keys a run reads are rounded up to a multiple of this (the masked tail adds exact zeros), so
 * a row's sums see the same blocking whatever chunk it came in. Measured with random chunkings
 * (onnxruntime 1.30, 2 threads): at multiples of 64 keys, head sizes 192 .. 576 were not
 * bit-exact; at 128, head sizes 512 and 576 (one KV head) were not; at 256 every one tried
 * (1 .. 576, with the thread rule of `attentionThreads`) was.
 */
export const KEY_BLOCK = 256;

/** What one attention session is specialised for. */
export interface MatMulAttentionKey {
  readonly numKvHeads: number;
  /** Query heads per KV head. */
  readonly group: number;
  readonly keyDim: number;
  readonly valueDim: number;
  /** Float32 value of the layer's scale. */
  readonly scale: number;
  /** Whether the graph takes a sink column. */
  readonly sinks: boolean;
  /** The cache's element type: float16 rows are cast to float32 (exactly) before any product. */
  readonly cache: 'float32' | 'float16';
}

/** Input and output names of the attention graph. */
export const MM = {
  q: 'q',
  keys: 'keys',
  values: 'values',
  qpos: 'qpos',
  lo: 'lo',
  kpos: 'kpos',
  sinks: 'sinks',
  out: 'out',
} as const;

/** A stable string for caching sessions by key. */
export function matmulAttentionId(key: MatMulAttentionKey): string {
  return `${key.numKvHeads}x${key.group} heads, keys ${key.keyDim} / values ${key.valueDim}, scale ${key.scale}, sinks ${key.sinks}, ${key.cache} cache`;
}

function int64s(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

/** Serialises the attention model for `key`. */
export function buildMatMulAttentionGraph(key: MatMulAttentionKey): Uint8Array {
  const { numKvHeads: kvh, group: g, keyDim: dk, valueDim: dv } = key;
  const b = new OnnxGraphBuilder('grouped_query_attention');
  b.input(MM.q, 'float32', ['rows', kvh, g * dk]);
  b.input(MM.keys, key.cache, ['keys', kvh, dk]);
  b.input(MM.values, key.cache, ['keys', kvh, dv]);
  // Every float16 value is exact in float32: the products below see the stored values.
  const [keys, values] = key.cache === 'float32' ? [MM.keys, MM.values] : ['keys_f32', 'values_f32'];
  if (key.cache === 'float16') {
    b.node('Cast', [MM.keys], [keys], { to: { i: 1 } });
    b.node('Cast', [MM.values], [values], { to: { i: 1 } });
  }
  b.input(MM.qpos, 'int64', ['queries', 1]);
  b.input(MM.lo, 'int64', ['queries', 1]);
  b.input(MM.kpos, 'int64', ['keys']);
  b.initializer('q_shape', { type: 'int64', dims: [3], data: int64s([kvh, -1, dk]) });
  b.initializer('out_shape', { type: 'int64', dims: [3], data: int64s([kvh, -1, g * dv]) });
  b.initializer('minus_inf', { type: 'float32', dims: [], data: Float32Array.of(-Infinity) });
  // Queries of one KV head together: [S, Hkv, G*Dk] -> [Hkv, S, G*Dk] -> [Hkv, S*G, Dk].
  b.node('Transpose', [MM.q], ['q_t'], { perm: { ints: [1, 0, 2] } });
  b.node('Reshape', ['q_t', 'q_shape'], ['q_grouped']);
  b.node('FusedMatMul', ['q_grouped', keys], ['scores'], { alpha: { f: key.scale }, transB: { i: 1 }, transBatchB: { i: 1 } }, 'com.microsoft');
  // Visible keys: lo <= j <= qpos.
  b.node('Greater', [MM.kpos, MM.qpos], ['after']);
  b.node('Less', [MM.kpos, MM.lo], ['before']);
  b.node('Or', ['after', 'before'], ['hidden']);
  b.node('Where', ['hidden', 'minus_inf', 'scores'], ['masked']);
  const probs = 'probs';
  if (key.sinks) {
    b.input(MM.sinks, 'float32', [kvh, 'queries', 1]);
    b.initializer('one', { type: 'int64', dims: [1], data: int64s([1]) });
    b.initializer('end', { type: 'int64', dims: [1], data: int64s([2 ** 53 - 1]) });
    b.initializer('last_axis', { type: 'int64', dims: [1], data: int64s([-1]) });
    // The sink first: every score keeps its place in the row whatever the row's length.
    b.node('Concat', [MM.sinks, 'masked'], ['with_sink'], { axis: { i: -1 } });
    b.node('Softmax', ['with_sink'], ['probs_with_sink'], { axis: { i: -1 } });
    b.node('Slice', ['probs_with_sink', 'one', 'end', 'last_axis'], [probs]);
  } else {
    b.node('Softmax', ['masked'], [probs], { axis: { i: -1 } });
  }
  b.node('FusedMatMul', [probs, values], ['weighted'], { transBatchB: { i: 1 } }, 'com.microsoft');
  // [Hkv, S*G, Dv] -> [Hkv, S, G*Dv] -> [S, Hkv, G*Dv].
  b.node('Reshape', ['weighted', 'out_shape'], ['weighted_rows']);
  b.node('Transpose', ['weighted_rows'], [MM.out], { perm: { ints: [1, 0, 2] } });
  b.output(MM.out, 'float32', ['rows', kvh, g * dv]);
  return b.toModel();
}
