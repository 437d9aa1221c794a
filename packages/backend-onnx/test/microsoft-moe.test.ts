/**
 * The same layer through onnxruntime's own `com.microsoft.MoE` contrib operator (an
 * independent implementation of Mixtral routing and SwiGLU experts) must agree with this
 * backend, and a wrong fc1 layout, which passes every shape check, must be caught.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareOutputs, ConfigError, MoELayer, ShapeError, randomInput, randomWeights, routedExpertGroup, type MoELayerConfig, type MoEWeights } from '@moe-runtime/core';
import { MicrosoftMoEOperator, OnnxBackend } from '../src/index.js';

let backend: OnnxBackend;
beforeAll(async () => {
  backend = await OnnxBackend.create({ intraOpThreads: 1 });
});
afterAll(async () => {
  await backend.dispose();
});

async function compare(config: MoELayerConfig, weights: MoEWeights, layout: 'interleaved' | 'chunked', tokens: number): Promise<number> {
  const layer = await MoELayer.create({ config, weights, backend });
  const op = await MicrosoftMoEOperator.create(routedExpertGroup(config, weights), { k: config.topK, normalizeRoutingWeights: true, fc1Layout: layout }, { intraOpThreads: 1 });
  try {
    const x = randomInput(tokens, config.hiddenSize, 99);
    const ours = await layer.forward(x);
    // The operator takes the raw router logits and routes by itself.
    const theirs = await op.run(x.data, ours.logits, tokens);
    return compareOutputs(theirs, ours.output.data).relL2;
  } finally {
    layer.dispose();
    await op.dispose();
  }
}

describe('com.microsoft.MoE (CPU, fp32) vs the onnx backend', () => {
  const config: MoELayerConfig = { hiddenSize: 64, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 96 }, router: { name: 'topk-softmax' } };

  it('agrees on E=8, k=2 SwiGLU with interleaved gate/up rows', async () => {
    expect(await compare(config, randomWeights(config, { seed: 5 }), 'interleaved', 32)).toBeLessThan(1e-5);
  });

  it('agrees with biases too', async () => {
    const biased: MoELayerConfig = { ...config, expert: { kind: 'swiglu', ffnSize: 96, bias: true } };
    expect(await compare(biased, randomWeights(biased, { seed: 6 }), 'interleaved', 16)).toBeLessThan(1e-5);
  });

  it('a chunked (wrong) fc1 layout runs but is caught as garbage', async () => {
    expect(await compare(config, randomWeights(config, { seed: 5 }), 'chunked', 32)).toBeGreaterThan(0.1);
  });

  it('bad arguments are typed errors, not crashes inside onnxruntime', async () => {
    await expect(MicrosoftMoEOperator.create(null as never, { k: 2 })).rejects.toThrow(ConfigError);
    const w = randomWeights(config, { seed: 9 });
    const op = await MicrosoftMoEOperator.create(routedExpertGroup(config, w), { k: 2 }, { intraOpThreads: 1 });
    try {
      const x = randomInput(2, 64, 10).data;
      const logits = randomInput(2, 8, 11).data;
      await expect(op.run(Array.from(x) as never, logits, 2)).rejects.toThrow(ShapeError);
      await expect(op.run(x, logits, 1.5)).rejects.toThrow(/numTokens must be a non-negative integer/);
      await expect(op.run(x, logits.subarray(1), 2)).rejects.toThrow(/logits have 15 values, expected 2 x 8/);
    } finally {
      await op.dispose();
    }
  });

  it('swapping gate and up is caught as well', async () => {
    const w = randomWeights(config, { seed: 7 });
    const swapped: MoEWeights = { ...w, experts: w.experts.map((e) => ({ ...e, gate: e.up, up: e.gate! })) };
    const layer = await MoELayer.create({ config, weights: w, backend });
    const op = await MicrosoftMoEOperator.create(routedExpertGroup(config, swapped), { k: 2 }, { intraOpThreads: 1 });
    try {
      const x = randomInput(16, 64, 8);
      const ours = await layer.forward(x);
      expect(compareOutputs(await op.run(x.data, ours.logits, 16), ours.output.data).relL2).toBeGreaterThan(0.1);
    } finally {
      layer.dispose();
      await op.dispose();
    }
  });
});
