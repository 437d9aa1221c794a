import { describe, expect, it } from 'vitest';
import { checkAgainstReference, HostTensor, MoELayer, randomInput, randomWeights, type MoELayerConfig, type RouterSpec } from '../src/index.js';
import { hostTestBackend } from './routers-oracle.js';

const cases: { router: RouterSpec; topK: number; params?: boolean }[] = [
  { router: { name: 'topk-capacity', options: { capacityFactor: 0.75, minCapacity: 0 } }, topK: 2 },
  { router: { name: 'noisy-topk', options: { train: true, seed: 9, noiseStd: 0.5 } }, topK: 2, params: true },
  { router: { name: 'expert-choice', options: { capacityFactor: 2 } }, topK: 2 },
  { router: { name: 'hash', options: { seed: 3 } }, topK: 1 },
  { router: { name: 'sigmoid-group-topk', options: { nGroup: 4, topkGroup: 2, routedScalingFactor: 2.5 } }, topK: 3, params: true },
  { router: { name: 'softmax-group-topk', options: { nGroup: 2, topkGroup: 1, normTopkProb: true } }, topK: 2 },
];

describe('every new router through an MoE layer, checked against the float64 reference', () => {
  for (const { router, topK, params } of cases) {
    it(`${router.name}`, async () => {
      const config: MoELayerConfig = { hiddenSize: 16, numExperts: 8, topK, expert: { kind: 'swiglu', ffnSize: 12 }, router };
      const base = randomWeights(config, { seed: 7 });
      // learned router parameters where the router reads them: a selection bias, noise logits
      const weights = params
        ? { ...base, routerParams: { e_score_correction_bias: HostTensor.float32([8], Float32Array.from([0.1, -0.1, 0.2, 0, 0, 0.05, -0.2, 0.1])), noise_logits: HostTensor.float32([8], new Float32Array(8).fill(-0.5)) } }
        : base;
      const layer = await MoELayer.create({ config, weights, backend: hostTestBackend() });
      const x = randomInput(24, 16, 8);
      const tokenIds = Array.from({ length: 24 }, (_, i) => 1000 + 37 * i);
      const result = await layer.forward(x, { tokenIds });
      const check = checkAgainstReference(config, weights, x, result, { tokenIds });
      expect(check.failures).toEqual([]);
      expect(check.passed).toBe(true);
      expect(result.stats.assignments).toBe(result.decision.token.length);
      expect(result.stats.tokensPerExpert.reduce((s, v) => s + v, 0)).toBe(result.plan.rowToken.length);
      layer.dispose();
    });
  }
});
