import { createRng } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { Sampler, samplingDistribution, type SamplingOptions } from '../src/index.js';

/** The distribution by definition: sort every token (best first, lower id on ties), cut top-k, then top-p. */
function referenceDistribution(logits: Float32Array, o: SamplingOptions): Map<number, number> {
  const t = o.temperature ?? 0;
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  if (t === 0) return new Map([[order[0], 1]]);
  const kept = o.topK ? order.slice(0, o.topK) : order;
  const w = kept.map((i) => Math.exp((logits[i] - logits[order[0]]) / t));
  const total = w.reduce((s, x) => s + x, 0);
  let cut = kept.length;
  let acc = 0;
  for (let j = 0; j < kept.length && (o.topP ?? 1) < 1; j++) {
    acc += w[j];
    if (acc >= (o.topP ?? 1) * total) {
      cut = j + 1;
      break;
    }
  }
  const mass = w.slice(0, cut).reduce((s, x) => s + x, 0);
  return new Map(kept.slice(0, cut).map((id, j) => [id, w[j] / mass]));
}

/** Seeded logits with a heavy upper tail (as language models' are) and some exact ties. */
function logitsOf(seed: number, n: number): Float32Array {
  const rng = createRng(seed);
  const x = Float32Array.from({ length: n }, () => 3 * rng.normal() + (rng.next() < 0.02 ? 8 * rng.next() : 0));
  for (let i = 0; i < n / 20; i++) x[rng.int(n)] = x[rng.int(n)];
  return x;
}

const SETTINGS: SamplingOptions[] = [0.3, 0.7, 1, 1.8].flatMap((temperature) =>
  [0.05, 0.5, 0.9, 0.99, 1].flatMap((topP) => [0, 3, 40].map((topK) => ({ temperature, topP, topK }))),
);

describe('the distribution sampling draws from', () => {
  it('is exactly the sort-then-cut distribution for every temperature, top-p and top-k', () => {
    for (const [seed, n] of [
      [11, 50],
      [12, 3000],
      [13, 20000],
    ]) {
      const logits = logitsOf(seed, n);
      for (const o of SETTINGS) {
        const got = samplingDistribution(logits, o);
        const want = referenceDistribution(logits, o);
        expect(new Set(got.ids), JSON.stringify(o)).toEqual(new Set(want.keys()));
        const worst = got.ids.reduce((m, id, j) => Math.max(m, Math.abs(got.probs[j] - want.get(id)!)), 0);
        expect(worst, JSON.stringify(o)).toBeLessThan(1e-12);
      }
    }
  });

  it('breaks ties at the top-p boundary towards the lower id, as a sort does', () => {
    // Four equal logits: top-p 0.4 keeps exactly two of them, the two lowest ids.
    const logits = Float32Array.from([0, 1, 1, -3, 1, 1, -2, ...Array.from({ length: 40 }, (_, i) => -5 - i / 10)]);
    const got = samplingDistribution(logits, { temperature: 1, topP: 0.4 });
    expect(new Set(got.ids)).toEqual(new Set(referenceDistribution(logits, { temperature: 1, topP: 0.4 }).keys()));
    expect(new Set(got.ids)).toEqual(new Set([1, 2]));
  });
});

/** Upper 0.1% point of chi-square with `df` degrees of freedom (Wilson-Hilferty). */
function chiSquareCritical(df: number): number {
  const z = 3.09;
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** Chi-square of `draws` samples from a Sampler against `expected` (cells under 5 expected draws merged). */
function chiSquare(options: SamplingOptions, logits: Float32Array, expected: Map<number, number>, draws: number): { stat: number; df: number; outside: number } {
  const s = new Sampler(options);
  const seen = new Map<number, number>();
  let outside = 0;
  for (let i = 0; i < draws; i++) {
    const id = s.next(logits);
    if (!expected.has(id)) outside++;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  let stat = 0;
  let cells = 0;
  let restE = 0;
  let restO = 0;
  for (const [id, p] of expected) {
    const e = p * draws;
    const o = seen.get(id) ?? 0;
    if (e < 5) {
      restE += e;
      restO += o;
      continue;
    }
    stat += (o - e) ** 2 / e;
    cells++;
  }
  if (restE > 0) {
    stat += (restO - restE) ** 2 / Math.max(restE, 1e-9);
    cells++;
  }
  return { stat, df: Math.max(1, cells - 1), outside };
}

describe('sampled tokens (chi-square at the 0.1% level, seeded)', () => {
  const logits = logitsOf(21, 12).map((x) => x / 2);
  const cases: SamplingOptions[] = [
    { temperature: 0.5 },
    { temperature: 1 },
    { temperature: 2 },
    { temperature: 1, topP: 0.8 },
    { temperature: 0.7, topP: 0.95 },
    { temperature: 1.5, topK: 4 },
    { temperature: 1.2, topK: 6, topP: 0.7 },
  ];
  it.each(cases)('follow the distribution at %o', (o) => {
    const { stat, df, outside } = chiSquare({ ...o, seed: 5 }, logits, referenceDistribution(logits, o), 20000);
    expect(outside).toBe(0);
    expect(stat).toBeLessThan(chiSquareCritical(df));
  });

  it('the test has power: samples at temperature 1 fail against the temperature-1.3 distribution', () => {
    const { stat, df } = chiSquare({ temperature: 1, seed: 5 }, logits, referenceDistribution(logits, { temperature: 1.3 }), 20000);
    expect(stat).toBeGreaterThan(chiSquareCritical(df));
  });
});
