import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  buildRoutingPlan,
  checkAgainstReference,
  createRng,
  HostTensor,
  MoELayer,
  randomInput,
  randomNormal,
  randomWeights,
  referenceExperts,
  type MoELayerConfig,
} from '@moe-runtime/core';
import { TypedKernel } from '../src/typed-kernel.js';
import { createGpuJsBackend, type GpuJsBackend } from '../src/index.js';
import { suiteModes } from './available-modes.js';

// Measured rel-L2 against the float64 reference (2026-12-02): webasm, webgpu and the worker pool
// 1.7e-7 to 6.3e-7, cpu 4e-8 to 8e-8 (headlessgl 2e-7 to 9e-7 by hand, see the README);
// asserted 1e-5, about 10x the worst: the float32-backend bound of the numerics policy.
const MAX_REL_L2 = 1e-5;

const modes = await suiteModes();

/** float64 y = x W^T + b. */
function linearRef(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, out: number, inF: number): Float64Array {
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let s = b[o];
      for (let d = 0; d < inF; d++) s += x[r * inF + d] * w[o * inF + d];
      y[r * out + o] = s;
    }
  }
  return y;
}

function relL2(a: Float32Array, b: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

for (const m of modes) {
  describe.skipIf(!m.available)(`gpujs ${m.mode} kernels${m.available ? '' : ` (skipped: ${m.reason})`}`, () => {
    let backend: GpuJsBackend;
    let small: GpuJsBackend;
    const get = async () => (backend ??= await createGpuJsBackend({ mode: m.mode }));
    afterAll(async () => {
      await backend?.dispose();
      await small?.dispose();
    });

    it('a reduction over 1500 inputs is not truncated at loopMaxIterations (1000), single rows and row quads', async () => {
      const rng = createRng(77 + m.mode.length);
      const [out, inF] = [6, 1500];
      const w = randomNormal(rng, out * inF, 1 / Math.sqrt(inF));
      const b = randomNormal(rng, out, 0.1);
      const layer = await (await get()).prepareLinear({ weight: HostTensor.float32([out, inF], w), bias: HostTensor.float32([out], b) });
      // 1-2 rows run the single-row kernels, 3+ the row-quad kernels (5: one full quad + 1).
      for (const rows of [1, 2, 5]) {
        // A tail only the last 500 inputs see: a truncated loop would miss it entirely.
        const x = randomNormal(rng, rows * inF);
        for (let r = 0; r < rows; r++) for (let d = 1000; d < inF; d++) x[r * inF + d] *= 8;
        const y = await (await get()).linear(layer, x, rows);
        expect(relL2(y, linearRef(x, w, b, rows, out, inF))).toBeLessThan(1e-5);
      }
      layer.dispose();
    });

    it('an expert down projection over F = 1100 matches the reference', async () => {
      const config: MoELayerConfig = { hiddenSize: 12, numExperts: 3, topK: 1, expert: { kind: 'relu', ffnSize: 1100 }, router: { name: 'topk-softmax' } };
      const weights = randomWeights(config, { seed: 91 });
      const layer = await MoELayer.create({ config, weights, backend: await get() });
      const x = randomInput(6, 12, 92);
      const check = checkAgainstReference(config, weights, x, await layer.forward(x), { maxRelL2: MAX_REL_L2 });
      expect(check.failures).toEqual([]);
      layer.dispose();
    });

    it('splits weights and row blocks to fit a small binding limit and still matches', async () => {
      small ??= await createGpuJsBackend({ mode: m.mode, maxBindingBytes: 4096 });
      expect(small.maxBindingBytes).toBe(4096);
      // gate/up: 256 bytes per column -> 16 columns per chunk (3 chunks); rows in blocks of 20.
      const config: MoELayerConfig = { hiddenSize: 32, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 48, bias: true }, router: { name: 'topk-softmax' } };
      const weights = randomWeights(config, { seed: 93 });
      const layer = await MoELayer.create({ config, weights, backend: small });
      const x = randomInput(48, 32, 94);
      const result = await layer.forward(x);
      expect(Math.max(...result.plan.tokensPerExpert)).toBeGreaterThan(20);
      const check = checkAgainstReference(config, weights, x, result, { maxRelL2: MAX_REL_L2 });
      expect(check.failures).toEqual([]);
      layer.dispose();
    });

    it('calls accepted before a handle is disposed still complete on its weights (device buffers are released behind them)', async () => {
      const b = await get();
      const config: MoELayerConfig = { hiddenSize: 16, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 24 }, router: { name: 'topk-softmax' } };
      const group = { kind: 'swiglu' as const, hiddenSize: 16, ffnSize: 24, experts: randomWeights(config, { seed: 111 }).experts };
      const experts = await b.prepareExperts(group);
      const x = randomInput(6, 16, 112).data as Float32Array;
      const plan = buildRoutingPlan({ token: Int32Array.from([0, 1, 2, 3, 4, 5, 0]), expert: Int32Array.from([0, 1, 1, 3, 0, 1, 3]), weight: randomNormal(createRng(113), 7) }, 6, 4);
      const pending = [b.runExperts(experts, x, plan), b.runExperts(experts, x, plan)];
      experts.dispose();
      await expect(b.runExperts(experts, x, plan)).rejects.toThrow(/disposed/);
      const ref = referenceExperts(group, x, plan);
      for (const y of await Promise.all(pending)) expect(relL2(y, Float64Array.from(ref))).toBeLessThan(1e-5);
    });

    it("one call's result is never overwritten by the next", async () => {
      const config: MoELayerConfig = { hiddenSize: 16, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 24 }, router: { name: 'topk-softmax' } };
      const weights = randomWeights(config, { seed: 95 });
      const layer = await MoELayer.create({ config, weights, backend: await get() });
      const x1 = randomInput(8, 16, 96);
      const x2 = randomInput(8, 16, 97);
      const r1 = await layer.forward(x1);
      const kept = r1.output.data.slice();
      const keptLogits = r1.logits.slice();
      const [r2, r3] = await Promise.all([layer.forward(x2), layer.forward(x1)]);
      expect(r1.output.data).toEqual(kept);
      expect(r1.logits).toEqual(keptLogits);
      expect(r2.output.data).not.toEqual(kept);
      expect(r3.output.data).toEqual(kept);
      expect(checkAgainstReference(config, weights, x2, r2, { maxRelL2: MAX_REL_L2 }).passed).toBe(true);
      layer.dispose();
    });
  });
}

describe('gpujs webasm with worker threads', () => {
  it('matches the reference when kernels run on the worker pool, and disposes cleanly', async () => {
    const backend = await createGpuJsBackend({ mode: 'webasm', threads: true });
    expect(backend.engine).toContain('worker threads');
    // 1024 output columns x 5 row quads per expert: over gpu.js's 4096-cell threading threshold.
    const config: MoELayerConfig = { hiddenSize: 64, numExperts: 2, topK: 1, expert: { kind: 'swiglu', ffnSize: 1024 }, router: { name: 'topk-softmax' } };
    const weights = randomWeights(config, { seed: 98 });
    const layer = await MoELayer.create({ config, weights, backend });
    const x = randomInput(40, 64, 99);
    const check = checkAgainstReference(config, weights, x, await layer.forward(x), { maxRelL2: MAX_REL_L2 });
    expect(check.failures).toEqual([]);
    layer.dispose();
    await backend.dispose();
  });
});

describe('gpujs computes only routed rows', () => {
  it('runs kernels only for experts with rows, over exactly their rows (padded to whole row quads)', async () => {
    const backend = await createGpuJsBackend({ mode: 'cpu' });
    const [d, f, e] = [16, 24, 8];
    const config: MoELayerConfig = { hiddenSize: d, numExperts: e, topK: 1, expert: { kind: 'swiglu', ffnSize: f }, router: { name: 'topk-softmax' } };
    const weights = randomWeights(config, { seed: 101 });
    const experts = await backend.prepareExperts({ kind: 'swiglu', hiddenSize: d, ffnSize: f, experts: weights.experts });
    // 7 tokens: 5 to expert 2, 2 to expert 6; the other 6 experts get nothing.
    const token = Int32Array.from([0, 1, 2, 3, 4, 5, 6]);
    const expert = Int32Array.from([2, 6, 2, 2, 6, 2, 2]);
    const weight = randomNormal(createRng(103), 7);
    const plan = buildRoutingPlan({ token, expert, weight }, 7, e);
    const x = randomInput(7, d, 102).data as Float32Array;
    const spy = vi.spyOn(TypedKernel.prototype, 'run');
    let y: Float32Array;
    let runs: { name: string; cells: number }[];
    try {
      y = await backend.runExperts(experts, x, plan);
      runs = spy.mock.calls.map(([output], i) => {
        const k = spy.mock.contexts[i] as TypedKernel;
        return { name: k.spec.name, cells: output.reduce((a, b) => a * b, 1) * k.spec.components };
      });
    } finally {
      spy.mockRestore();
    }
    // Expert 2: 5 rows -> 2 row quads (8 row slots); expert 6: 2 rows -> single-row kernels.
    expect(runs).toEqual([
      { name: `swiglu ${d}x${f} quad`, cells: 8 * f },
      { name: `linear ${f}x${d} quad`, cells: 8 * d },
      { name: `swiglu ${d}x${f}`, cells: 2 * f },
      { name: `linear ${f}x${d}`, cells: 2 * d },
    ]);
    // And the result is the float64 reference of those rows, weighted.
    const ref = referenceExperts({ kind: 'swiglu', hiddenSize: d, ffnSize: f, experts: weights.experts }, x, plan);
    let num = 0;
    let den = 0;
    for (let i = 0; i < ref.length; i++) {
      num += (y[i] - ref[i]) ** 2;
      den += ref[i] ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
    experts.dispose();
    await backend.dispose();
  });
});
