/**
 * The attention checks every implementation runs (core's host attention and each backend's
 * own `attend`): the attention formula written out directly in float64 (it shares no code
 * with the host implementation), seeded cases, and the measurements a test asserts on: error
 * against the formula, chunked prefill against one call, batched segments against each alone,
 * a copied prefix against the original sequence. Each returns what it measured; the test
 * states the bound.
 */
import type { AttentionOps } from '../attention/attention-ops.js';
import type { AttentionLayerSpec } from '../attention/attention-call.js';
import type { KvCache, KvCacheFormat, KvCacheSpec } from '../attention/kv-cache.js';
import { compareOutputs } from '../cross-validate.js';
import { createRng, randomNormal } from '../rng.js';

/** Seeded queries, keys and values of `n` positions. */
export interface AttentionCase {
  readonly n: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  /** `[n, numHeads * keyDim]` */
  readonly q: Float32Array;
  /** `[n, numKvHeads * keyDim]` */
  readonly k: Float32Array;
  /** `[n, numKvHeads * valueDim]` */
  readonly v: Float32Array;
}

/** Seeded q/k/v for `n` positions; queries of std 2 so the scores spread over a few units. */
export function attentionCase(seed: number, n: number, numHeads: number, numKvHeads: number, keyDim: number, valueDim = keyDim): AttentionCase {
  const rng = createRng(seed);
  return {
    n,
    numHeads,
    numKvHeads,
    keyDim,
    valueDim,
    q: randomNormal(rng, n * numHeads * keyDim, 2),
    k: randomNormal(rng, n * numKvHeads * keyDim, 1),
    v: randomNormal(rng, n * numKvHeads * valueDim, 1),
  };
}

/**
 * `[n, numHeads * valueDim]` in float64: attention of every position over positions 0..p (or
 * its window): every visible key scored, a two-pass softmax (true maximum, then the sum) with
 * the sink in the denominator, the weighted sum of values.
 */
export function directAttention(c: AttentionCase, scale: number, window?: number, sinks?: Float32Array): Float64Array {
  const { n, numHeads: h, numKvHeads: kvh, keyDim: dk, valueDim: dv } = c;
  const group = h / kvh;
  const out = new Float64Array(n * h * dv);
  for (let p = 0; p < n; p++) {
    const lo = window ? Math.max(0, p - window + 1) : 0;
    for (let head = 0; head < h; head++) {
      const kv = Math.floor(head / group);
      const scores: number[] = [];
      for (let j = lo; j <= p; j++) {
        let s = 0;
        for (let x = 0; x < dk; x++) s += c.q[(p * h + head) * dk + x] * c.k[(j * kvh + kv) * dk + x];
        scores.push(s * scale);
      }
      const sink = sinks ? sinks[head] : -Infinity;
      const max = Math.max(sink, ...scores);
      const weights = scores.map((s) => Math.exp(s - max));
      const den = weights.reduce((a, b) => a + b, 0) + Math.exp(sink - max);
      for (let j = lo; j <= p; j++) {
        const w = weights[j - lo] / den;
        for (let x = 0; x < dv; x++) out[(p * h + head) * dv + x] += w * c.v[(j * kvh + kv) * dv + x];
      }
    }
  }
  return out;
}

/** Rows `from .. from+count-1` of a row-major array of rows of `width`. */
export function rowsOf(a: Float32Array, width: number, from: number, count: number): Float32Array {
  return a.subarray(from * width, (from + count) * width);
}

/** True when two float32 arrays hold the same bits. */
export function bitwiseEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** A one-layer cache spec for a case. */
export function caseCacheSpec(c: AttentionCase, format: KvCacheFormat, capacity = c.n, numLayers = 1): KvCacheSpec {
  return { numLayers, numKvHeads: c.numKvHeads, keyDim: c.keyDim, valueDim: c.valueDim, capacity, format };
}

/** The case's layer spec: scale 1/sqrt(keyDim), plus any window or sinks. */
export function caseLayerSpec(c: AttentionCase, extra: Partial<AttentionLayerSpec> = {}): AttentionLayerSpec {
  return { numHeads: c.numHeads, scale: 1 / Math.sqrt(c.keyDim), ...extra };
}

/** Attends positions `from .. from+rows-1` of the case into a one-layer cache; their outputs. */
export function feedRows(ops: AttentionOps, cache: KvCache, c: AttentionCase, from: number, rows: number, spec: AttentionLayerSpec): Promise<Float32Array> {
  return ops.attend(
    0,
    spec,
    [{ cache, position: from, rows }],
    rowsOf(c.q, c.numHeads * c.keyDim, from, rows),
    rowsOf(c.k, c.numKvHeads * c.keyDim, from, rows),
    rowsOf(c.v, c.numKvHeads * c.valueDim, from, rows),
  );
}

/** Attends the case from position 0 in calls of the given sizes (summing to at most c.n); all outputs. */
export async function feedChunks(ops: AttentionOps, cache: KvCache, c: AttentionCase, chunks: readonly number[], spec: AttentionLayerSpec): Promise<Float32Array> {
  const total = chunks.reduce((a, b) => a + b, 0);
  const out = new Float32Array(total * c.numHeads * c.valueDim);
  let at = 0;
  for (const rows of chunks) {
    out.set(await feedRows(ops, cache, c, at, rows, spec), at * c.numHeads * c.valueDim);
    at += rows;
  }
  return out;
}

/** rel-L2 of `ops`' attention over the whole case in one call (a fresh cache of `format`) against {@link directAttention}. */
export async function attentionError(ops: AttentionOps, c: AttentionCase, format: KvCacheFormat, extra: Partial<AttentionLayerSpec> = {}): Promise<number> {
  const cache = ops.createKvCache(caseCacheSpec(c, format));
  try {
    const out = await feedRows(ops, cache, c, 0, c.n, caseLayerSpec(c, extra));
    return compareOutputs(out, directAttention(c, 1 / Math.sqrt(c.keyDim), extra.window, extra.sinks)).relL2;
  } finally {
    cache.dispose();
  }
}

/**
 * The worst error against the direct formula (as {@link attentionError}) over grouped-query
 * layouts every backend must take: 12 query heads over 2 KV heads, 3 over 1 and 4 over 4, each
 * causal and with a window of 20 (131 positions, head size 32, float32 cache).
 */
export async function headGroupingError(ops: AttentionOps): Promise<number> {
  let worst = 0;
  for (const [heads, kvHeads] of [[12, 2], [3, 1], [4, 4]] as const) {
    const c = attentionCase(8 + heads, 131, heads, kvHeads, 32);
    for (const extra of [{}, { window: 20 }]) worst = Math.max(worst, await attentionError(ops, c, 'float32', extra));
  }
  return worst;
}

/**
 * Whether a window of 1 returns every query its own position's value row, bit for bit (each
 * query then attends to one key only, whose softmax weight is exactly 1): 70 positions, 4 query
 * heads over 2 KV heads of 32, float32 cache.
 */
export async function windowOfOneIsIdentity(ops: AttentionOps): Promise<boolean> {
  const c = attentionCase(9, 70, 4, 2, 32);
  const cache = ops.createKvCache(caseCacheSpec(c, 'float32'));
  try {
    const out = await feedRows(ops, cache, c, 0, c.n, caseLayerSpec(c, { window: 1 }));
    for (let p = 0; p < c.n; p++) {
      for (let h = 0; h < 4; h++) {
        const kv = Math.floor(h / 2);
        if (!bitwiseEqual(out.subarray((p * 4 + h) * 32, (p * 4 + h + 1) * 32), c.v.subarray((p * 2 + kv) * 32, (p * 2 + kv + 1) * 32))) return false;
      }
    }
    return true;
  } finally {
    cache.dispose();
  }
}

/** Whether the case attended in calls of `chunks` rows gives the bits of one call over them all. */
export async function chunkingIsExact(ops: AttentionOps, c: AttentionCase, format: KvCacheFormat, chunks: readonly number[], extra: Partial<AttentionLayerSpec> = {}): Promise<boolean> {
  const total = chunks.reduce((a, b) => a + b, 0);
  const spec = caseLayerSpec(c, extra);
  const a = ops.createKvCache(caseCacheSpec(c, format));
  const b = ops.createKvCache(caseCacheSpec(c, format));
  try {
    return bitwiseEqual(await feedChunks(ops, a, c, [total], spec), await feedChunks(ops, b, c, chunks, spec));
  } finally {
    a.dispose();
    b.dispose();
  }
}

/**
 * Whether one call over several sequences (each after a prefill of its own length, the
 * segments a mix of decode rows and prefill chunks at their own positions) gives each the
 * bits it gets alone. `prefix[i]` rows are attended first, then `rows[i]` in the shared call.
 */
export async function batchingIsExact(ops: AttentionOps, cases: readonly AttentionCase[], format: KvCacheFormat, prefix: readonly number[], rows: readonly number[], extra: Partial<AttentionLayerSpec> = {}): Promise<boolean> {
  const spec = caseLayerSpec(cases[0], extra);
  const caches: KvCache[] = [];
  const make = (c: AttentionCase): KvCache => {
    const cache = ops.createKvCache(caseCacheSpec(c, format));
    caches.push(cache);
    return cache;
  };
  try {
    const alone: Float32Array[] = [];
    for (let i = 0; i < cases.length; i++) {
      const cache = make(cases[i]);
      await feedRows(ops, cache, cases[i], 0, prefix[i], spec);
      alone.push(await feedRows(ops, cache, cases[i], prefix[i], rows[i], spec));
    }
    const shared = cases.map(make);
    for (let i = 0; i < cases.length; i++) await feedRows(ops, shared[i], cases[i], 0, prefix[i], spec);
    const c0 = cases[0];
    const pick = (key: 'q' | 'k' | 'v', width: number): Float32Array => {
      const parts = cases.map((c, i) => rowsOf(c[key], width, prefix[i], rows[i]));
      const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      return all;
    };
    const out = await ops.attend(
      0,
      spec,
      cases.map((_, i) => ({ cache: shared[i], position: prefix[i], rows: rows[i] })),
      pick('q', c0.numHeads * c0.keyDim),
      pick('k', c0.numKvHeads * c0.keyDim),
      pick('v', c0.numKvHeads * c0.valueDim),
    );
    const ow = c0.numHeads * c0.valueDim;
    let row = 0;
    return alone.every((a, i) => {
      const same = bitwiseEqual(out.subarray(row * ow, (row + rows[i]) * ow), a);
      row += rows[i];
      return same;
    });
  } finally {
    for (const cache of caches) cache.dispose();
  }
}

/**
 * Whether a sequence continued from a prefix copied out of another cache (`copied` of the
 * `fed` positions the source holds) gives the bits of the original sequence from there on.
 */
export async function prefixCopyIsExact(ops: AttentionOps, c: AttentionCase, format: KvCacheFormat, fed: number, copied: number, extra: Partial<AttentionLayerSpec> = {}): Promise<boolean> {
  const spec = caseLayerSpec(c, extra);
  const original = ops.createKvCache(caseCacheSpec(c, format));
  const src = ops.createKvCache(caseCacheSpec(c, format, fed + 3));
  const dst = ops.createKvCache(caseCacheSpec(c, format, c.n + 17));
  try {
    const whole = await feedChunks(ops, original, c, [fed, c.n - fed], spec);
    await feedRows(ops, src, c, 0, fed, spec);
    await ops.copyKvPrefix(src, dst, copied);
    if (dst.length !== copied || src.length !== fed) return false;
    const ow = c.numHeads * c.valueDim;
    return bitwiseEqual(await feedRows(ops, dst, c, copied, c.n - copied, spec), rowsOf(whole, ow, copied, c.n - copied));
  } finally {
    for (const cache of [original, src, dst]) cache.dispose();
  }
}
