/** The validators every backend's prepareExperts / prepareLinear call first (core weights.ts). */
import { describe, expect, it } from 'vitest';
import { ConfigError, HostTensor, randomWeights, routedExpertGroup, ShapeError, validateExpertGroup, validateLinearWeights, type MoELayerConfig } from '../src/index.js';

const config: MoELayerConfig = { hiddenSize: 8, numExperts: 3, topK: 2, expert: { kind: 'swiglu', ffnSize: 12, bias: true }, router: { name: 'topk-softmax' } };

describe('validateExpertGroup', () => {
  const group = routedExpertGroup(config, randomWeights(config, { seed: 3 }));
  const withExpert = (j: number, patch: object) => ({ ...group, experts: group.experts.map((e, i) => (i === j ? { ...e, ...patch } : e)) });

  it('accepts a well-formed group', () => {
    expect(() => validateExpertGroup(group)).not.toThrow();
  });

  it.each([
    ['a wrong shape', withExpert(2, { down: HostTensor.float32([8, 11]) }), /experts\[2\]\.down has shape \[8, 11\], expected \[8, 12\]/],
    ['a missing gate', withExpert(0, { gate: undefined }), /experts\[0\]\.gate is missing; SwiGLU experts need gate \[12, 8\]/],
    ['a gate on a gelu group', { ...group, kind: 'gelu' as const }, /experts\[0\]\.gate is present but gelu experts have no gate projection/],
    ['a plain array for a tensor', withExpert(1, { up: new Float32Array(96) }), /experts\[1\]\.up: expected a HostTensor \[12, 8\], got Float32Array/],
    ['a wrong bias', withExpert(1, { upBias: HostTensor.float32([3]) }), /experts\[1\]\.upBias has shape \[3\], expected \[12\]/],
  ])('refuses %s with a ShapeError naming the tensor', (_, bad, message) => {
    expect(() => validateExpertGroup(bad)).toThrow(ShapeError);
    expect(() => validateExpertGroup(bad)).toThrow(message);
  });

  it.each([
    [{ ...group, kind: 'tanh' as never }, 'experts.kind'],
    [{ ...group, ffnSize: 0 }, 'experts.ffnSize'],
    [{ ...group, hiddenSize: 2.5 }, 'experts.hiddenSize'],
    [{ ...group, experts: [] }, 'experts.experts'],
  ])('refuses a bad group field with a ConfigError naming %#', (bad, field) => {
    const err = (() => {
      try {
        validateExpertGroup(bad);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe(field);
  });
});

describe('validateLinearWeights', () => {
  it('accepts [out, in] with an optional [out] bias and names linear.weight / linear.bias otherwise', () => {
    expect(() => validateLinearWeights({ weight: HostTensor.float32([4, 3]), bias: HostTensor.float32([4]) })).not.toThrow();
    expect(() => validateLinearWeights({ weight: HostTensor.float32([4, 3]), bias: HostTensor.float32([3]) })).toThrow(/linear\.bias has shape \[3\], expected \[4\]/);
    expect(() => validateLinearWeights({ weight: HostTensor.float32([0, 3]) })).toThrow(/linear\.weight has shape \[0, 3\]; expected positive dimensions/);
    expect(() => validateLinearWeights({ weight: HostTensor.float32([12]) })).toThrow(/linear\.weight: expected a 2-D HostTensor \[out, in\], got shape \[12\]/);
    expect(() => validateLinearWeights({ weight: HostTensor.float32([4, 3]), bias: new Float32Array(4) as never })).toThrow(/linear\.bias: expected a HostTensor \[4\], got Float32Array/);
    expect(() => validateLinearWeights(undefined as never)).toThrow(ShapeError);
  });
});
