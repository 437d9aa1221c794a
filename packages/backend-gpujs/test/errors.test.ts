import { afterAll, describe, expect, it } from 'vitest';
import {
  BackendError,
  ConfigError,
  denseRoutingPlan,
  getBackend,
  HostTensor,
  InvalidInputError,
  listBackends,
  randomNormal,
  createRng,
  ShapeError,
  compareOutputs,
  referenceExperts,
} from '@moe-runtime/core';
import { resolveDisposeResolve } from '@moe-runtime/core/testing';
import { chooseMode, createGpuJsBackend, probeMode, type GpuJsBackend } from '../src/index.js';
import { TypedKernel } from '../src/typed-kernel.js';
import type { GpuJsExperts, GpuJsLinear } from '../src/prepared.js';
import type { GpuInstance, KernelFunction, KernelInstance } from '../src/gpujs-types.js';
import { kernelModeOf, loadGpuJs } from '../src/gpujs-loader.js';
import { copyKernel } from '../src/kernel-sources.js';

const rng = createRng(5);
const tensor = (shape: number[]) => HostTensor.float32(shape, randomNormal(rng, shape.reduce((a, b) => a * b, 1)));

describe('gpujs options', () => {
  it.each([
    [{ mode: 'gpu' }, 'backend.options.mode'],
    [{ mode: 3 }, 'backend.options.mode'],
    [{ modes: 'cpu' }, 'backend.options.modes'],
    [{ maxBindingBytes: 10 }, 'backend.options.maxBindingBytes'],
    [{ maxBindingBytes: 1.5e6 + 0.5 }, 'backend.options.maxBindingBytes'],
    [{ threads: 'yes' }, 'backend.options.threads'],
    [{ dawnBackend: 'directx' }, 'backend.options.dawnBackend'],
    [{ mode: 'cpu', threads: true }, 'backend.options.threads'],
    [null, 'backend.options'],
    [[1], 'backend.options'],
  ])('rejects %j naming %s', async (options, field) => {
    const err = await createGpuJsBackend(options as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe(field);
  });

  it('says why webgpu cannot run when Dawn has no adapter for the requested backend', async () => {
    // No Metal on Linux: Dawn answers no adapter. (Once webgpu is set up on another Dawn
    // backend in this process, the reason names that instead.)
    const err = await createGpuJsBackend({ mode: 'webgpu', dawnBackend: 'metal' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/mode 'webgpu' is not available here: (Dawn found no adapter on backend\(s\) metal|webgpu is already set up)/);
  });

  it('says why a named mode that cannot run is unavailable instead of falling back', async () => {
    const probe = await probeMode('headlessgl');
    if (probe.available) {
      const b = await createGpuJsBackend({ mode: 'headlessgl' });
      expect(b.mode).toBe('headlessgl');
      await b.dispose();
      return;
    }
    const err = await createGpuJsBackend({ mode: 'headlessgl' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/mode 'headlessgl' is not available here: .*(gl|display)/);
  });

  it('auto picks an available mode, never a software webgpu adapter over webasm, and reports it', async () => {
    const { chosen, tried } = await chooseMode();
    expect(chosen.available).toBe(true);
    const webgpu = tried.find((p) => p.mode === 'webgpu');
    if (webgpu?.available && webgpu.software) expect(chosen.mode).toBe('webasm');
    const b = await createGpuJsBackend();
    expect(b.mode).toBe(chosen.mode);
    expect(b.engine).toBe(chosen.engine);
    await b.dispose();
  });

  it('registers as gpujs with priority 5 and creates through the registry', async () => {
    expect(listBackends().find((b) => b.name === 'gpujs')?.priority).toBe(5);
    const b = await getBackend({ name: 'gpujs', options: { mode: 'cpu' } });
    expect(b.name).toBe('gpujs');
    expect(b.engine).toBe('gpu.js cpu (JavaScript)');
    await b.dispose();
    await expect(getBackend({ name: 'gpujs', options: { mode: 'nope' } })).rejects.toThrow(ConfigError);
  });

  it('resolve, dispose, resolve gives a fresh backend that works (the registry evicts on dispose)', async () => {
    const r = await resolveDisposeResolve({ name: 'gpujs', options: { mode: 'cpu' } });
    expect([r.fresh, r.name, r.relL2 < 1e-5]).toEqual([true, 'gpujs', true]);
  });
});

describe('gpujs silent-fallback guard', () => {
  it('tells headless-gl kernels from other GL kernels (all GL kernels report mode "gpu")', () => {
    const { HeadlessGLKernel } = loadGpuJs();
    expect(HeadlessGLKernel).toBeTypeOf('function');
    const headless = Object.create((HeadlessGLKernel as unknown as { prototype: object }).prototype) as KernelInstance;
    expect(kernelModeOf(headless)).toBe('headlessgl');
    class WebGL2Kernel {
      static get mode(): string {
        return 'gpu';
      }
    }
    expect(kernelModeOf(new WebGL2Kernel() as unknown as KernelInstance)).toBe('gpu (WebGL2Kernel)');
  });

  it('throws when gpu.js ran a kernel in another mode than asked', async () => {
    // A stand-in for gpu.js that, like its webasm backend on an unsupported kernel, swapped in cpu.
    const fn = Object.assign(async () => new Float32Array([1, 2]), {
      kernel: { constructor: { mode: 'cpu' }, fallbackReason: 'texture arguments are not supported' },
      setOutput: () => undefined,
      destroy: () => undefined,
    }) as unknown as KernelFunction;
    const gpu = { mode: 'webasm', createKernel: () => fn, addFunction: () => undefined, destroy: async () => undefined } as unknown as GpuInstance;
    const k = new TypedKernel(gpu, { name: 'copy', source: copyKernel as never, args: [['a', 'Array']], constants: {}, longestLoop: 0, pipeline: false, components: 1 }, 'webasm', false);
    await expect(k.run([2], [new Float32Array(2)])).rejects.toThrow(/ran kernel 'copy' in mode 'cpu' instead of 'webasm' \(texture arguments are not supported\)/);
  });
});

describe('gpujs bad inputs', () => {
  let backend: GpuJsBackend;
  let other: GpuJsBackend;
  afterAll(async () => {
    await backend?.dispose();
    await other?.dispose();
  });

  it('rejects mis-shaped weights, inputs and plans with typed errors', async () => {
    backend = await createGpuJsBackend({ mode: 'cpu' });
    other = await createGpuJsBackend({ mode: 'cpu' });
    await expect(backend.prepareLinear({ weight: tensor([4, 3]), bias: tensor([3]) })).rejects.toThrow(/linear\.bias has shape \[3\], expected \[4\]/);
    const lin = await backend.prepareLinear({ weight: tensor([4, 3]) });
    await expect(backend.linear(lin, new Float32Array(7), 2)).rejects.toThrow(ShapeError);
    await expect(other.linear(lin, new Float32Array(6), 2)).rejects.toThrow(/not prepared by this gpujs backend/);
    lin.dispose();
    await expect(backend.linear(lin, new Float32Array(6), 2)).rejects.toThrow(/disposed/);

    const expert = { gate: tensor([5, 4]), up: tensor([5, 4]), down: tensor([4, 5]) };
    await expect(backend.prepareExperts({ kind: 'swiglu', hiddenSize: 4, ffnSize: 5, experts: [{ ...expert, down: tensor([5, 4]) }] })).rejects.toThrow(
      /experts\[0\]\.down has shape \[5, 4\], expected \[4, 5\]/,
    );
    await expect(backend.prepareExperts({ kind: 'swiglu', hiddenSize: 4, ffnSize: 5, experts: [{ up: expert.up, down: expert.down }] })).rejects.toThrow(/gate is missing/);
    const experts = await backend.prepareExperts({ kind: 'swiglu', hiddenSize: 4, ffnSize: 5, experts: [expert, expert] });
    await expect(backend.runExperts(experts, new Float32Array(12), denseRoutingPlan(3, 3))).rejects.toThrow(/plan.numExperts is 3, expected the prepared group's 2/);
    await expect(backend.runExperts(experts, new Float32Array(10), denseRoutingPlan(3, 2))).rejects.toThrow(/x has 10 values/);
    const xs = randomNormal(rng, 12);
    const y = await backend.runExperts(experts, xs, denseRoutingPlan(3, 2));
    const ref = referenceExperts({ kind: 'swiglu', hiddenSize: 4, ffnSize: 5, experts: [expert, expert] }, xs, denseRoutingPlan(3, 2));
    expect(compareOutputs(y, ref).relL2).toBeLessThan(1e-5);
    experts.dispose();
  });

  it('rejects an inconsistent plan with a ShapeError naming the field instead of reading past its arrays', async () => {
    const b = await createGpuJsBackend({ mode: 'cpu' });
    try {
      const expert = () => ({ gate: tensor([5, 4]), up: tensor([5, 4]), down: tensor([4, 5]) });
      const experts = await b.prepareExperts({ kind: 'swiglu', hiddenSize: 4, ffnSize: 5, experts: [expert(), expert()] });
      const x = randomNormal(rng, 12);
      const plan = denseRoutingPlan(3, 2);
      const bad: [string, object, RegExp][] = [
        ['rowToken out of range', { rowToken: plan.rowToken.map((t, i) => (i === 1 ? 9 : t)) }, /plan\.rowToken\[1\] is 9/],
        ['negative rowToken', { rowToken: plan.rowToken.map((t, i) => (i === 1 ? -1 : t)) }, /plan\.rowToken\[1\] is -1/],
        ['tokenRows out of range', { tokenRows: plan.tokenRows.map((r, i) => (i === 1 ? 99 : r)) }, /plan\.tokenRows\[1\] is 99/],
        ['tokenRows listing a row twice', { tokenRows: plan.tokenRows.map((r, i) => (i === 1 ? plan.tokenRows[0] : r)) }, /plan\.tokenRows\[1\]/],
        ['decreasing expertOffsets', { expertOffsets: Int32Array.of(0, 7, 6) }, /plan\.expertOffsets/],
        ['tokenOffsets not ending at the row count', { tokenOffsets: Int32Array.of(0, 2, 4, 5) }, /plan\.tokenOffsets/],
        ['short rowWeight', { rowWeight: plan.rowWeight.subarray(1) }, /plan\.rowWeight/],
        ['not a plan', { expertOffsets: [0, 3, 6] }, /plan\.expertOffsets must be an Int32Array/],
      ];
      for (const [what, patch, message] of bad) {
        const err = await b.runExperts(experts, x, { ...plan, ...patch }).catch((e: unknown) => e);
        expect(err, what).toBeInstanceOf(ShapeError);
        expect((err as Error).message, what).toMatch(message);
      }
      await expect(b.runExperts(experts, x, null as never)).rejects.toThrow(ShapeError);
      await expect(b.runExperts(experts, x, { ...plan, rowWeight: plan.rowWeight.map((v, i) => (i === 1 ? NaN : v)) })).rejects.toThrow(InvalidInputError);
      await expect(b.runExperts(experts, Array.from(x) as never, plan)).rejects.toThrow(ShapeError);
      // Zero tokens: an empty result, nothing computed.
      expect((await b.runExperts(experts, new Float32Array(0), denseRoutingPlan(0, 2))).length).toBe(0);
      experts.dispose();
    } finally {
      await b.dispose();
    }
  });

  it('gives the same error classes as the other backends for a bad group or linear weight', async () => {
    const b = await createGpuJsBackend({ mode: 'cpu' });
    try {
      const e = { gate: tensor([5, 4]), up: tensor([5, 4]), down: tensor([4, 5]) };
      const group = { kind: 'swiglu' as const, hiddenSize: 4, ffnSize: 5, experts: [e] };
      for (const [bad, field] of [
        [{ ...group, kind: 'tanh' }, 'experts.kind'],
        [{ ...group, hiddenSize: 0 }, 'experts.hiddenSize'],
        [{ ...group, ffnSize: 2.5 }, 'experts.ffnSize'],
        [{ ...group, experts: [] }, 'experts.experts'],
        [null, 'experts'],
      ] as const) {
        const err = await b.prepareExperts(bad as never).catch((x: unknown) => x);
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).field).toBe(field);
      }
      await expect(b.prepareExperts({ ...group, kind: 'gelu' })).rejects.toThrow(/experts\[0\]\.gate is present but gelu experts have no gate projection/);
      await expect(b.prepareExperts({ ...group, experts: [undefined as never] })).rejects.toThrow(ShapeError);
      await expect(b.prepareLinear({ weight: { shape: [4, 3] } as never })).rejects.toThrow(ShapeError);
      await expect(b.prepareLinear({ weight: HostTensor.float32([0, 3]) })).rejects.toThrow(/linear\.weight has shape \[0, 3\]; expected positive dimensions/);
      await expect(b.prepareLinear({ weight: tensor([4, 3]), bias: new Float32Array(4) as never })).rejects.toThrow(/linear\.bias: expected a HostTensor \[4\]/);
      const lin = await b.prepareLinear({ weight: tensor([4, 3]) });
      await expect(b.linear(lin, [1, 2, 3] as never, 1)).rejects.toThrow(ShapeError);
      lin.dispose();
    } finally {
      await b.dispose();
    }
  });

  it('dispose() frees the handles it prepared (their device buffers go before the device)', async () => {
    const b = await createGpuJsBackend({ mode: 'cpu' });
    const lin = (await b.prepareLinear({ weight: tensor([4, 3]) })) as GpuJsLinear;
    const e = { gate: tensor([5, 4]), up: tensor([5, 4]), down: tensor([4, 5]) };
    const experts = (await b.prepareExperts({ kind: 'swiglu', hiddenSize: 4, ffnSize: 5, experts: [e] })) as GpuJsExperts;
    const early = (await b.prepareLinear({ weight: tensor([2, 3]) })) as GpuJsLinear;
    early.dispose();
    await b.dispose();
    expect(lin.disposed).toBe(true);
    expect(experts.disposed).toBe(true);
    lin.dispose(); // a second dispose by the caller is a no-op
    await expect(b.runExperts(experts, randomNormal(rng, 4), denseRoutingPlan(1, 1))).rejects.toThrow(/disposed/);
  });

  it('a layer still being uploaded when dispose() is called is released, not leaked', async () => {
    const b = await createGpuJsBackend({ mode: 'cpu' });
    const pending = b.prepareLinear({ weight: tensor([4, 3]) }).catch((e: unknown) => e);
    await b.dispose();
    const err = await pending;
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/disposed while the layer was being prepared/);
  });

  it('refuses a single column larger than the binding limit', async () => {
    const tiny = await createGpuJsBackend({ mode: 'cpu', maxBindingBytes: 1024 });
    await expect(tiny.prepareLinear({ weight: tensor([2, 300]) })).rejects.toThrow(/one output column needs 1200 bytes, more than the binding limit of 1024 bytes/);
    await tiny.dispose();
    await expect(tiny.prepareLinear({ weight: tensor([2, 3]) })).rejects.toThrow(/disposed/);
  });
});
