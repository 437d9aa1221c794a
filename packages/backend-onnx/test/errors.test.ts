/** Bad options, foreign or disposed handles and bad shapes give typed errors naming the problem. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackendError,
  ConfigError,
  denseRoutingPlan,
  HostTensor,
  InvalidInputError,
  referenceExperts,
  referenceLinear,
  resolveBackend,
  ShapeError,
  compareOutputs,
  createRng,
  randomNormal,
  randomInput,
  randomWeights,
  routedExpertGroup,
  type PreparedExperts,
  type MoELayerConfig,
} from '@moe-runtime/core';
import { resolveDisposeResolve } from '@moe-runtime/core/testing';
import { cudaProviderInstalled, OnnxBackend, ONNX_BACKEND_PRIORITY } from '../src/index.js';

let backend: OnnxBackend;
let other: OnnxBackend;
beforeAll(async () => {
  backend = await OnnxBackend.create({ intraOpThreads: 1 });
  other = await OnnxBackend.create({ intraOpThreads: 1 });
});
afterAll(async () => {
  await backend.dispose();
  await other.dispose();
});

const config: MoELayerConfig = { hiddenSize: 32, numExperts: 4, topK: 2, expert: { kind: 'relu', ffnSize: 48 }, router: { name: 'topk-softmax' } };

describe('options', () => {
  it.each([
    [{ intraOpThreads: 0 }, 'backend.options.intraOpThreads'],
    [{ intraOpThreads: 1.5 }, 'backend.options.intraOpThreads'],
    [{ executionProviders: [] }, 'backend.options.executionProviders'],
    [{ executionProviders: ['tpu'] }, 'backend.options.executionProviders[0]'],
    [{ allowSpinning: 'yes' }, 'backend.options.allowSpinning'],
    [{ expertGraph: 'fused' }, 'backend.options.expertGraph'],
    [{ deviceId: -1 }, 'backend.options.deviceId'],
    [{ threads: 2 }, 'backend.options.threads'],
    [{ maxGraphBytes: 2 ** 31 }, 'backend.options.maxGraphBytes'],
    [{ maxGraphBytes: 0 }, 'backend.options.maxGraphBytes'],
    [{ expertsPerGraph: 0 }, 'backend.options.expertsPerGraph'],
  ])('%j -> ConfigError on %s', async (options, field) => {
    const err = await OnnxBackend.create(options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe(field);
  });

  it.skipIf(cudaProviderInstalled())("'cuda' without the CUDA provider names the install flag (skipped: the CUDA provider is installed)", async () => {
    const err = await OnnxBackend.create({ executionProviders: ['cuda'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toContain('--onnxruntime-node-install=cuda12');
  });

  it('registers as `onnx` with priority 20 and reports what runs', async () => {
    const b = await resolveBackend({ name: 'onnx', options: { intraOpThreads: 1 } });
    expect(b.name).toBe('onnx');
    expect(b.engine).toMatch(/^onnxruntime-node 1\.30\.\d+ \(cpu\)$/);
    expect(b.threads).toBe(1);
    expect(ONNX_BACKEND_PRIORITY).toBe(20);
  });

  it('resolve, dispose, resolve gives a fresh backend that works (the registry evicts on dispose)', async () => {
    const r = await resolveDisposeResolve('onnx');
    expect([r.fresh, r.name, r.relL2 < 1e-5]).toEqual([true, 'onnx', true]);
  });
});

describe('handles and shapes', () => {
  it('a handle from another backend instance is a BackendError', async () => {
    const w = randomWeights(config, { seed: 3 });
    const foreign = await other.prepareExperts(routedExpertGroup(config, w));
    const x = randomInput(2, 32, 14).data;
    await expect(backend.runExperts(foreign, x, denseRoutingPlan(2, 4))).rejects.toThrow(BackendError);
    const fake: PreparedExperts = { kind: 'relu', numExperts: 4, hiddenSize: 32, ffnSize: 48, dispose: () => undefined };
    await expect(backend.runExperts(fake, x, denseRoutingPlan(2, 4))).rejects.toThrow(/not prepared by this 'onnx' backend/);
    const lin = await other.prepareLinear({ weight: w.router });
    await expect(backend.linear(lin, x, 2)).rejects.toThrow(BackendError);
    foreign.dispose();
    lin.dispose();
  });

  it('a disposed handle is a BackendError', async () => {
    const w = randomWeights(config, { seed: 4 });
    const h = await backend.prepareExperts(routedExpertGroup(config, w));
    h.dispose();
    await expect(backend.runExperts(h, new Float32Array(32), denseRoutingPlan(1, 4))).rejects.toThrow(/disposed/);
  });

  it('wrong x length or expert count is a ShapeError', async () => {
    const w = randomWeights(config, { seed: 5 });
    const h = await backend.prepareExperts(routedExpertGroup(config, w));
    await expect(backend.runExperts(h, new Float32Array(33), denseRoutingPlan(1, 4))).rejects.toThrow(ShapeError);
    await expect(backend.runExperts(h, new Float32Array(32), denseRoutingPlan(1, 3))).rejects.toThrow(ShapeError);
    h.dispose();
  });

  it('an inconsistent plan is a ShapeError naming the field, not a wrong number or a crash in the combine', async () => {
    const w = randomWeights(config, { seed: 8 });
    const h = await backend.prepareExperts(routedExpertGroup(config, w));
    const x = randomInput(3, 32, 9).data;
    const plan = denseRoutingPlan(3, 4);
    const bad: [string, object, RegExp][] = [
      ['rowToken out of range', { rowToken: plan.rowToken.map((t, i) => (i === 1 ? 9 : t)) }, /plan\.rowToken\[1\] is 9/],
      ['negative rowToken', { rowToken: plan.rowToken.map((t, i) => (i === 1 ? -1 : t)) }, /plan\.rowToken\[1\] is -1/],
      ['tokenRows out of range', { tokenRows: plan.tokenRows.map((r, i) => (i === 1 ? 99 : r)) }, /plan\.tokenRows\[1\] is 99/],
      ['tokenRows listing a row twice', { tokenRows: plan.tokenRows.map((r, i) => (i === 1 ? plan.tokenRows[0] : r)) }, /plan\.tokenRows\[1\]/],
      ['decreasing expertOffsets', { expertOffsets: Int32Array.of(0, 5, 3, 9, 12) }, /plan\.expertOffsets/],
      ['tokenOffsets out of order', { tokenOffsets: Int32Array.of(0, 8, 4, 12) }, /plan\.tokenOffsets/],
      ['short rowWeight', { rowWeight: plan.rowWeight.subarray(1) }, /plan\.rowWeight/],
      ['tokensPerExpert disagreeing with expertOffsets', { tokensPerExpert: Int32Array.of(3, 3, 4, 2) }, /plan\.tokensPerExpert\[2\] is 4, expected 3/],
    ];
    for (const [what, patch, message] of bad) {
      const err = await backend.runExperts(h, x, { ...plan, ...patch }).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(ShapeError);
      expect((err as Error).message, what).toMatch(message);
    }
    await expect(backend.runExperts(h, x, null as never)).rejects.toThrow(ShapeError);
    await expect(backend.runExperts(h, x, { ...plan, rowWeight: plan.rowWeight.map((v, i) => (i === 1 ? NaN : v)) })).rejects.toThrow(InvalidInputError);
    await expect(backend.runExperts(h, Array.from(x) as never, plan)).rejects.toThrow(/x must be a Float32Array, got Array/);
    await expect(backend.prepareExperts({ ...routedExpertGroup(config, w), experts: [undefined as never] })).rejects.toThrow(/experts\[0\]: expected \{ up, down \}/);
    h.dispose();
  });

  it('mis-shaped expert weights are a ShapeError naming the tensor', async () => {
    const w = randomWeights(config, { seed: 6 });
    const bad = { ...routedExpertGroup(config, w), ffnSize: 40 };
    await expect(backend.prepareExperts(bad)).rejects.toThrow(/experts\[0\]\.up has shape \[48, 32\], expected \[40, 32\]/);
    await expect(backend.prepareExperts({ ...bad, kind: 'tanh' as 'relu' })).rejects.toThrow(ConfigError);
  });

  it('an expert larger than maxGraphBytes is a ShapeError naming the option', async () => {
    const small = await OnnxBackend.create({ intraOpThreads: 1, maxGraphBytes: 1000 });
    const w = randomWeights(config, { seed: 7 });
    await expect(small.prepareExperts(routedExpertGroup(config, w))).rejects.toThrow(/maxGraphBytes = 1000/);
    await small.dispose();
  });

  it('dispose() waits for the sessions to be released and reports a failed release as a BackendError', async () => {
    const b = await OnnxBackend.create({ intraOpThreads: 1 });
    const lin = await b.prepareLinear({ weight: randomWeights(config, { seed: 10 }).router });
    const session = (lin as unknown as { held: { release(): Promise<void> } }).held;
    const real = session.release.bind(session);
    let released = false;
    session.release = async () => {
      await real();
      released = true;
      throw new Error('simulated release failure');
    };
    const err = await b.dispose().catch((e: unknown) => e);
    expect(released).toBe(true);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/failed to release a session: simulated release failure/);
    await b.dispose(); // a second dispose is a no-op
  });

  it.each(['grouped', 'per-expert'] as const)('calls accepted before dispose() finish on their sessions (%s layout)', async (expertGraph) => {
    const b = await OnnxBackend.create({ intraOpThreads: 1, expertGraph });
    const w = randomWeights(config, { seed: 15 });
    const group = routedExpertGroup(config, w);
    const h = await b.prepareExperts(group);
    const lin = await b.prepareLinear({ weight: w.router });
    const x = randomInput(5, 32, 16).data;
    const plan = denseRoutingPlan(5, 4);
    const pending = [b.runExperts(h, x, plan), b.runExperts(h, x, plan)];
    const logits = b.linear(lin, x, 5);
    h.dispose();
    lin.dispose();
    await expect(b.runExperts(h, x, plan)).rejects.toThrow(/disposed/);
    const ref = referenceExperts(group, x, plan);
    for (const y of await Promise.all(pending)) expect(compareOutputs(y, ref).relL2).toBeLessThan(1e-5);
    expect(compareOutputs(await logits, referenceLinear(w.router, x, 5)).relL2).toBeLessThan(1e-5);
    await b.dispose();
  });

  it('a layer still being prepared when dispose() is called is released, not leaked', async () => {
    const b = await OnnxBackend.create({ intraOpThreads: 1 });
    const pending = b.prepareExperts(routedExpertGroup(config, randomWeights(config, { seed: 17 }))).catch((e: unknown) => e);
    await b.dispose();
    const err = await pending;
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/disposed while this layer was being prepared/);
  });

  it('a disposed backend refuses new work', async () => {
    const b = await OnnxBackend.create({ intraOpThreads: 1 });
    await b.dispose();
    await expect(b.prepareLinear({ weight: HostTensor.float32([2, 2]) })).rejects.toThrow(/disposed/);
  });

  it.each(['float16', 'bfloat16'] as const)('linear with %s weights matches the reference on the same rounded values', async (dtype) => {
    const rng = createRng(dtype === 'float16' ? 91 : 92);
    const weight = HostTensor.float32([6, 9], randomNormal(rng, 54)).to(dtype);
    const bias = HostTensor.float32([6], randomNormal(rng, 6)).to(dtype);
    const lin = await backend.prepareLinear({ weight, bias });
    const x = randomNormal(rng, 18);
    expect(compareOutputs(await backend.linear(lin, x, 2), referenceLinear(weight, x, 2, bias)).relL2).toBeLessThan(1e-6);
    lin.dispose();
  });

  it('linear with bias matches the reference; a wrong x length is a ShapeError', async () => {
    const rng = createRng(93);
    const weight = HostTensor.float32([5, 7], randomNormal(rng, 35));
    const bias = HostTensor.float32([5], randomNormal(rng, 5));
    const lin = await backend.prepareLinear({ weight, bias });
    const x = randomNormal(rng, 21);
    const y = await backend.linear(lin, x, 3);
    expect(compareOutputs(y, referenceLinear(weight, x, 3, bias)).relL2).toBeLessThan(1e-6);
    await expect(backend.linear(lin, x, 2)).rejects.toThrow(ShapeError);
    lin.dispose();
  });
});
