/**
 * The cross-validation cases every engine runs: small shapes (fast on a loaded machine),
 * fresh seeded weights and inputs, checked against core's float64 reference.
 */
import { expect, it } from 'vitest';
import { checkAgainstReference, HostTensor, MoELayer, randomInput, randomWeights, type DType, type MoEWeights, type MoELayerConfig } from '@moe-runtime/core';
import { TfjsBackend } from '../src/index.js';
import { tf } from '../src/tf.js';

/** One case: a config, its storage dtype and its token count. */
export interface Case {
  readonly name: string;
  readonly config: MoELayerConfig;
  readonly tokens: number;
  readonly dtype?: DType;
  /** Multiplies the first projections (gate, up): pre-activations past the clamped SwiGLU's limit. */
  readonly scaleFirst?: number;
  /** The case must drop tokens (capacity routing). */
  readonly expectDrops?: boolean;
}

const swiglu = (ffnSize: number): MoELayerConfig['expert'] => ({ kind: 'swiglu', ffnSize });

export const CASES: readonly Case[] = [
  { name: 'E=8/k=2 SwiGLU (Mixtral-like)', tokens: 13, config: { hiddenSize: 32, numExperts: 8, topK: 2, expert: swiglu(48), router: { name: 'topk-softmax' } } },
  {
    name: 'switch E=16/k=1 with capacity (tokens dropped)',
    tokens: 40,
    expectDrops: true,
    config: { hiddenSize: 24, numExperts: 16, topK: 1, expert: swiglu(40), router: { name: 'switch', options: { capacityFactor: 1.0 } } },
  },
  {
    name: 'E=64/k=6 with 2 gated shared experts (DeepSeek/Qwen-like)',
    tokens: 24,
    config: {
      hiddenSize: 32,
      numExperts: 64,
      topK: 6,
      expert: swiglu(16),
      sharedExperts: { count: 2, ffnSize: 40, gated: true },
      router: { name: 'topk-softmax', options: { renormalize: false } },
    },
  },
  { name: 'GELU with biases', tokens: 11, config: { hiddenSize: 24, numExperts: 4, topK: 2, expert: { kind: 'gelu', ffnSize: 56, bias: true }, router: { name: 'topk-softmax' } } },
  { name: 'ReLU with biases', tokens: 11, config: { hiddenSize: 24, numExperts: 4, topK: 2, expert: { kind: 'relu', ffnSize: 56, bias: true }, router: { name: 'topk-softmax' } } },
  { name: 'clamped SwiGLU (gpt-oss) with biases', tokens: 11, config: { hiddenSize: 24, numExperts: 4, topK: 2, expert: { kind: 'clamped-swiglu', ffnSize: 56, bias: true }, router: { name: 'topk-softmax' } } },
  { name: 'clamped SwiGLU with biases, clamps active', tokens: 11, scaleFirst: 25, config: { hiddenSize: 24, numExperts: 4, topK: 2, expert: { kind: 'clamped-swiglu', ffnSize: 56, bias: true }, router: { name: 'topk-softmax' } } },
  { name: 'float16 weights', tokens: 9, dtype: 'float16', config: { hiddenSize: 32, numExperts: 8, topK: 2, expert: swiglu(48), router: { name: 'topk-softmax' } } },
  { name: 'bfloat16 weights', tokens: 9, dtype: 'bfloat16', config: { hiddenSize: 32, numExperts: 8, topK: 2, expert: swiglu(48), router: { name: 'topk-softmax' } } },
  // Block formats are decoded to float32 at prepare (core's exact decode): q5_0's rows of 32-value blocks.
  { name: 'q5_0 weights (decoded at prepare)', tokens: 9, dtype: 'q5_0', config: { hiddenSize: 64, numExperts: 8, topK: 2, expert: swiglu(96), router: { name: 'topk-softmax' } } },
];

function scaledFirst(w: MoEWeights, by: number): MoEWeights {
  if (by === 1) return w;
  const scale = (t: HostTensor): HostTensor => HostTensor.float32(t.shape, t.toFloat32().map((v) => v * by));
  return { ...w, experts: w.experts.map((e) => ({ ...e, gate: e.gate && scale(e.gate), up: scale(e.up) })) };
}

/** Registers one `it` per case on a backend the suite creates (`getBackend`). */
export function crossValidationCases(getBackend: () => TfjsBackend, seedBase: number): void {
  CASES.forEach((c, i) => {
    it(`${c.name} matches the float64 reference (maxRelL2 1e-5)`, async () => {
      const weights = scaledFirst(randomWeights(c.config, { seed: seedBase + 17 * i, dtype: c.dtype }), c.scaleFirst ?? 1);
      const x = randomInput(c.tokens, c.config.hiddenSize, seedBase + 17 * i + 1);
      const layer = await MoELayer.create({ config: c.config, weights, backend: getBackend() });
      try {
        const before = tf.memory().numTensors;
        const result = await layer.forward(x);
        expect(tf.memory().numTensors).toBe(before);
        if (c.expectDrops) expect(result.plan.dropped.token.length).toBeGreaterThan(0);
        const check = checkAgainstReference(c.config, weights, x, result, { maxRelL2: 1e-5 });
        expect(check.failures).toEqual([]);
        expect(check.passed).toBe(true);
        expect(check.relL2).toBeLessThan(1e-5);
      } finally {
        layer.dispose();
      }
    });
  });
}
