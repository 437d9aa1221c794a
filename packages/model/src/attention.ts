/**
 * Grouped-query causal attention in plain loops, for the float64 reference decoder. The decoder
 * itself attends through core's attention API (`Backend.attend`, or core's host implementation),
 * so this stays an independent formula (two-pass softmax over a score row).
 */

/** Shape facts of the attention. */
export interface AttentionShape {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

/**
 * For `n` new queries `q` `[n, H*hd]` at positions `start .. start+n-1`, attends over cached
 * keys/values `[start+n, KV*hd]` (already holding the new tokens); writes `[n, H*hd]` to out.
 */
export function causalAttention(
  shape: AttentionShape,
  q: Float32Array | Float64Array,
  keys: Float32Array | Float64Array,
  values: Float32Array | Float64Array,
  start: number,
  n: number,
  out: Float32Array | Float64Array,
): void {
  const { numHeads: h, numKvHeads: kv, headDim: hd } = shape;
  const group = h / kv;
  const scale = 1 / Math.sqrt(hd);
  const kvWidth = kv * hd;
  const scores = new Float64Array(start + n);
  for (let i = 0; i < n; i++) {
    const len = start + i + 1; // causal: positions 0 .. start+i
    for (let head = 0; head < h; head++) {
      const qo = i * h * hd + head * hd;
      const ko = Math.floor(head / group) * hd;
      let max = -Infinity;
      for (let p = 0; p < len; p++) {
        let s = 0;
        const kp = p * kvWidth + ko;
        for (let c = 0; c < hd; c++) s += q[qo + c] * keys[kp + c];
        s *= scale;
        scores[p] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let p = 0; p < len; p++) {
        scores[p] = Math.exp(scores[p] - max);
        sum += scores[p];
      }
      for (let c = 0; c < hd; c++) out[qo + c] = 0;
      for (let p = 0; p < len; p++) {
        const w = scores[p] / sum;
        const vp = p * kvWidth + ko;
        for (let c = 0; c < hd; c++) out[qo + c] += w * values[vp + c];
      }
    }
  }
}
