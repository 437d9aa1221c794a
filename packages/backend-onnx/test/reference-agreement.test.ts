/**
 * Cross-validation of the onnx backend against core's float64 reference on fresh seeded
 * layers (routing included), for every expert kind, shared experts, capacity drops, half
 * precision weights and experts with no routed rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MoELayerConfig } from '@moe-runtime/core';
import { OnnxBackend } from '../src/index.js';
import { runChecked } from './helpers.js';

let backend: OnnxBackend;
let perExpert: OnnxBackend;
beforeAll(async () => {
  backend = await OnnxBackend.create({ intraOpThreads: 1 });
  perExpert = await OnnxBackend.create({ intraOpThreads: 1, expertGraph: 'per-expert' });
});
afterAll(async () => {
  await backend.dispose();
  await perExpert.dispose();
});

const mixtral: MoELayerConfig = { hiddenSize: 64, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 96 }, router: { name: 'topk-softmax' } };

function expectPass(check: { passed: boolean; failures: readonly string[]; relL2: number }): void {
  expect(check.failures).toEqual([]);
  expect(check.passed).toBe(true);
  expect(check.relL2).toBeLessThan(1e-5);
}

describe('onnx backend vs float64 reference (maxRelL2 1e-5)', () => {
  it('E=8, k=2 SwiGLU (Mixtral routing)', async () => {
    const { check } = await runChecked(backend, mixtral, { tokens: 24, seed: 11 });
    expectPass(check);
    expect(check.routingAgreement).toBe(1);
  });

  it('the per-expert session layout gives the same numbers', async () => {
    const { check } = await runChecked(perExpert, mixtral, { tokens: 24, seed: 12 });
    expectPass(check);
  });

  it('E=16, k=1 switch router with capacity drops tokens and still agrees', async () => {
    const config: MoELayerConfig = {
      hiddenSize: 64,
      numExperts: 16,
      topK: 1,
      expert: { kind: 'swiglu', ffnSize: 64 },
      router: { name: 'switch', options: { capacityFactor: 1 } },
    };
    const { check, dropped } = await runChecked(backend, config, { tokens: 64, seed: 21 });
    expectPass(check);
    expect(dropped).toBeGreaterThan(0);
  });

  it('E=64, k=6 with two gated shared experts', async () => {
    const config: MoELayerConfig = {
      hiddenSize: 64,
      numExperts: 64,
      topK: 6,
      expert: { kind: 'swiglu', ffnSize: 32 },
      sharedExperts: { count: 2, ffnSize: 64, gated: true },
      router: { name: 'topk-softmax', options: { renormalize: false } },
    };
    const { check } = await runChecked(backend, config, { tokens: 16, seed: 31 });
    expectPass(check);
  });

  it('E=64, k=6 with one ungated shared expert', async () => {
    const config: MoELayerConfig = {
      hiddenSize: 64,
      numExperts: 64,
      topK: 6,
      expert: { kind: 'swiglu', ffnSize: 32 },
      sharedExperts: { ffnSize: 96 },
      router: { name: 'topk-softmax' },
    };
    const { check } = await runChecked(backend, config, { tokens: 12, seed: 32 });
    expectPass(check);
  });

  it.each(['gelu', 'relu'] as const)('%s experts with biases', async (kind) => {
    const config: MoELayerConfig = { hiddenSize: 96, numExperts: 8, topK: 2, expert: { kind, ffnSize: 128, bias: true }, router: { name: 'topk-softmax' } };
    const { check } = await runChecked(backend, config, { tokens: 20, seed: kind === 'gelu' ? 41 : 42 });
    expectPass(check);
  });

  it.each([1, 25])('clamped SwiGLU (gpt-oss) experts with biases, first projections x%i', async (scaleFirst) => {
    const config: MoELayerConfig = { ...mixtral, expert: { kind: 'clamped-swiglu', ffnSize: 96, bias: true } };
    const { check } = await runChecked(backend, config, { tokens: 20, seed: 44 + scaleFirst, scaleFirst });
    expectPass(check);
  });

  it('SwiGLU experts with biases', async () => {
    const config: MoELayerConfig = { ...mixtral, expert: { kind: 'swiglu', ffnSize: 96, bias: true } };
    const { check } = await runChecked(backend, config, { tokens: 20, seed: 43 });
    expectPass(check);
  });

  it.each(['float16', 'bfloat16'] as const)('%s weights (the reference sees the same rounded values)', async (dtype) => {
    const config: MoELayerConfig = { ...mixtral, expert: { kind: 'swiglu', ffnSize: 96, bias: true } };
    const { check } = await runChecked(backend, config, { tokens: 20, seed: dtype === 'float16' ? 51 : 52, dtype });
    expectPass(check);
  });

  it('q5_0 weights (no MatMulNBits form: decoded to float32 at prepare, the reference on the same decoded values)', async () => {
    const { check } = await runChecked(backend, mixtral, { tokens: 20, seed: 53, dtype: 'q5_0' });
    expectPass(check);
  });

  it('experts with zero routed rows (2 tokens over 16 experts)', async () => {
    const config: MoELayerConfig = { hiddenSize: 64, numExperts: 16, topK: 1, expert: { kind: 'swiglu', ffnSize: 64 }, router: { name: 'topk-softmax' } };
    for (const b of [backend, perExpert]) {
      const { check, tokensPerExpert } = await runChecked(b, config, { tokens: 2, seed: 61 });
      expectPass(check);
      expect([...tokensPerExpert].filter((n) => n === 0).length).toBeGreaterThanOrEqual(14);
    }
  });

  it('a group split over several graphs (maxGraphBytes) gives the same numbers', async () => {
    // One expert here holds 3 x 64 x 96 x 4 bytes = 73728: three per graph -> three graphs.
    const split = await OnnxBackend.create({ intraOpThreads: 1, maxGraphBytes: 3 * 73728 });
    try {
      const { check } = await runChecked(split, mixtral, { tokens: 24, seed: 13 });
      expectPass(check);
    } finally {
      await split.dispose();
    }
  });

  it('zero tokens give an empty output on both layouts', async () => {
    const config: MoELayerConfig = { ...mixtral, sharedExperts: { ffnSize: 32, gated: true } };
    for (const b of [backend, perExpert]) {
      const { check, tokensPerExpert } = await runChecked(b, config, { tokens: 0, seed: 81 });
      expect(check.passed).toBe(true);
      expect([...tokensPerExpert]).toEqual(new Array(8).fill(0));
    }
  });

  it('a single token (decode)', async () => {
    const { check } = await runChecked(backend, mixtral, { tokens: 1, seed: 71 });
    expectPass(check);
  });
});
