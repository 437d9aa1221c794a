import {
  BackendError,
  compareOutputs,
  ConfigError,
  denseRoutingPlan,
  HostTensor,
  InvalidInputError,
  randomInput,
  randomWeights,
  referenceExperts,
  routedExpertGroup,
  ShapeError,
  type MoELayerConfig,
} from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { createCpuBackend, resolveCpuOptions } from '../src/index.js';

const config: MoELayerConfig = { hiddenSize: 8, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 12 }, router: { name: 'topk-softmax' } };

describe('options', () => {
  it('rejects bad options with a ConfigError naming backend.options.<key>', () => {
    expect(() => resolveCpuOptions({ threads: 0 })).toThrow(ConfigError);
    expect(() => resolveCpuOptions({ threads: 1.5 })).toThrow(/backend\.options\.threads/);
    expect(() => resolveCpuOptions({ threads: '2' })).toThrow(/backend\.options\.threads/);
    expect(() => resolveCpuOptions({ simd: 'avx' })).toThrow(/backend\.options\.simd: expected one of/);
    expect(() => resolveCpuOptions({ fast: true })).toThrow(/backend\.options\.fast/);
    const err = (() => {
      try {
        resolveCpuOptions({ simd: 3 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('backend.options.simd');
  });

  it('fills in defaults', () => {
    const r = resolveCpuOptions({});
    expect(r.simd).toBe('auto');
    expect(r.threads).toBeGreaterThanOrEqual(1);
  });
});

describe('bad inputs', () => {
  it('rejects handles prepared by another backend, wrong x lengths and disposed handles', async () => {
    const a = await createCpuBackend({ simd: 'none' });
    const b = await createCpuBackend({ simd: 'none' });
    try {
      const weights = randomWeights(config, { seed: 5 });
      const experts = await a.prepareExperts(routedExpertGroup(config, weights));
      const lin = await a.prepareLinear({ weight: weights.router });
      const plan = denseRoutingPlan(3, 4);
      const x = randomInput(3, 8, 7).data;
      await expect(b.runExperts(experts, x, plan)).rejects.toThrow(BackendError);
      await expect(b.linear(lin, x, 3)).rejects.toThrow(/not prepared by this 'cpu' backend/);
      await expect(a.runExperts(experts, x.subarray(1), plan)).rejects.toThrow(ShapeError);
      await expect(a.linear(lin, x.subarray(1), 3)).rejects.toThrow(ShapeError);
      await expect(a.runExperts(experts, x, denseRoutingPlan(3, 5))).rejects.toThrow(/plan.numExperts/);
      const badToken = { ...plan, rowToken: plan.rowToken.map((t, i) => (i === 5 ? 3 : t)) };
      await expect(a.runExperts(experts, x, badToken)).rejects.toThrow(/plan.rowToken\[5\] is 3/);
      const badRows = { ...plan, tokenRows: plan.tokenRows.map((r, i) => (i === 2 ? -1 : r)) };
      await expect(a.runExperts(experts, x, badRows)).rejects.toThrow(ShapeError);
      // Every other plan field: offsets, duplicate or misplaced rows, weights. The wasm engine
      // would read arena memory another layer wrote; the combine would sum the wrong rows.
      const inconsistent: [string, object, RegExp][] = [
        ['expertOffsets not starting at 0', { expertOffsets: Int32Array.of(1, 3, 6, 9, 12) }, /plan\.expertOffsets/],
        ['decreasing expertOffsets', { expertOffsets: Int32Array.of(0, 5, 3, 9, 12) }, /plan\.expertOffsets/],
        ['tokenOffsets out of order', { tokenOffsets: Int32Array.of(0, 8, 4, 12) }, /plan\.tokenOffsets/],
        ['tokenRows listing a row twice', { tokenRows: plan.tokenRows.map((r, i) => (i === 1 ? plan.tokenRows[0] : r)) }, /plan\.tokenRows\[1\]/],
        ['tokenRows listing another token\'s row', { tokenRows: plan.tokenRows.map((r, i) => (i === 0 ? plan.tokenRows[4] : i === 4 ? plan.tokenRows[0] : r)) }, /plan\.tokenRows\[0\]/],
        ['short rowWeight', { rowWeight: plan.rowWeight.subarray(1) }, /plan\.rowWeight/],
        ['tokensPerExpert disagreeing with expertOffsets', { tokensPerExpert: Int32Array.of(3, 3, 4, 2) }, /plan\.tokensPerExpert\[2\] is 4, expected 3/],
      ];
      for (const [what, patch, message] of inconsistent) {
        const err = await a.runExperts(experts, x, { ...plan, ...patch }).catch((e: unknown) => e);
        expect(err, what).toBeInstanceOf(ShapeError);
        expect((err as Error).message, what).toMatch(message);
      }
      await expect(a.runExperts(experts, x, null as never)).rejects.toThrow(ShapeError);
      await expect(a.runExperts(experts, x, { ...plan, rowWeight: plan.rowWeight.map((v, i) => (i === 1 ? NaN : v)) })).rejects.toThrow(InvalidInputError);
      expect((await a.runExperts(experts, new Float32Array(0), denseRoutingPlan(0, 4))).length).toBe(0);
      // The valid plan still runs, and right.
      expect(compareOutputs(await a.runExperts(experts, x, plan), referenceExperts(routedExpertGroup(config, weights), x, plan)).relL2).toBeLessThan(1e-5);
      experts.dispose();
      await expect(a.runExperts(experts, x, plan)).rejects.toThrow(/disposed/);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('rejects mis-shaped weights with a ShapeError naming the tensor', async () => {
    const a = await createCpuBackend({ simd: 'none' });
    try {
      const weights = randomWeights(config, { seed: 6 });
      const group = routedExpertGroup(config, weights);
      const broken = { ...group, experts: group.experts.map((e, j) => (j === 2 ? { ...e, down: HostTensor.float32([8, 11]) } : e)) };
      await expect(a.prepareExperts(broken)).rejects.toThrow(/experts\[2\]\.down has shape \[8, 11\], expected \[8, 12\]/);
      await expect(a.prepareExperts({ ...group, kind: 'tanh' as never })).rejects.toThrow(ConfigError);
      await expect(a.prepareExperts({ ...group, experts: [] })).rejects.toThrow(/experts\.experts: expected a non-empty array/);
      await expect(a.prepareLinear({ weight: HostTensor.float32([4, 8]), bias: HostTensor.float32([5]) })).rejects.toThrow(/linear\.bias has shape \[5\], expected \[4\]/);
    } finally {
      await a.dispose();
    }
  });
});
