/**
 * The MoE layer end to end on a test-double backend (float32 loops over the plan, in
 * the testing module's createTestBackend), checked against the float64 reference.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  BackendError,
  checkAgainstReference,
  ConfigError,
  DTypeError,
  HostTensor,
  InvalidInputError,
  MoELayer,
  randomInput,
  randomWeights,
  RouterError,
  ShapeError,
  UnknownNameError,
  type Backend,
  type MoELayerConfig,
  type Router,
} from '../src/index.js';
import { createTestBackend } from '../src/testing/index.js';

const BASE: MoELayerConfig = { hiddenSize: 16, numExperts: 6, topK: 2, expert: { kind: 'swiglu', ffnSize: 12 }, router: { name: 'topk-softmax' } };
const T = 9;

async function run(config: MoELayerConfig, seed: number, backend = createTestBackend(), dtype?: 'float32' | 'float16' | 'bfloat16') {
  const weights = randomWeights(config, { seed, dtype });
  const x = randomInput(T, config.hiddenSize, seed + 1000);
  const layer = await MoELayer.create({ config, weights, backend });
  const result = await layer.forward(x);
  return { weights, x, layer, result, backend };
}

describe('MoELayer on a test-double backend', () => {
  it('matches the float64 reference (top-2 SwiGLU) and computes only the routed rows', async () => {
    const { weights, x, result, backend } = await run(BASE, 1);
    expect(result.output.shape).toEqual([T, 16]);
    const check = checkAgainstReference(BASE, weights, x, result);
    expect(check.failures).toEqual([]);
    expect(check.passed).toBe(true);
    expect(check.relL2).toBeLessThan(1e-5);
    expect(check.routingAgreement).toBe(1);
    expect(backend.counters.expertRows).toBe(T * 2); // T * k rows, never T * E
    expect(result.stats.tokensPerExpert.reduce((a, b) => a + b, 0)).toBe(T * 2);
    expect(result.logits.length).toBe(T * 6);
    expect(Array.from(result.output.data).every(Number.isFinite)).toBe(true);
  });

  it('matches the reference with a gated shared expert (Qwen2-MoE style)', async () => {
    const config: MoELayerConfig = { ...BASE, topK: 4, sharedExperts: { ffnSize: 20, gated: true }, router: { name: 'topk-softmax', options: { renormalize: false } } };
    const { weights, x, result, backend } = await run(config, 2);
    const check = checkAgainstReference(config, weights, x, result);
    expect(check.failures).toEqual([]);
    expect(backend.counters.expertRows).toBe(T * 4 + T);
    expect(backend.counters.linearCalls).toBe(2); // router + shared gate
  });

  it('matches the reference for GELU and ReLU experts with biases and two shared experts', async () => {
    for (const kind of ['gelu', 'relu'] as const) {
      const config: MoELayerConfig = { ...BASE, expert: { kind, ffnSize: 10, bias: true }, sharedExperts: { count: 2, ffnSize: 8 } };
      const { weights, x, result } = await run(config, 3);
      expect(weights.experts[0].upBias).toBeDefined();
      expect(checkAgainstReference(config, weights, x, result).failures).toEqual([]);
    }
  });

  it('matches the reference with half-precision weights', async () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const { weights, x, result } = await run(BASE, 4, createTestBackend(), dtype);
      expect(weights.router.dtype).toBe(dtype);
      expect(checkAgainstReference(BASE, weights, x, result).passed).toBe(true);
    }
  });

  it('gives dropped tokens a zero routed output under switch routing', async () => {
    const config: MoELayerConfig = { ...BASE, topK: 1, router: { name: 'switch', options: { capacityFactor: 0.5 } } };
    const { weights, x, result } = await run(config, 5);
    expect(checkAgainstReference(config, weights, x, result).failures).toEqual([]);
    const dropped = [...new Set(result.plan.dropped.token)];
    expect(dropped.length).toBeGreaterThan(0); // C = ceil(9 / 6 * 0.5) = 1 per expert
    expect(result.stats.droppedTokens).toBe(dropped.length);
    for (const t of dropped) expect(Array.from(result.output.data.subarray(t * 16, (t + 1) * 16))).toEqual(new Array(16).fill(0));
  });

  it('accepts a flat Float32Array input and a router instance', async () => {
    const weights = randomWeights(BASE, { seed: 6 });
    const x = randomInput(T, 16, 7);
    const lastExpert: Router = {
      name: 'last-expert',
      route: ({ numTokens }) => ({ token: Int32Array.from({ length: numTokens }, (_, i) => i), expert: new Int32Array(numTokens).fill(5), weight: new Float32Array(numTokens).fill(1) }),
    };
    const layer = await MoELayer.create({ config: BASE, weights, backend: createTestBackend(), router: lastExpert });
    const result = await layer.forward(x.data);
    expect(result.stats.tokensPerExpert).toEqual([0, 0, 0, 0, 0, T]);
    expect(checkAgainstReference(BASE, weights, x, result, { router: lastExpert }).passed).toBe(true);
  });

  it('the reference check fails a backend that computes the wrong thing', async () => {
    const wrong = createTestBackend({ name: 'wrong' });
    const run0 = wrong.runExperts.bind(wrong);
    wrong.runExperts = async (experts, x, plan) => run0(experts, x, { ...plan, rowWeight: new Float32Array(plan.rowWeight.length).fill(0.5) });
    const { weights, x, result } = await run(BASE, 8, wrong);
    const check = checkAgainstReference(BASE, weights, x, result);
    expect(check.passed).toBe(false);
    expect(check.failures[0]).toMatch(/relative L2 error/);
  });

  it('disposes every prepared handle once, and refuses to run afterwards', async () => {
    const config: MoELayerConfig = { ...BASE, sharedExperts: { ffnSize: 8, gated: true } };
    const { layer, backend } = await run(config, 9);
    layer.dispose();
    layer.dispose();
    expect(backend.counters.disposedHandles).toBe(4); // router, experts, shared, shared gate
    await expect(layer.forward(randomInput(2, 16, 1))).rejects.toThrow(BackendError);
  });
});

describe('MoELayer bad inputs', () => {
  const weights = randomWeights(BASE, { seed: 10 });
  const make = (backend: Backend = createTestBackend()) => MoELayer.create({ config: BASE, weights, backend });

  it('rejects x of the wrong shape or dtype', async () => {
    const layer = await make();
    await expect(layer.forward(randomInput(3, 15, 1))).rejects.toThrow(/x has shape \[3, 15\], expected \[T, 16\]/);
    await expect(layer.forward(HostTensor.float32([48]))).rejects.toThrow(ShapeError);
    await expect(layer.forward(new Float32Array(17))).rejects.toThrow(/17 values, not a multiple of the row width 16/);
    await expect(layer.forward(randomInput(2, 16, 1).to('float16'))).rejects.toThrow(/x has dtype float16, expected float32/);
    await expect(layer.forward([1, 2] as unknown as Float32Array)).rejects.toThrow(DTypeError);
  });

  it('rejects NaN and Infinity in x, naming the entry', async () => {
    const layer = await make();
    const x = randomInput(3, 16, 2);
    x.data[1 * 16 + 5] = NaN;
    await expect(layer.forward(x)).rejects.toThrow(new InvalidInputError('x[1, 5] is NaN; inputs must be finite'));
    x.data[1 * 16 + 5] = 0.5;
    x.data[2 * 16] = -Infinity;
    await expect(layer.forward(x)).rejects.toThrow(/x\[2, 0\] is -Infinity/);
  });

  it('rejects k > E and other bad configs before touching the backend', async () => {
    const backend = createTestBackend();
    const prepare = vi.spyOn(backend, 'prepareLinear');
    await expect(MoELayer.create({ config: { ...BASE, topK: 7 }, weights, backend })).rejects.toThrow(/topK: expected at most numExperts \(6\), got 7/);
    await expect(MoELayer.create({ config: { ...BASE, hiddenSize: 0 }, weights, backend })).rejects.toThrow(ConfigError);
    await expect(MoELayer.create({ config: { ...BASE, expert: { kind: 'tanh' as 'relu', ffnSize: 12 } }, weights, backend })).rejects.toThrow(/expert\.kind: expected one of swiglu, gelu, relu/);
    await expect(MoELayer.create({ config: { ...BASE, router: { name: 'no-such-router' } }, weights, backend })).rejects.toThrow(UnknownNameError);
    await expect(MoELayer.create({ config: { ...BASE, router: { name: 'topk-softmax', options: { renormalize: 1 } } }, weights, backend })).rejects.toThrow(
      /router\.options\.renormalize: expected true or false, got 1/,
    );
    expect(prepare).not.toHaveBeenCalled();
  });

  it('rejects weights of the wrong shape, naming the tensor', async () => {
    const backend = createTestBackend();
    const bad = { ...weights, experts: weights.experts.map((e, j) => (j === 3 ? { ...e, up: HostTensor.float32([16, 12]) } : e)) };
    await expect(MoELayer.create({ config: BASE, weights: bad, backend })).rejects.toThrow(/weights\.experts\[3\]\.up has shape \[16, 12\], expected \[12, 16\]/);
    await expect(MoELayer.create({ config: BASE, weights: { ...weights, experts: weights.experts.slice(1) }, backend })).rejects.toThrow(/5 experts, expected numExperts = 6/);
    await expect(MoELayer.create({ config: { ...BASE, sharedExperts: { ffnSize: 4, gated: true } }, weights, backend })).rejects.toThrow(/weights\.shared has 0 experts/);
  });

  it('requires token ids for a router that needs them, and validates them', async () => {
    const byId: Router = {
      name: 'by-id',
      needsTokenIds: true,
      route: ({ numTokens, numExperts, tokenIds }) => ({
        token: Int32Array.from({ length: numTokens }, (_, i) => i),
        expert: Int32Array.from(tokenIds!, (id) => id % numExperts),
        weight: new Float32Array(numTokens).fill(1),
      }),
    };
    const layer = await MoELayer.create({ config: BASE, weights, backend: createTestBackend(), router: byId });
    const x = randomInput(3, 16, 3);
    await expect(layer.forward(x)).rejects.toThrow(RouterError);
    await expect(layer.forward(x)).rejects.toThrow(/router 'by-id' needs token ids/);
    await expect(layer.forward(x, { tokenIds: [1, 2] })).rejects.toThrow(/tokenIds has 2 entries, expected one per token \(3\)/);
    await expect(layer.forward(x, { tokenIds: [1, -2, 3] })).rejects.toThrow(/tokenIds\[1\] is -2/);
    const ok = await layer.forward(x, { tokenIds: [7, 8, 9] });
    expect(ok.stats.tokensPerExpert).toEqual([0, 1, 1, 1, 0, 0]); // ids 7, 8, 9 mod 6
    expect(checkAgainstReference(BASE, weights, x, ok, { router: byId, tokenIds: [7, 8, 9] }).passed).toBe(true);
  });

  it('turns a backend that returns NaN or the wrong length into a BackendError', async () => {
    const nan = createTestBackend({ name: 'nan' });
    nan.runExperts = async (_e, _x, plan) => new Float32Array(plan.numTokens * 16).fill(NaN);
    await expect((await make(nan)).forward(randomInput(2, 16, 4))).rejects.toThrow(/backend 'nan' returned a non-finite expert output/);
    const short = createTestBackend({ name: 'short' });
    short.linear = async () => new Float32Array(3);
    await expect((await make(short)).forward(randomInput(2, 16, 4))).rejects.toThrow(/returned router logits of length 3, expected 12/);
  });
});
