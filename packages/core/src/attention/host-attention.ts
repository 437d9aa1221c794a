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

/**
 * Scores of query states `si .. si+heads-1` (heads of one KV group, their queries consecutive)
 * against keys lo..hi-1 of a tile starting at t0, into `scores[g * TILE + j - lo]`; their
 * maxima into `maxes`. Four heads go through one pass over each key row (the key read once, four
 * independent sums); each head's sum runs over c in order either way, so the result of a head
 * never depends on how many share the pass.
 */
function tileScores(st: RowState, si: number, heads: number, keyDim: number, keys: Float32Array, kOff: number, t0: number, lo: number, hi: number, scale: number, scores: Float64Array, maxes: Float64Array): void {
  const T = HOST_ATTENTION_TILE;
  const q = st.q;
  let g = 0;
  for (; g + 4 <= heads; g += 4) {
    const q0 = (si + g) * keyDim;
    const [q1, q2, q3] = [q0 + keyDim, q0 + 2 * keyDim, q0 + 3 * keyDim];
    let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity;
    let j = lo;
    // Two keys at a time: eight independent sums per pass over c.
    for (; j + 2 <= hi; j += 2) {
      const ka = kOff + (j - t0) * keyDim;
      const kb = ka + keyDim;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      for (let c = 0; c < keyDim; c++) {
        const x = keys[ka + c];
        const y = keys[kb + c];
        const u0 = q[q0 + c], u1 = q[q1 + c], u2 = q[q2 + c], u3 = q[q3 + c];
        a0 += u0 * x;
        a1 += u1 * x;
        a2 += u2 * x;
        a3 += u3 * x;
        b0 += u0 * y;
        b1 += u1 * y;
        b2 += u2 * y;
        b3 += u3 * y;
      }
      const at = j - lo;
      scores[g * T + at] = a0 * scale;
      scores[(g + 1) * T + at] = a1 * scale;
      scores[(g + 2) * T + at] = a2 * scale;
      scores[(g + 3) * T + at] = a3 * scale;
      scores[g * T + at + 1] = b0 * scale;
      scores[(g + 1) * T + at + 1] = b1 * scale;
      scores[(g + 2) * T + at + 1] = b2 * scale;
      scores[(g + 3) * T + at + 1] = b3 * scale;
      m0 = Math.max(m0, a0 * scale, b0 * scale);
      m1 = Math.max(m1, a1 * scale, b1 * scale);
      m2 = Math.max(m2, a2 * scale, b2 * scale);
      m3 = Math.max(m3, a3 * scale, b3 * scale);
    }
    for (; j < hi; j++) {
      const ko = kOff + (j - t0) * keyDim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let c = 0; c < keyDim; c++) {
        const kc = keys[ko + c];
        s0 += q[q0 + c] * kc;
        s1 += q[q1 + c] * kc;
        s2 += q[q2 + c] * kc;
        s3 += q[q3 + c] * kc;
      }
      const at = j - lo;
      scores[g * T + at] = s0 * scale;
      scores[(g + 1) * T + at] = s1 * scale;
      scores[(g + 2) * T + at] = s2 * scale;
      scores[(g + 3) * T + at] = s3 * scale;
      m0 = Math.max(m0, s0 * scale);
      m1 = Math.max(m1, s1 * scale);
      m2 = Math.max(m2, s2 * scale);
      m3 = Math.max(m3, s3 * scale);
    }
    [maxes[g], maxes[g + 1], maxes[g + 2], maxes[g + 3]] = [m0, m1, m2, m3];
  }
  for (; g < heads; g++) {
    const qo = (si + g) * keyDim;
    let max = -Infinity;
    for (let j = lo; j < hi; j++) {
      const ko = kOff + (j - t0) * keyDim;
      let dot = 0;
      for (let c = 0; c < keyDim; c++) dot += q[qo + c] * keys[ko + c];
      scores[g * T + j - lo] = dot * scale;
      max = Math.max(max, dot * scale);
    }
    maxes[g] = max;
  }
}

/**
 * Folds the scored keys lo..hi-1 into states `si .. si+heads-1`: each rescaled to its new
 * maximum, then its weights (into `scores`, in place) and the weighted value rows added, each
 * value row read once for every head of the group.
 */
function accumulate(st: RowState, si: number, heads: number, valueDim: number, values: Float32Array, vOff: number, t0: number, lo: number, hi: number, maxes: Float64Array, scores: Float64Array): void {
  const T = HOST_ATTENTION_TILE;
  const acc = st.acc;
  for (let g = 0; g < heads; g++) {
    const m = Math.max(st.max[si + g], maxes[g]);
    const corr = Math.exp(st.max[si + g] - m);
    if (corr !== 1) {
      st.sum[si + g] *= corr;
      const ao = (si + g) * valueDim;
      for (let c = 0; c < valueDim; c++) acc[ao + c] *= corr;
    }
    st.max[si + g] = m;
    let sum = st.sum[si + g];
    for (let j = 0; j < hi - lo; j++) {
      const w = Math.exp(scores[g * T + j] - m);
      scores[g * T + j] = w;
      sum += w;
    }
    st.sum[si + g] = sum;
  }
  let j = lo;
  // Two value rows at a time for four heads: each accumulator is read and written once per pair.
  for (; j + 2 <= hi && heads >= 4; j += 2) {
    const va = vOff + (j - t0) * valueDim;
    const vb = va + valueDim;
    const at = j - lo;
    for (let g = 0; g + 4 <= heads; g += 4) {
      const [w0, w1, w2, w3] = [scores[g * T + at], scores[(g + 1) * T + at], scores[(g + 2) * T + at], scores[(g + 3) * T + at]];
      const [x0, x1, x2, x3] = [scores[g * T + at + 1], scores[(g + 1) * T + at + 1], scores[(g + 2) * T + at + 1], scores[(g + 3) * T + at + 1]];
      const a0 = (si + g) * valueDim;
      const [a1, a2, a3] = [a0 + valueDim, a0 + 2 * valueDim, a0 + 3 * valueDim];
      for (let c = 0; c < valueDim; c++) {
        const x = values[va + c];
        const y = values[vb + c];
        acc[a0 + c] += w0 * x + x0 * y;
        acc[a1 + c] += w1 * x + x1 * y;
        acc[a2 + c] += w2 * x + x2 * y;
        acc[a3 + c] += w3 * x + x3 * y;
      }
    }
    for (let g = heads - (heads % 4); g < heads; g++) {
      const ao = (si + g) * valueDim;
      const [w, x] = [scores[g * T + at], scores[g * T + at + 1]];
      for (let c = 0; c < valueDim; c++) acc[ao + c] += w * values[va + c] + x * values[vb + c];
    }
  }
  for (; j < hi; j++) {
    const vo = vOff + (j - t0) * valueDim;
    const at = j - lo;
    let g = 0;
    for (; g + 4 <= heads; g += 4) {
      const [w0, w1, w2, w3] = [scores[g * T + at], scores[(g + 1) * T + at], scores[(g + 2) * T + at], scores[(g + 3) * T + at]];
      const a0 = (si + g) * valueDim;
      const [a1, a2, a3] = [a0 + valueDim, a0 + 2 * valueDim, a0 + 3 * valueDim];
      for (let c = 0; c < valueDim; c++) {
        const vc = values[vo + c];
        acc[a0 + c] += w0 * vc;
        acc[a1 + c] += w1 * vc;
        acc[a2 + c] += w2 * vc;
        acc[a3 + c] += w3 * vc;
      }
    }
    for (; g < heads; g++) {
      const w = scores[g * T + at];
      const ao = (si + g) * valueDim;
      for (let c = 0; c < valueDim; c++) acc[ao + c] += w * values[vo + c];
    }
  }
}

/** Visits every tile of every KV head that the segment's rows see, folding it into their states. */
function scanTiles(cache: HostKvCache, layer: number, spec: AttentionLayerSpec, seg: AttentionSegment, st: RowState): void {
  const { numKvHeads, keyDim, valueDim } = cache.spec;
  const group = spec.numHeads / numKvHeads;
  const T = HOST_ATTENTION_TILE;
  const last = seg.position + seg.rows - 1;
  const first = spec.window ? Math.max(0, seg.position - spec.window + 1) : 0;
  const scores = new Float64Array(group * T);
  const maxes = new Float64Array(group);
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
        const si = i * spec.numHeads + kvh * group;
        tileScores(st, si, group, keyDim, keys.data, keys.offset, t0, lo, hi, spec.scale, scores, maxes);
        accumulate(st, si, group, valueDim, values.data, values.offset, t0, lo, hi, maxes, scores);
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
