/**
 * Attention on the host: the reference every backend kernel is checked against, and the
 * fallback where a backend has no `attend`. Causal grouped-query attention in float64 with an
 * online softmax over tiles of keys (flash-attention style: no T x T score matrix, a running
 * maximum and sum per query row and head).
 *
 * Tiles are aligned to absolute positions (0-63, 64-127, ...), and a query row only ever visits
 * the tiles its own causal (and window) range covers, in ascending order, with state of its own.
 * So a row's arithmetic does not depend on how the prompt was chunked nor on which sequences
 * share the call: results are bit-identical across chunkings and batchings.
 */
import { BackendError } from '../errors.js';
import { checkAttendCall, checkCopyKvPrefix, type AttentionLayerSpec, type AttentionSegment } from './attention-call.js';
import { HostKvCache } from './host-kv-cache.js';
import type { KvCache, KvCacheSpec } from './kv-cache.js';
import { checkStorable } from './kv-row-store.js';

/** Keys per tile of the online softmax. */
export const HOST_ATTENTION_TILE = 64;

function hostCache(cache: KvCache, what: string): HostKvCache {
  if (!(cache instanceof HostKvCache)) throw new BackendError(`${what} was not created by the host attention (createHostKvCache); a cache belongs to the backend that made it`);
  return cache;
}

/** Allocates a host KV cache for `spec` (ConfigError naming the field for a bad spec). */
export function createHostKvCache(spec: KvCacheSpec): HostKvCache {
  return new HostKvCache(spec);
}

/** Running softmax state of the rows of one segment, per (row, query head). */
interface RowState {
  readonly max: Float64Array;
  readonly sum: Float64Array;
  readonly acc: Float64Array;
  /** The queries in float64, `[rows, H, keyDim]`. */
  readonly q: Float64Array;
}

function newState(q: Float32Array, row0: number, rows: number, heads: number, keyDim: number, valueDim: number): RowState {
  const n = rows * heads;
  return {
    max: new Float64Array(n).fill(-Infinity),
    sum: new Float64Array(n),
    acc: new Float64Array(n * valueDim),
    q: Float64Array.from(q.subarray(row0 * heads * keyDim, (row0 + rows) * heads * keyDim)),
  };
}

/** Scores of query state `si` against keys lo..hi-1 of a tile starting at t0; returns their maximum. */
function tileScores(st: RowState, si: number, keyDim: number, keys: Float32Array, kOff: number, t0: number, lo: number, hi: number, scale: number, scores: Float64Array): number {
  const qo = si * keyDim;
  let max = -Infinity;
  for (let j = lo; j < hi; j++) {
    const ko = kOff + (j - t0) * keyDim;
    let dot = 0;
    for (let c = 0; c < keyDim; c++) dot += st.q[qo + c] * keys[ko + c];
    const s = dot * scale;
    scores[j - lo] = s;
    if (s > max) max = s;
  }
  return max;
}

/** Folds the scored keys lo..hi-1 into state `si` (rescaling what it held to the new maximum). */
function accumulate(st: RowState, si: number, valueDim: number, values: Float32Array, vOff: number, t0: number, lo: number, hi: number, tileMax: number, scores: Float64Array): void {
  const m = Math.max(st.max[si], tileMax);
  const ao = si * valueDim;
  const corr = Math.exp(st.max[si] - m);
  if (corr !== 1) {
    st.sum[si] *= corr;
    for (let c = 0; c < valueDim; c++) st.acc[ao + c] *= corr;
  }
  st.max[si] = m;
  let sum = st.sum[si];
  for (let j = lo; j < hi; j++) {
    const w = Math.exp(scores[j - lo] - m);
    sum += w;
    const vo = vOff + (j - t0) * valueDim;
    for (let c = 0; c < valueDim; c++) st.acc[ao + c] += w * values[vo + c];
  }
  st.sum[si] = sum;
}

/** Visits every tile of every KV head that the segment's rows see, folding it into their states. */
function scanTiles(cache: HostKvCache, layer: number, spec: AttentionLayerSpec, seg: AttentionSegment, st: RowState): void {
  const { numKvHeads, keyDim, valueDim } = cache.spec;
  const group = spec.numHeads / numKvHeads;
  const T = HOST_ATTENTION_TILE;
  const last = seg.position + seg.rows - 1;
  const first = spec.window ? Math.max(0, seg.position - spec.window + 1) : 0;
  const scores = new Float64Array(T);
  for (let kvh = 0; kvh < numKvHeads; kvh++) {
    for (let t0 = Math.floor(first / T) * T; t0 <= last; t0 += T) {
      const t1 = Math.min(t0 + T, last + 1);
      const keys = cache.keyTile(layer, kvh, t0, t1 - t0);
      const values = cache.valueTile(layer, kvh, t0, t1 - t0);
      for (let i = 0; i < seg.rows; i++) {
        const p = seg.position + i;
        const lo = spec.window ? Math.max(t0, p - spec.window + 1) : t0;
        const hi = Math.min(t1, p + 1);
        if (lo >= hi) continue;
        for (let g = 0; g < group; g++) {
          const si = i * spec.numHeads + kvh * group + g;
          const tileMax = tileScores(st, si, keyDim, keys.data, keys.offset, t0, lo, hi, spec.scale, scores);
          accumulate(st, si, valueDim, values.data, values.offset, t0, lo, hi, tileMax, scores);
        }
      }
    }
  }
}

/** Normalises the states into `out` rows from `row0`; a sink joins the denominator only. */
function finish(st: RowState, spec: AttentionLayerSpec, rows: number, valueDim: number, out: Float32Array, row0: number): void {
  const h = spec.numHeads;
  for (let i = 0; i < rows; i++) {
    for (let head = 0; head < h; head++) {
      const si = i * h + head;
      const m = st.max[si];
      const sink = spec.sinks ? spec.sinks[head] : -Infinity;
      const top = Math.max(m, sink);
      const keep = Math.exp(m - top);
      const den = st.sum[si] * keep + (spec.sinks ? Math.exp(sink - top) : 0);
      const f = keep / den;
      const o = (row0 + i) * h * valueDim + head * valueDim;
      for (let c = 0; c < valueDim; c++) out[o + c] = st.acc[si * valueDim + c] * f;
    }
  }
}

/**
 * The host implementation of `Backend.attend` (see there for the contract): writes every
 * segment's new keys and values into its host cache, then computes each segment's causal
 * grouped-query attention in float64. Returns `[totalRows, numHeads * valueDim]`.
 */
export function hostAttend(layer: number, spec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Float32Array {
  const shape = checkAttendCall(layer, spec, segments, q, k, v);
  const { numKvHeads, keyDim, valueDim, format } = shape.cache;
  const caches = segments.map((s, i) => hostCache(s.cache, `attend: segments[${i}].cache`));
  checkStorable(format, k, 'attend: k', numKvHeads * keyDim);
  checkStorable(format, v, 'attend: v', numKvHeads * valueDim);
  // Every segment's rows are written before any is read, so a row attends to the stored
  // (possibly rounded) form of its own key, exactly as a later call would see it.
  let row = 0;
  segments.forEach((s, i) => {
    caches[i].write(layer, s.position, s.rows, k, v, row);
    row += s.rows;
  });
  const out = new Float32Array(shape.totalRows * spec.numHeads * valueDim);
  row = 0;
  segments.forEach((s, i) => {
    const st = newState(q, row, s.rows, spec.numHeads, keyDim, valueDim);
    scanTiles(caches[i], layer, spec, s, st);
    finish(st, spec, s.rows, valueDim, out, row);
    row += s.rows;
  });
  segments.forEach((s, i) => caches[i].commit(layer, s.position + s.rows));
  return out;
}

/** The host implementation of `Backend.copyKvPrefix`. */
export function hostCopyKvPrefix(src: KvCache, dst: KvCache, positions: number): void {
  const from = hostCache(src, 'copyKvPrefix: the source');
  const to = hostCache(dst, 'copyKvPrefix: the destination');
  checkCopyKvPrefix(from, to, positions);
  from.copyPrefixTo(to, positions);
}
