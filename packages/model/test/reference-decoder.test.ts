import '@moe-runtime/backend-cpu';
import { getBackend, HostTensor, ShapeError } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { chosenExperts, MoEModel, parseModelConfig, randomModelWeights, referenceModelLogits, tinyConfigJson } from '../src/index.js';

describe('the reference decoder', () => {
  it('names a token id outside the vocabulary instead of returning NaN logits', () => {
    const config = parseModelConfig(tinyConfigJson({ modelType: 'mixtral', numLayers: 1 }));
    const weights = randomModelWeights(config, 5);
    expect(() => referenceModelLogits(config, weights, [1, 384])).toThrow(ShapeError);
    expect(() => referenceModelLogits(config, weights, [1, -1])).toThrow(/token id -1 at position 1 is outside the vocabulary \[0, 384\)/);
    expect(() => referenceModelLogits(config, weights, [])).toThrow(/at least one token/);
    const ok = referenceModelLogits(config, weights, [1, 383]);
    expect(ok.logits.every(Number.isFinite)).toBe(true);
  });
});

describe('the reference router', () => {
  it('breaks an exact tie toward the lower expert id, as the production router does', async () => {
    const config = parseModelConfig(tinyConfigJson({ modelType: 'qwen3_moe', numLayers: 1, topK: 1 }));
    const weights = randomModelWeights(config, 9);
    // Experts 5 and 2 get the same router row, scaled so that they lead every position's logits.
    const router = weights.layers[0].moe.router.toFloat32().slice();
    const d = config.hiddenSize;
    for (let c = 0; c < d; c++) router[5 * d + c] = router[2 * d + c] = 50 * router[2 * d + c];
    const tied = { ...weights, layers: [{ ...weights.layers[0], moe: { ...weights.layers[0].moe, router: HostTensor.float32([config.moe.numExperts, d], router) } }] };
    const ref = referenceModelLogits(config, tied, [1, 2, 3, 4]);
    const picked = chosenExperts(ref.plans)[0];
    // Positions where the shared row leads pick expert 2, never 5.
    expect(picked.some((e) => e[0] === 2)).toBe(true);
    expect(picked.every((e) => e[0] !== 5)).toBe(true);
    const model = await MoEModel.create(config, tied, await getBackend('cpu'));
    const out = await model.forward(model.newSession(), [1, 2, 3, 4], { allLogits: true });
    expect(chosenExperts(out.routing.map((r) => r.plan))[0]).toEqual(picked);
    model.dispose();
  });

  it('renormalises the top-k weights only where the model type does', () => {
    const sums = (type: 'mixtral' | 'olmoe'): number[] => {
      const config = parseModelConfig(tinyConfigJson({ modelType: type, numLayers: 1 }));
      const ref = referenceModelLogits(config, randomModelWeights(config, 4), [1, 7, 9]);
      return ref.plans[0].weights.map((w) => w.reduce((a, b) => a + b, 0));
    };
    for (const s of sums('mixtral')) expect(s).toBeCloseTo(1, 12);
    for (const s of sums('olmoe')) expect(s).toBeLessThan(0.999);
  });
});
