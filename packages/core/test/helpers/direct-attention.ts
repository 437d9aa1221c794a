/**
 * The attention formula written out directly for tests: for every query row, every visible key
 * scored, a two-pass softmax in float64 (true maximum, then the sum) with the sink in the
 * denominator, the weighted sum of values. Shares no code with the host implementation.
 */
import { createRng, randomNormal } from '../../src/index.js';

export interface DirectCase {
  readonly n: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
}

/** Seeded q/k/v for `n` positions; queries scaled so the scores spread over a few units. */
export function directCase(seed: number, n: number, numHeads: number, numKvHeads: number, keyDim: number, valueDim = keyDim): DirectCase {
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

/** `[n, numHeads * valueDim]` in float64: attention of every position over positions 0..p (or its window). */
export function directAttention(c: DirectCase, scale: number, window?: number, sinks?: Float32Array): Float64Array {
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
