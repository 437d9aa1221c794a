import { createRng, InvalidInputError, ShapeError } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { argmax, Sampler } from '../src/index.js';

describe('sampling edge cases', () => {
  const rng = createRng(99);
  const row = (n: number): Float32Array => Float32Array.from({ length: n }, () => 4 * rng.next() - 2);

  it('rejects an empty row instead of returning token 0', () => {
    expect(() => argmax(new Float32Array(0))).toThrow(ShapeError);
    expect(() => new Sampler({ temperature: 1, seed: 1 }).next(new Float32Array(0))).toThrow(ShapeError);
    expect(() => new Sampler().next(row(8), 4, 8)).toThrow(/logits row \[4, 12\) is outside the 8 logits/);
  });

  it('rejects NaN logits instead of picking an arbitrary token', () => {
    const x = row(6);
    x[3] = NaN;
    expect(() => argmax(x)).toThrow(InvalidInputError);
    expect(() => new Sampler({ temperature: 0.8, seed: 3 }).next(x)).toThrow(/logits\[3\] is NaN/);
    expect(() => new Sampler({ temperature: 0.8, seed: 3 }).next(new Float32Array(4).fill(-Infinity))).toThrow(/every logit is -Infinity/);
  });

  it('top-p keeps the smallest prefix reaching p and never samples past it', () => {
    // probabilities 0.5, 0.3, 0.2 at temperature 1: top-p 0.75 keeps the first two only.
    const logits = Float32Array.from([Math.log(0.3), Math.log(0.5), Math.log(0.2)]);
    const s = new Sampler({ temperature: 1, topP: 0.75, seed: 7 });
    const seen = new Set<number>();
    for (let i = 0; i < 400; i++) seen.add(s.next(logits));
    expect([...seen].sort()).toEqual([0, 1]);
  });
});

describe('top-k sampling', () => {
  it('draws only among the k largest logits, each of them, and reproducibly for a seed', () => {
    const rng = createRng(2024);
    const logits = Float32Array.from({ length: 1000 }, () => rng.normal());
    const k = 5;
    const top = Array.from(logits.keys())
      .sort((a, b) => logits[b] - logits[a] || a - b)
      .slice(0, k);
    const draw = (seed: number): number[] => {
      const s = new Sampler({ temperature: 2, topK: k, seed });
      return Array.from({ length: 300 }, () => s.next(logits));
    };
    const a = draw(7);
    expect(new Set(a)).toEqual(new Set(top));
    expect(draw(7)).toEqual(a);
    expect(draw(8)).not.toEqual(a);
  });
});
