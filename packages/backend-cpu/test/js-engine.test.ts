import { checkAgainstReference, disposeAllBackends, getBackend, MoELayer, randomInput, randomWeights, type Backend, type MoELayerConfig } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/index.js';
import { itPassesLayerCases } from './layer-cases.js';

describe("plain TypeScript engine (simd: 'none')", () => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await getBackend({ name: 'cpu', options: { simd: 'none' } });
  });
  afterAll(() => disposeAllBackends());
  itPassesLayerCases(() => backend, 1000);

  it('q5_0 experts (decoded to float32 through core) match the float64 reference', async () => {
    const config: MoELayerConfig = { hiddenSize: 96, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 160 }, router: { name: 'topk-softmax' } };
    const weights = randomWeights(config, { seed: 1901, dtype: 'q5_0' });
    const layer = await MoELayer.create({ config, weights, backend });
    try {
      const x = randomInput(7, config.hiddenSize, 1902);
      const check = checkAgainstReference(config, weights, x, await layer.forward(x), { maxRelL2: 1e-5 });
      expect(check.failures).toEqual([]);
      expect(check.relL2).toBeLessThan(1e-5);
    } finally {
      layer.dispose();
    }
  });
});
