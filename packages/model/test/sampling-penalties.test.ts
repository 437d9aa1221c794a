import { ConfigError, createRng } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { Sampler } from '../src/index.js';

const logSoftmax = (x: ArrayLike<number>): number[] => {
  const m = Math.max(...Array.from(x));
  const z = m + Math.log(Array.from(x).reduce((s, v) => s + Math.exp(v - m), 0));
  return Array.from(x, (v) => v - z);
};

describe('frequency and presence penalties', () => {
  it('lower a logit by count * frequency_penalty + presence_penalty over the tokens sampled so far', () => {
    const rng = createRng(31);
    const logits = Float32Array.from({ length: 64 }, () => 2 * rng.normal());
    const freq = 0.7;
    const presence = 0.4;
    const s = new Sampler({ temperature: 1.1, seed: 9, frequencyPenalty: freq, presencePenalty: presence, topLogprobs: 3 });
    const counts = new Map<number, number>();
    for (let step = 0; step < 40; step++) {
      const want = logSoftmax(Array.from(logits, (v, i) => v - (counts.get(i) ?? 0) * freq - (counts.has(i) ? presence : 0)));
      const got = s.sample(logits);
      expect(got.logprob).toBeCloseTo(want[got.id], 9);
      const best = want.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 3);
      expect(got.topLogprobs!.map((t) => t.id)).toEqual(best.map((b) => b[1]));
      got.topLogprobs!.forEach((t, j) => expect(t.logprob).toBeCloseTo(best[j][0], 9));
      counts.set(got.id, (counts.get(got.id) ?? 0) + 1);
    }
    expect(counts.size).toBeGreaterThan(5);
  });

  it('make greedy decoding move on from a repeated token (and 0 changes nothing)', () => {
    const logits = Float32Array.from([2.0, 1.5, 1.0, -1]);
    const run = (o: { frequencyPenalty?: number; presencePenalty?: number }): number[] => {
      const s = new Sampler(o);
      return Array.from({ length: 5 }, () => s.next(logits));
    };
    expect(run({})).toEqual([0, 0, 0, 0, 0]);
    expect(run({ frequencyPenalty: 0, presencePenalty: 0 })).toEqual([0, 0, 0, 0, 0]);
    // 2.0 -> 1.4 after one pick: 1.5 wins; then 0.9 vs 1.4: 0 again (0.8); then 1.0 is the largest.
    expect(run({ frequencyPenalty: 0.6 })).toEqual([0, 1, 0, 2, 1]);
    // Presence counts once: 2.0 - 0.6 = 1.4 < 1.5, then 1.5 - 0.6 = 0.9, and 1.4 leads for ever (a frequency penalty would keep lowering it).
    expect(run({ presencePenalty: 0.6 })).toEqual([0, 1, 0, 0, 0]);
    // A negative penalty favours repeats.
    expect(run({ frequencyPenalty: -1 })).toEqual([0, 0, 0, 0, 0]);
  });

  it('are refused outside [-2, 2], naming the OpenAI field', () => {
    expect(() => new Sampler({ frequencyPenalty: 2.5 })).toThrow(ConfigError);
    expect(() => new Sampler({ frequencyPenalty: 2.5 })).toThrow(/frequency_penalty: expected a number in \[-2, 2\], got 2.5/);
    expect(() => new Sampler({ presencePenalty: -3 })).toThrow(/presence_penalty/);
    expect(() => new Sampler({ topLogprobs: 21 })).toThrow(/top_logprobs: expected an integer in \[0, 20\], got 21/);
  });
});

describe('log-probabilities', () => {
  const rng = createRng(77);
  const logits = Float32Array.from({ length: 300 }, () => 3 * rng.normal());

  it('are the log-softmax at temperature 1, whatever the temperature and top-p', () => {
    const want = logSoftmax(logits);
    for (const o of [{}, { temperature: 0.3 }, { temperature: 1.7, topP: 0.5 }, { temperature: 1, topK: 5 }]) {
      const got = new Sampler({ ...o, seed: 4, topLogprobs: 5 }).sample(logits);
      expect(got.logprob).toBeCloseTo(want[got.id], 9);
      expect(got.topLogprobs).toHaveLength(5);
      for (const t of got.topLogprobs!) expect(t.logprob).toBeCloseTo(want[t.id], 9);
    }
  });

  it('with top_logprobs 0 give only the chosen token, and are absent unless asked for', () => {
    expect(new Sampler({ topLogprobs: 0 }).sample(logits).topLogprobs).toEqual([]);
    expect(new Sampler({ topLogprobs: 0 }).sample(logits).logprob).toBeLessThan(0);
    expect(new Sampler({}).sample(logits)).toEqual({ id: Array.from(logits).indexOf(Math.max(...logits)) });
  });
});
