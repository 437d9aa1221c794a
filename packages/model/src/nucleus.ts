/**
 * The tokens sampling draws from, found in O(V): top-p (nucleus) by selection rather than by
 * sorting the vocabulary. The order of tokens is "larger weight first, lower id first on ties",
 * the order a full sort gave, so the nucleus is the same set a sort would keep (up to the
 * rounding of summing the same weights in another order).
 */

/** `a` comes before `b`: larger weight first, the lower id on ties (a strict total order). */
function before(w: Float64Array, a: number, b: number): boolean {
  return w[a] > w[b] || (w[a] === w[b] && a < b);
}

/** Sorts `ids[lo, hi)` best first (insertion sort: only used on short ranges). */
function sortRange(ids: Int32Array, w: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i < hi; i++) {
    const x = ids[i];
    let j = i - 1;
    while (j >= lo && before(w, x, ids[j])) {
      ids[j + 1] = ids[j];
      j--;
    }
    ids[j + 1] = x;
  }
}

/** The index (into `ids`) of the median of three candidates, a pivot that avoids sorted-input worst cases. */
function medianOfThree(ids: Int32Array, w: Float64Array, i: number, j: number, k: number): number {
  const [a, b, c] = [ids[i], ids[j], ids[k]];
  if (before(w, a, b)) {
    if (before(w, b, c)) return j;
    return before(w, a, c) ? k : i;
  }
  if (before(w, a, c)) return i;
  return before(w, b, c) ? k : j;
}

const SHORT = 16;

/**
 * Reorders `ids[0, n)` so that `ids[0, cut)` holds the smallest best-first prefix whose weights
 * sum to `need` or more (in no particular order) and returns `cut`. Expected O(n): each round
 * partitions the remaining range around a pivot and keeps only the side the cut lies in.
 * When rounding keeps the running sum just under `need`, the cut is the whole range, as a
 * sequential sum would give.
 */
export function nucleusPrefix(ids: Int32Array, n: number, w: Float64Array, need: number): number {
  let lo = 0;
  let hi = n;
  let acc = 0; // weight of ids[0, lo), all of which are in the nucleus
  while (hi - lo > SHORT) {
    const p = medianOfThree(ids, w, lo, (lo + hi) >>> 1, hi - 1);
    const pivot = ids[p];
    ids[p] = ids[hi - 1];
    ids[hi - 1] = pivot;
    let store = lo;
    let upper = 0;
    for (let i = lo; i < hi - 1; i++) {
      const x = ids[i];
      if (before(w, x, pivot)) {
        ids[i] = ids[store];
        ids[store++] = x;
        upper += w[x];
      }
    }
    ids[hi - 1] = ids[store];
    ids[store] = pivot;
    // ids[lo, store) come before the pivot, ids(store, hi) after it.
    if (acc + upper >= need) {
      hi = store;
      continue;
    }
    acc += upper + w[pivot];
    if (acc >= need) return store + 1;
    lo = store + 1;
  }
  sortRange(ids, w, lo, hi);
  for (let j = lo; j < hi; j++) {
    acc += w[ids[j]];
    if (acc >= need) return j + 1;
  }
  return hi;
}
