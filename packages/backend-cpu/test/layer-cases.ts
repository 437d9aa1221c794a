/**
 * The cross-validation cases every engine of the CPU backend must pass: fresh seeded layers
 * through MoELayer (routing included), checked against core's float64 reference.
 */
import {
  checkAgainstReference,
  HostTensor,
  MoELayer,
  randomInput,
  randomWeights,
  type Backend,
  type DType,
  type MoELayerConfig,
  type MoEWeights,
} from '@moe-runtime/core';
import { expect, it } from 'vitest';

/** One cross-validation case. */
export interface LayerCase {
  readonly name: string;
  readonly config: MoELayerConfig;
  readonly tokens: number;
  readonly dtype?: DType;
  /** Multiplies the first projections (gate, up) so pre-activations span a wide range. */
  readonly scaleFirst?: number;
}

const D = 40; // not a multiple of 16: exercises the padded panel edges
const F = 56;

function layer(kind: 'swiglu' | 'gelu' | 'relu' | 'clamped-swiglu', e: number, k: number, extra: Partial<MoELayerConfig> = {}, bias = false): MoELayerConfig {
  return { hiddenSize: D, numExperts: e, topK: k, expert: { kind, ffnSize: F, bias }, router: { name: 'topk-softmax' }, ...extra };
}

/** The cases named in the brief: expert counts, routers, kinds, biases, shared experts, half weights. */
export const LAYER_CASES: readonly LayerCase[] = [
  { name: 'E=8 k=2 SwiGLU', config: layer('swiglu', 8, 2), tokens: 13 },
  { name: 'E=8 k=2 SwiGLU, one token (decode)', config: layer('swiglu', 8, 2), tokens: 1 },
  { name: 'E=16 k=1 switch router (capacity drops)', config: { ...layer('swiglu', 16, 1), router: { name: 'switch', options: { capacityFactor: 1 } } }, tokens: 37 },
  { name: 'E=64 k=6 SwiGLU', config: layer('swiglu', 64, 6), tokens: 21 },
  { name: 'E=8 k=2 GELU with biases', config: layer('gelu', 8, 2, {}, true), tokens: 17 },
  { name: 'E=8 k=2 ReLU with biases', config: layer('relu', 8, 2, {}, true), tokens: 11 },
  { name: 'E=8 k=2 SwiGLU with biases', config: layer('swiglu', 8, 2, {}, true), tokens: 9 },
  { name: 'E=8 k=2 SwiGLU + 2 shared experts', config: layer('swiglu', 8, 2, { sharedExperts: { count: 2, ffnSize: 24 } }), tokens: 15 },
  { name: 'E=16 k=2 GELU + gated shared expert', config: layer('gelu', 16, 2, { sharedExperts: { count: 1, ffnSize: 72, gated: true } }), tokens: 19 },
  { name: 'E=8 k=2 SwiGLU, float16 weights', config: layer('swiglu', 8, 2), tokens: 12, dtype: 'float16' },
  { name: 'E=8 k=2 GELU with biases, bfloat16 weights', config: layer('gelu', 8, 2, {}, true), tokens: 12, dtype: 'bfloat16' },
  {
    name: 'E=4 k=2 SwiGLU with biases, D=272 F=300 (several K blocks, partial panels)',
    config: { hiddenSize: 272, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 300, bias: true }, router: { name: 'topk-softmax' } },
    tokens: 6,
  },
  { name: 'E=4 k=2 SwiGLU, pre-activations up to about +-100 (exp range)', config: layer('swiglu', 4, 2), tokens: 8, scaleFirst: 25 },
  { name: 'E=4 k=2 GELU with biases, pre-activations up to about +-100', config: layer('gelu', 4, 2, {}, true), tokens: 8, scaleFirst: 25 },
  { name: 'E=8 k=2 clamped SwiGLU (gpt-oss) with biases', config: layer('clamped-swiglu', 8, 2, {}, true), tokens: 13 },
  { name: 'E=4 k=2 clamped SwiGLU with biases, pre-activations past the limit 7 (clamps active)', config: layer('clamped-swiglu', 4, 2, {}, true), tokens: 8, scaleFirst: 25 },
];

function scaled(t: HostTensor | undefined, by: number): HostTensor | undefined {
  return t && HostTensor.float32(t.shape, t.toFloat32().map((v) => v * by));
}

function scaleFirst(weights: MoEWeights, by: number): MoEWeights {
  return { ...weights, experts: weights.experts.map((e) => ({ ...e, gate: scaled(e.gate, by), up: scaled(e.up, by)! })) };
}

/** Registers one `it` per case, running on the backend `get` returns. */
export function itPassesLayerCases(get: () => Backend, seed: number): void {
  LAYER_CASES.forEach((c, i) => {
    it(`${c.name} matches the float64 reference`, async () => {
      const drawn = randomWeights(c.config, { seed: seed + 97 * i, dtype: c.dtype });
      const weights = c.scaleFirst ? scaleFirst(drawn, c.scaleFirst) : drawn;
      const x = randomInput(c.tokens, c.config.hiddenSize, seed + 97 * i + 1);
      const moe = await MoELayer.create({ config: c.config, weights, backend: get() });
      try {
        const result = await moe.forward(x);
        const check = checkAgainstReference(c.config, weights, x, result, { maxRelL2: 1e-5 });
        expect(check.failures).toEqual([]);
        expect(check.passed).toBe(true);
        expect(check.relL2).toBeLessThan(1e-5);
      } finally {
        moe.dispose();
      }
    });
  });
}
