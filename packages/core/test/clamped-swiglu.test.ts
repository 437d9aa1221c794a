/** gpt-oss's clamped SwiGLU kind: its gated unit by hand (modeling_gpt_oss `GptOssExperts.forward`) and its validation. */
import { describe, expect, it } from 'vitest';
import { CLAMPED_SWIGLU_ALPHA, CLAMPED_SWIGLU_LIMIT, clampedSwiglu, gatedUnitOf, isGatedKind, validateExpertGroup, HostTensor } from '../src/index.js';

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

describe('clamped-swiglu', () => {
  it('computes (clamp(u, -7, 7) + 1) * g * sigmoid(1.702 g) with g = min(gate, 7)', () => {
    expect([CLAMPED_SWIGLU_LIMIT, CLAMPED_SWIGLU_ALPHA]).toEqual([7, 1.702]);
    expect(clampedSwiglu(0.5, -0.25)).toBeCloseTo(0.75 * 0.5 * sig(0.851), 15);
    // Gate clamped above only; up clamped on both sides.
    expect(clampedSwiglu(10, 10)).toBeCloseTo(8 * 7 * sig(7 * 1.702), 14);
    expect(clampedSwiglu(-10, -10)).toBeCloseTo(-6 * -10 * sig(-17.02), 14);
    expect(gatedUnitOf('clamped-swiglu')).toBe(clampedSwiglu);
    expect(gatedUnitOf('swiglu')(1, 2)).toBeCloseTo(2 * sig(1), 15);
  });

  it('is a gated kind: a group without gate weights is refused naming the tensor', () => {
    expect(isGatedKind('clamped-swiglu')).toBe(true);
    const t = (s: number[]): HostTensor => HostTensor.float32(s, Float32Array.from({ length: s[0] * (s[1] ?? 1) }, (_, i) => Math.sin(i)));
    expect(() => validateExpertGroup({ kind: 'clamped-swiglu', hiddenSize: 4, ffnSize: 3, experts: [{ up: t([3, 4]), down: t([4, 3]) }] })).toThrow(/experts\[0\]\.gate is missing; clamped-swiglu experts need gate \[3, 4\]/);
  });
});
