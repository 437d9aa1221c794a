import { describe, expect, it } from 'vitest';
import { createRng, RouterError, softmaxRow, topKIndices } from '../src/index.js';

/** Oracle: stable sort by score descending (equal scores keep the lower index first). */
function sortTopK(scores: number[], k: number): number[] {
  return scores
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

describe('topKIndices', () => {
  it('returns the k best, best first, and lets the lower expert id win ties', () => {
    expect(Array.from(topKIndices([1, 3, 3, 2], 0, 4, 2))).toEqual([1, 2]);
    expect(Array.from(topKIndices([1, 3, 3, 2], 0, 4, 1))).toEqual([1]);
    expect(Array.from(topKIndices([5, 5, 5, 5], 0, 4, 3))).toEqual([0, 1, 2]);
    expect(Array.from(topKIndices([0, 2, 1, 2], 0, 4, 2))).toEqual([1, 3]);
    expect(Array.from(topKIndices([2, 1, 3], 0, 3, 3))).toEqual([2, 0, 1]);
  });

  it('reads a row at an offset and reports indices relative to it', () => {
    expect(Array.from(topKIndices([9, 9, 0, 1, 1], 2, 3, 2))).toEqual([1, 2]);
  });

  it('chooses -Infinity only when fewer than k scores are finite', () => {
    expect(Array.from(topKIndices([-Infinity, -Infinity, 1], 0, 3, 2))).toEqual([2, 0]);
    expect(Array.from(topKIndices([-Infinity, 0, -Infinity, -1], 0, 4, 2))).toEqual([1, 3]);
  });

  it('throws a RouterError on NaN naming the expert', () => {
    expect(() => topKIndices([0, NaN, 1], 0, 3, 1)).toThrow(RouterError);
    expect(() => topKIndices([0, NaN, 1], 0, 3, 1)).toThrow(/expert 1/);
  });

  it('matches a stable sort on random scores full of ties', () => {
    const rng = createRng(11);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + rng.int(10);
      const k = 1 + rng.int(n);
      const scores = Array.from({ length: n }, () => rng.int(4));
      expect(Array.from(topKIndices(scores, 0, n, k))).toEqual(sortTopK(scores, k));
    }
  });
});

describe('softmaxRow', () => {
  it('computes a stable softmax in float64', () => {
    const out = softmaxRow(Float64Array.from([1000, 1000 + Math.log(3)]), 0, 2, new Float64Array(2));
    expect(out[0]).toBeCloseTo(0.25, 12);
    expect(out[1]).toBeCloseTo(0.75, 12);
    const row = softmaxRow(Float64Array.from([0, 0, 1, 2, 3]), 2, 3, new Float64Array(3));
    const z = 1 + Math.E + Math.E ** 2;
    expect(row[0]).toBeCloseTo(1 / z, 14);
    expect(row[2]).toBeCloseTo(Math.E ** 2 / z, 14);
  });
});
