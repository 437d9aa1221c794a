import { describe, expect, it } from 'vitest';
import { ConfigError, createRouter, getRouterDefinition, isBatchDependent, listRouters } from '../src/index.js';
import { ctx } from './routers-oracle.js';

const NEW_ROUTERS = ['topk-capacity', 'noisy-topk', 'expert-choice', 'hash', 'sigmoid-group-topk', 'softmax-group-topk'];

/** The ConfigError field a router construction fails with. */
function failure(name: string, options: Record<string, unknown>, e = 8, k = 2, params: Record<string, Float32Array> = {}): string {
  try {
    createRouter({ name, options }, ctx(e, k, params));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return `${(err as ConfigError).field} | ${(err as Error).message}`;
  }
  throw new Error(`router '${name}' accepted ${JSON.stringify(options)}`);
}

describe('router registry and option validation', () => {
  it('registers every built-in router with a description and an options schema', () => {
    const names = listRouters().map((r) => r.name);
    for (const name of ['topk-softmax', 'switch', ...NEW_ROUTERS]) {
      expect(names).toContain(name);
      const def = getRouterDefinition(name);
      expect(def.description?.length).toBeGreaterThan(20);
      expect(def.options).toBeTypeOf('object');
    }
    expect(getRouterDefinition('hash').needsTokenIds).toBe(true);
    expect(createRouter({ name: 'hash' }, ctx(4, 1)).needsTokenIds).toBe(true);
  });

  it('builds every router from plain JSON with its defaults', () => {
    for (const name of NEW_ROUTERS) {
      const r = JSON.parse(JSON.stringify({ name, options: {} }));
      expect(createRouter(r, ctx(8, 2)).name).toBe(name);
    }
  });

  it('rejects unknown options, naming router.options.<key> and the accepted keys', () => {
    for (const name of NEW_ROUTERS) {
      const msg = failure(name, { capcityFactor: 2 });
      expect(msg).toMatch(/^router\.options\.capcityFactor \| /);
      expect(msg).toMatch(/unknown option/);
    }
    expect(failure('topk-capacity', { k: 2 })).toMatch(/accepts capacityFactor, minCapacity, renormalize, renormalizeAfterDrops, dropTokens/);
  });

  it('rejects wrong types and out-of-range values', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['topk-capacity', { capacityFactor: '1.25' }, /router\.options\.capacityFactor .*finite number/],
      ['topk-capacity', { capacityFactor: 0 }, /router\.options\.capacityFactor .*> 0/],
      ['topk-capacity', { minCapacity: 1.5 }, /router\.options\.minCapacity .*integer/],
      ['topk-capacity', { minCapacity: -1 }, /router\.options\.minCapacity .*>= 0/],
      ['topk-capacity', { renormalize: 'yes' }, /router\.options\.renormalize .*true or false/],
      ['topk-capacity', { renormalize: false, renormalizeAfterDrops: true }, /router\.options\.renormalizeAfterDrops .*needs renormalize/],
      ['noisy-topk', { train: 1 }, /router\.options\.train /],
      ['noisy-topk', { noiseStd: -0.1 }, /router\.options\.noiseStd .*>= 0/],
      ['noisy-topk', { seed: 0.5 }, /router\.options\.seed .*integer/],
      ['noisy-topk', { noiseParam: 3 }, /router\.options\.noiseParam .*string/],
      ['expert-choice', { capacityFactor: -1 }, /router\.options\.capacityFactor .*> 0/],
      ['expert-choice', { capacityFactor: 9 }, /router\.options\.capacityFactor .*at most numExperts \(8\)/],
      ['hash', { seed: -1 }, /router\.options\.seed .*>= 0/],
      ['hash', { seed: 2 ** 32 }, /router\.options\.seed .*<= 4294967295/],
      ['sigmoid-group-topk', { nGroup: 3 }, /router\.options\.nGroup .*divisor of numExperts \(8\), got 3/],
      ['sigmoid-group-topk', { nGroup: 0 }, /router\.options\.nGroup .*>= 1/],
      ['sigmoid-group-topk', { nGroup: 4, topkGroup: 5 }, /router\.options\.topkGroup .*at most nGroup \(4\), got 5/],
      ['sigmoid-group-topk', { nGroup: 8, topkGroup: 1 }, /router\.options\.topkGroup .*leaves 1 experts, fewer than topK = 2/],
      ['sigmoid-group-topk', { routedScalingFactor: 0 }, /router\.options\.routedScalingFactor .*> 0/],
      ['sigmoid-group-topk', { bias: [0, 1] }, /router\.options\.bias .*expected 8 values/],
      ['sigmoid-group-topk', { bias: [0, 'x'] }, /router\.options\.bias .*array of finite numbers/],
      ['sigmoid-group-topk', { normTopkProb: null }, /router\.options\.normTopkProb /],
      ['softmax-group-topk', { nGroup: 5 }, /router\.options\.nGroup .*divisor/],
      ['softmax-group-topk', { nGroup: 4, topkGroup: 6 }, /router\.options\.topkGroup .*at most nGroup/],
      ['softmax-group-topk', { nGroup: 4, topkGroup: 0 }, /router\.options\.topkGroup .*>= 1/],
    ];
    for (const [name, options, pattern] of cases) expect(failure(name, options)).toMatch(pattern);
  });

  it('rejects a bias given twice or with the wrong length in the weights', () => {
    const bias = new Float32Array(8);
    expect(failure('sigmoid-group-topk', { bias: Array(8).fill(0) }, 8, 2, { e_score_correction_bias: bias })).toMatch(/router\.options\.bias .*give the bias once/);
    expect(failure('sigmoid-group-topk', {}, 8, 2, { e_score_correction_bias: new Float32Array(4) })).toMatch(/routerParams\.e_score_correction_bias .*expected 8 values/);
    expect(failure('noisy-topk', {}, 8, 2, { noise_logits: new Float32Array(3) })).toMatch(/routerParams\.noise_logits .*expected 8 values/);
  });

  it('rejects topK above numExperts in every top-k router', () => {
    for (const name of ['topk-capacity', 'noisy-topk', 'hash', 'sigmoid-group-topk', 'softmax-group-topk']) {
      expect(failure(name, {}, 4, 5)).toMatch(/^topK \| .*at most numExperts \(4\), got 5/);
    }
  });
});

describe('RouterInfo.batchDependent', () => {
  it('marks the routers whose routing depends on the batch, given their options', () => {
    const dep = (name: string, options?: Record<string, unknown>) => isBatchDependent({ name, options });
    expect([dep('topk-softmax'), dep('hash'), dep('sigmoid-group-topk'), dep('softmax-group-topk'), dep('noisy-topk')]).toEqual([false, false, false, false, false]);
    expect([dep('switch'), dep('topk-capacity'), dep('expert-choice'), dep('noisy-topk', { train: true })]).toEqual([true, true, true, true]);
    expect([dep('switch', { dropTokens: false }), dep('topk-capacity', { dropTokens: false })]).toEqual([false, false]);
    expect(() => dep('no-such-router')).toThrow(/unknown router 'no-such-router'/);
  });
});
