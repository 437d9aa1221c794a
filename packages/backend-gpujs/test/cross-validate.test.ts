import { afterAll, describe, expect, it } from 'vitest';
import { checkAgainstReference, HostTensor, MoELayer, randomInput, randomWeights, type DType, type MoELayerConfig, type MoEWeights } from '@moe-runtime/core';
import { sparseDispatch } from '@moe-runtime/core/testing';
import { createGpuJsBackend, type GpuJsBackend } from '../src/index.js';
import { suiteModes } from './available-modes.js';

const modes = await suiteModes();

// Measured rel-L2 against the float64 reference (2026-12-02): webasm, webgpu and the worker pool
// 1.7e-7 to 6.3e-7, cpu 4e-8 to 8e-8 (headlessgl 2e-7 to 9e-7 by hand, see the README);
// asserted 1e-5, about 10x the worst: the float32-backend bound of the numerics policy.
const MAX_REL_L2 = 1e-5;

/** Multiplies the first projections (gate, up): pre-activations past the clamped SwiGLU's limit. */
function scaledFirst(w: MoEWeights, by: number): MoEWeights {
  if (by === 1) return w;
  const scale = (t: HostTensor): HostTensor => HostTensor.float32(t.shape, t.toFloat32().map((v) => v * by));
  return { ...w, experts: w.experts.map((e) => ({ ...e, gate: e.gate && scale(e.gate), up: scale(e.up) })) };
}

const cases: { name: string; config: MoELayerConfig; tokens: number; scaleFirst?: number; dtype?: DType }[] = [
  { name: 'E=8 k=2 SwiGLU (Mixtral-style)', config: { hiddenSize: 40, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 56 }, router: { name: 'topk-softmax' } }, tokens: 19 },
  {
    name: 'switch E=16 k=1 with capacity drops',
    config: { hiddenSize: 32, numExperts: 16, topK: 1, expert: { kind: 'swiglu', ffnSize: 48 }, router: { name: 'switch', options: { capacityFactor: 1.0 } } },
    tokens: 37,
  },
  {
    name: 'shared experts (gated, Qwen2-MoE style)',
    config: { hiddenSize: 32, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 40, bias: true }, sharedExperts: { count: 2, ffnSize: 64, gated: true }, router: { name: 'topk-softmax' } },
    tokens: 11,
  },
  { name: 'GELU experts with biases', config: { hiddenSize: 36, numExperts: 8, topK: 2, expert: { kind: 'gelu', ffnSize: 52, bias: true }, router: { name: 'topk-softmax' } }, tokens: 14 },
  { name: 'clamped SwiGLU experts (gpt-oss) with biases', config: { hiddenSize: 36, numExperts: 8, topK: 2, expert: { kind: 'clamped-swiglu', ffnSize: 52, bias: true }, router: { name: 'topk-softmax' } }, tokens: 14 },
  { name: 'clamped SwiGLU experts, clamps active, decode rows', config: { hiddenSize: 36, numExperts: 4, topK: 2, expert: { kind: 'clamped-swiglu', ffnSize: 52, bias: true }, router: { name: 'topk-softmax' } }, tokens: 2, scaleFirst: 25 },
  { name: 'ReLU experts', config: { hiddenSize: 28, numExperts: 6, topK: 3, expert: { kind: 'relu', ffnSize: 44 }, router: { name: 'topk-softmax' } }, tokens: 10 },
  // Block formats are decoded to float32 at prepare (core's exact decode); the reference sees the same values.
  { name: 'q5_0 weights (decoded at prepare)', config: { hiddenSize: 64, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 96 }, router: { name: 'topk-softmax' } }, tokens: 9, dtype: 'q5_0' },
];

for (const m of modes) {
  describe.skipIf(!m.available)(`gpujs ${m.mode} against the float64 reference${m.available ? '' : ` (skipped: ${m.reason})`}`, () => {
    let backend: GpuJsBackend;
    const get = async () => (backend ??= await createGpuJsBackend({ mode: m.mode }));
    afterAll(async () => backend?.dispose());

    it('reports the mode it runs in', async () => {
      const b = await get();
      expect(b.mode).toBe(m.mode);
      expect(b.engine).toContain(`gpu.js ${m.mode}`);
    });

    it('launches kernels only for experts with rows, each over its own rows (expertWork hook)', async () => {
      const r = await sparseDispatch(await get(), { numExperts: 16 });
      expect([r.launched, r.computedRows, r.relL2 < MAX_REL_L2]).toEqual([r.routed, r.planRows, true]);
    });

    cases.forEach((c, i) => {
      it(c.name, async () => {
        const seed = 1000 + i * 17 + m.mode.length;
        const weights = scaledFirst(randomWeights(c.config, { seed, dtype: c.dtype }), c.scaleFirst ?? 1);
        const layer = await MoELayer.create({ config: c.config, weights, backend: await get() });
        const x = randomInput(c.tokens, c.config.hiddenSize, seed + 1);
        const result = await layer.forward(x);
        const check = checkAgainstReference(c.config, weights, x, result, { maxRelL2: MAX_REL_L2 });
        expect(check.failures).toEqual([]);
        expect(check.passed).toBe(true);
        expect(check.routingAgreement + check.nearTies / c.tokens).toBeGreaterThanOrEqual(1);
        if (c.config.router.name === 'switch') expect(result.plan.dropped.token.length).toBeGreaterThan(0);
        layer.dispose();
      });
    });
  });
}
