import { denseRoutingPlan, MoELayer, randomInput, randomWeights, type MoELayerConfig } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, type CpuBackend } from '../src/index.js';

// Chunks are handed out dynamically, but each output column is computed whole by one thread,
// so results must not depend on the thread count or on which thread took which chunk.
describe('determinism across thread counts and repeated calls', () => {
  const config: MoELayerConfig = { hiddenSize: 96, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 200, bias: true }, router: { name: 'topk-softmax' } };
  let one: CpuBackend;
  let three: CpuBackend;
  beforeAll(async () => {
    one = await createCpuBackend({ simd: 'simd', threads: 1 });
    three = await createCpuBackend({ simd: 'simd', threads: 3 });
  });
  afterAll(async () => {
    await one.dispose();
    await three.dispose();
  });

  it('gives bit-identical outputs on 1 and 3 threads, call after call', async () => {
    const weights = randomWeights(config, { seed: 77 });
    const a = await MoELayer.create({ config, weights, backend: one });
    const b = await MoELayer.create({ config, weights, backend: three });
    try {
      for (const t of [1, 5, 40]) {
        const x = randomInput(t, config.hiddenSize, 500 + t);
        const expected = (await a.forward(x)).output.data;
        for (let i = 0; i < 20; i++) expect((await b.forward(x)).output.data).toEqual(expected);
      }
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('serves interleaved concurrent calls on two layers correctly', async () => {
    const weights = randomWeights(config, { seed: 78 });
    const layer = await MoELayer.create({ config, weights, backend: three });
    const experts = await three.prepareExperts({ kind: 'swiglu', hiddenSize: 96, ffnSize: 200, experts: weights.experts.slice(0, 2) });
    try {
      const x = randomInput(9, 96, 9);
      const plan = denseRoutingPlan(9, 2);
      const soloLayer = (await layer.forward(x)).output.data;
      const soloExperts = await three.runExperts(experts, x.data, plan);
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? three.runExperts(experts, x.data, plan) : layer.forward(x).then((r) => r.output.data))));
      results.forEach((r, i) => expect(r).toEqual(i % 2 ? soloExperts : soloLayer));
    } finally {
      layer.dispose();
      experts.dispose();
    }
  });
});
