/**
 * Shared pieces of routing rules: softmax over a row, and top-k selection where ties go to the
 * lower expert id (everywhere, so every backend and the reference pick the same experts).
 */
import { RouterError } from '../errors.js';
import type { Logits } from '../router.js';

/** Softmax of `row` (length n at `offset`) into `out`, in float64. */
export function softmaxRow(logits: Logits, offset: number, n: number, out: Float64Array): Float64Array {
  let max = -Infinity;
  for (let j = 0; j < n; j++) if (logits[offset + j] > max) max = logits[offset + j];
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const v = Math.exp(logits[offset + j] - max);
    out[j] = v;
    sum += v;
  }
  for (let j = 0; j < n; j++) out[j] /= sum;
  return out;
}

/**
 * Indices of the k largest of `scores[offset .. offset+n)`, best first; equal scores keep the
 * lower index first. -Infinity entries can be chosen only when fewer than k are finite; NaN
 * is a RouterError.
 * Runs in O(n k), which beats sorting for the small k of MoE routing.
 */
export function topKIndices(scores: ArrayLike<number>, offset: number, n: number, k: number, out: Int32Array = new Int32Array(k)): Int32Array {
  let count = 0;
  for (let j = 0; j < n; j++) {
    const v = scores[offset + j];
    if (Number.isNaN(v)) throw new RouterError(`routing score for expert ${j} (row offset ${offset}) is NaN`);
    // Find the insertion point: strictly greater beats; equal keeps the earlier (lower id) first.
    let pos = count;
    while (pos > 0 && v > scores[offset + out[pos - 1]]) pos--;
    if (pos >= k) continue;
    const end = Math.min(count, k - 1);
    for (let m = end; m > pos; m--) out[m] = out[m - 1];
    out[pos] = j;
    if (count < k) count++;
  }
  return out;
}
