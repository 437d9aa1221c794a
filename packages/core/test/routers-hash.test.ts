import { describe, expect, it } from 'vitest';
import { createRouter, fmix32, hashExperts, MoELayer, randomInput, randomWeights, RouterError, tokenHash, type MoELayerConfig } from '../src/index.js';
import { ctx, fmix32Big, hostTestBackend, keptRouting, oracleHash, routingDiff } from './routers-oracle.js';

const hash = (options: Record<string, unknown>, e: number, k = 1) => createRouter({ name: 'hash', options }, ctx(e, k));
const logits = (t: number, e: number) => new Float64Array(t * e).map((_, i) => Math.sin(i));

describe('hash (Roller et al. 2021)', () => {
  it('uses the MurmurHash3 fmix32 finaliser (known values)', () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
    expect(fmix32(2)).toBe(0x30f4c306);
    expect(fmix32(42)).toBe(0x087fcd5c);
    expect(fmix32(123456789)).toBe(0xba60d89a);
    for (const x of [3, 77, 65535, 0x7fffffff, 0xdeadbeef]) expect(fmix32(x)).toBe(fmix32Big(x));
  });

  it('routes token id -> fmix32(id) mod E with weight 1 (seed 0)', () => {
    const ids = Int32Array.from([0, 1, 2, 42, 123456789]);
    const d = hash({}, 8).route({ logits: logits(5, 8), numTokens: 5, numExperts: 8, tokenIds: ids });
    expect(Array.from(d.expert)).toEqual([0, 7, 6, 4, 2]); // 0x514e28b7 % 8 = 7, ...
    expect(Array.from(d.weight)).toEqual([1, 1, 1, 1, 1]);
    // seed 7: fmix32(42 ^ fmix32(7)) = 3794647023, mod 8 = 7
    expect(tokenHash(42, 7)).toBe(3794647023);
    expect(hash({ seed: 7 }, 8).route({ logits: logits(1, 8), numTokens: 1, numExperts: 8, tokenIds: Int32Array.of(42) }).expert[0]).toBe(7);
  });

  it('ignores the logits and is the same for a token wherever it sits in the batch', () => {
    const ids = Int32Array.from({ length: 64 }, (_, i) => i * 7919);
    const a = hash({}, 6).route({ logits: logits(64, 6), numTokens: 64, numExperts: 6, tokenIds: ids });
    const rev = Int32Array.from(ids).reverse();
    const b = hash({}, 6).route({ logits: logits(64, 6).reverse(), numTokens: 64, numExperts: 6, tokenIds: rev });
    expect(Array.from(b.expert).reverse()).toEqual(Array.from(a.expert));
    // logits full of -Infinity change nothing
    const masked = hash({}, 6).route({ logits: new Float64Array(64 * 6).fill(-Infinity), numTokens: 64, numExperts: 6, tokenIds: ids });
    expect(Array.from(masked.expert)).toEqual(Array.from(a.expert));
  });

  it('gives k distinct experts with weight 1/k, matching a BigInt oracle', () => {
    const ids = Array.from({ length: 200 }, (_, i) => (i * 2654435761) >>> 1);
    for (const [e, k, seed] of [[8, 2, 0], [4, 3, 9], [3, 3, 1], [16, 1, 5]]) {
      const d = hash({ seed }, e, k).route({ logits: logits(200, e), numTokens: 200, numExperts: e, tokenIds: Int32Array.from(ids) });
      expect(routingDiff(keptRouting(d, 200, e), oracleHash(ids, e, k, seed), 1e-7)).toEqual([]);
    }
    // hashExperts never repeats an expert even when every hash collides (E = k)
    expect(Array.from(hashExperts(5, 0, 2, 2, new Int32Array(2))).sort()).toEqual([0, 1]);
  });

  it('spreads ids about evenly over experts', () => {
    const n = 8000;
    const d = hash({}, 8).route({ logits: logits(n, 8), numTokens: n, numExperts: 8, tokenIds: Int32Array.from({ length: n }, (_, i) => i) });
    const load = new Array(8).fill(0);
    for (const ex of d.expert) load[ex]++;
    for (const l of load) expect(Math.abs(l - n / 8)).toBeLessThan(0.1 * (n / 8));
  });

  it('throws a RouterError without token ids (router and layer)', async () => {
    const r = hash({}, 4);
    expect(r.needsTokenIds).toBe(true);
    expect(() => r.route({ logits: logits(2, 4), numTokens: 2, numExperts: 4 })).toThrow(RouterError);
    expect(() => r.route({ logits: logits(2, 4), numTokens: 2, numExperts: 4 })).toThrow(/needs token ids/);
    const config: MoELayerConfig = { hiddenSize: 8, numExperts: 4, topK: 1, expert: { kind: 'relu', ffnSize: 8 }, router: { name: 'hash' } };
    const layer = await MoELayer.create({ config, weights: randomWeights(config, { seed: 1 }), backend: hostTestBackend() });
    await expect(layer.forward(randomInput(3, 8, 2))).rejects.toThrow(RouterError);
    const ok = await layer.forward(randomInput(3, 8, 2), { tokenIds: [5, 6, 7] });
    expect(ok.plan.rowToken.length).toBe(3);
  });
});
