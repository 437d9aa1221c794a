import { describe, expect, it } from 'vitest';
import { createRng, randomInput, randomNormal, randomWeights, type MoELayerConfig } from '../src/index.js';

describe('createRng', () => {
  it('gives equal streams for equal seeds and different streams for different seeds', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const sa = Array.from({ length: 50 }, () => a.next());
    const sb = Array.from({ length: 50 }, () => b.next());
    const sc = Array.from({ length: 50 }, () => c.next());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(new Set(sa).size).toBe(50);
  });

  it('draws uniforms in [0, 1) and integers in [0, n)', () => {
    const r = createRng(7);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 5000; i++) {
      const u = r.next();
      expect(u >= 0 && u < 1).toBe(true);
      counts[r.int(5)]++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(850); // 1000 expected each
  });

  it('draws standard normals (mean about 0, variance about 1)', () => {
    const r = createRng(3);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      s += v;
      s2 += v * v;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.05);
  });

  it('treats seeds as 32-bit integers (fractional seeds floor)', () => {
    expect(createRng(5.7).next()).toBe(createRng(5).next());
    expect(createRng(0).next()).not.toBeNaN();
  });
});

describe('seeded data', () => {
  const config: MoELayerConfig = { hiddenSize: 8, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 6 }, router: { name: 'topk-softmax' } };

  it('randomNormal scales and is reproducible', () => {
    const a = randomNormal(createRng(1), 1000, 0.1);
    expect(a).toEqual(randomNormal(createRng(1), 1000, 0.1));
    const std = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(std).toBeGreaterThan(0.08);
    expect(std).toBeLessThan(0.12);
  });

  it('randomWeights and randomInput are deterministic per seed and never constant', () => {
    const w1 = randomWeights(config, { seed: 9 });
    const w2 = randomWeights(config, { seed: 9 });
    const w3 = randomWeights(config, { seed: 10 });
    expect(w1.router.data).toEqual(w2.router.data);
    expect(w1.experts[3].down.data).toEqual(w2.experts[3].down.data);
    expect(w1.router.data).not.toEqual(w3.router.data);
    const x = randomInput(4, 8, 1);
    expect(x.shape).toEqual([4, 8]);
    expect(new Set(x.data).size).toBe(32);
    expect(randomWeights(config, { seed: 9, dtype: 'bfloat16' }).experts[0].up.dtype).toBe('bfloat16');
  });
});
