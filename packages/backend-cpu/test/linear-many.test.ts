/**
 * linearMany: several linears in one kernel batch give what each gives alone (float32 panels,
 * stored block formats on both activation paths, biases, layers spread over several memories),
 * and bad calls are refused before anything runs.
 */
import { BackendError, compareOutputs, createRng, HostTensor, linearMany, randomNormal, referenceLinear, ShapeError, type DType, type PreparedLinear } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, CpuBackend } from '../src/index.js';
import { WasmEngine } from '../src/wasm/wasm-engine.js';

interface Case {
  readonly dtype: DType;
  readonly k: number;
  readonly n: number;
  readonly bias: boolean;
}

// Mixed formats and shapes in one batch: a partial panel (n = 70), k-quant rows (k = 512), and
// products too small to split across threads alone.
const CASES: readonly Case[] = [
  { dtype: 'float32', k: 96, n: 70, bias: true },
  { dtype: 'q8_0', k: 256, n: 48, bias: false },
  { dtype: 'q4_k', k: 512, n: 33, bias: true },
  { dtype: 'q6_k', k: 256, n: 16, bias: false },
  { dtype: 'float16', k: 64, n: 128, bias: false },
  { dtype: 'mxfp4', k: 128, n: 40, bias: false },
];

async function prepare(backend: CpuBackend, seed: number): Promise<{ layers: PreparedLinear[]; weights: HostTensor[]; biases: (HostTensor | undefined)[] }> {
  const rng = createRng(seed);
  const weights = CASES.map((c) => HostTensor.float32([c.n, c.k], randomNormal(rng, c.n * c.k, 1 / Math.sqrt(c.k))).to(c.dtype));
  const biases = CASES.map((c) => (c.bias ? HostTensor.float32([c.n], randomNormal(rng, c.n, 0.5)) : undefined));
  const layers = await Promise.all(weights.map((weight, i) => backend.prepareLinear({ weight, bias: biases[i] })));
  return { layers, weights, biases };
}

async function expectSameAsLinear(backend: CpuBackend, seed: number, rows: number, tight: boolean): Promise<void> {
  const { layers, weights, biases } = await prepare(backend, seed);
  try {
    const rng = createRng(seed + 1);
    const xs = CASES.map((c) => randomNormal(rng, rows * c.k));
    const many = await linearMany(backend, layers, xs, rows);
    expect(many.length).toBe(CASES.length);
    for (let i = 0; i < CASES.length; i++) {
      // The same kernels on the same inputs: identical to one linear call each.
      expect(many[i]).toEqual(await backend.linear(layers[i], xs[i], rows));
      const { relL2 } = compareOutputs(many[i], referenceLinear(weights[i], xs[i], rows, biases[i]));
      expect(relL2).toBeLessThan(tight ? 1e-5 : 3e-2);
    }
  } finally {
    for (const l of layers) l.dispose();
  }
}

for (const [activations, threads] of [['float32', 2], ['q8', 2], ['float32', 1]] as const) {
  describe(`linearMany (activations: ${activations}, threads: ${threads})`, () => {
    let backend: CpuBackend;
    beforeAll(async () => {
      backend = await createCpuBackend({ simd: 'relaxed', threads, activations });
    });
    afterAll(() => backend.dispose());

    for (const rows of [1, 3, 9]) {
      it(`matches one linear call per layer and the float64 reference, ${rows} row(s)`, async () => {
        await expectSameAsLinear(backend, 100 + rows, rows, activations === 'float32');
      });
    }

    it('returns empty results for zero rows and no layers', async () => {
      const { layers } = await prepare(backend, 7);
      const ys = await backend.linearMany(layers, CASES.map(() => new Float32Array(0)), 0);
      expect(ys.map((y) => y.length)).toEqual(CASES.map(() => 0));
      expect(await linearMany(backend, [], [], 1)).toEqual([]);
      for (const l of layers) l.dispose();
    });
  });
}

describe('linearMany across memories', () => {
  it('runs layers placed in several small shards', async () => {
    const engine = await WasmEngine.create('simd', 2, { shardBytes: 2 ** 21 });
    if (!engine) throw new Error('WebAssembly SIMD is not available');
    const backend = new CpuBackend(engine);
    try {
      const rng = createRng(31);
      // 48 x 4096 float32 (768 KiB) each: two fit in a 2 MiB shard with its headroom at most.
      const weights = Array.from({ length: 5 }, () => HostTensor.float32([48, 4096], randomNormal(rng, 48 * 4096, 1 / 64)));
      const layers = await Promise.all(weights.map((weight) => backend.prepareLinear({ weight })));
      expect(engine.shardCount).toBeGreaterThan(2);
      const xs = weights.map(() => randomNormal(rng, 2 * 4096));
      const ys = await backend.linearMany(layers, xs, 2);
      ys.forEach((y, i) => expect(compareOutputs(y, referenceLinear(weights[i], xs[i], 2)).relL2).toBeLessThan(1e-5));
    } finally {
      await backend.dispose();
    }
  });
});

describe('linearMany refuses bad calls before running any layer', () => {
  let backend: CpuBackend;
  let other: CpuBackend;
  beforeAll(async () => {
    backend = await createCpuBackend({ threads: 1 });
    other = await createCpuBackend({ threads: 1 });
  });
  afterAll(async () => {
    await backend.dispose();
    await other.dispose();
  });

  it('names the input whose length is wrong, and the count mismatch', async () => {
    const w = HostTensor.float32([4, 8], randomNormal(createRng(3), 32));
    const a = await backend.prepareLinear({ weight: w });
    const b = await backend.prepareLinear({ weight: w });
    await expect(backend.linearMany([a, b], [new Float32Array(8), new Float32Array(7)], 1)).rejects.toThrow(ShapeError);
    await expect(backend.linearMany([a, b], [new Float32Array(8), new Float32Array(7)], 1)).rejects.toThrow(/xs\[1\]/);
    await expect(backend.linearMany([a, b], [new Float32Array(8)], 1)).rejects.toThrow(/2 layers but 1 inputs/);
    await expect(linearMany(backend, [a], [], 1)).rejects.toThrow(ShapeError);
    await expect(backend.linearMany([a], [new Float32Array(8)], 1.5)).rejects.toThrow(/rows is 1.5/);
    a.dispose();
    await expect(backend.linearMany([b, a], [new Float32Array(8), new Float32Array(8)], 1)).rejects.toThrow(/layers\[1\] was disposed/);
    b.dispose();
  });

  it("refuses another backend's layer, naming it and prepareLinear", async () => {
    const w = HostTensor.float32([4, 8], randomNormal(createRng(4), 32));
    const mine = await backend.prepareLinear({ weight: w });
    const theirs = await other.prepareLinear({ weight: w });
    await expect(backend.linearMany([mine, theirs], [new Float32Array(8), new Float32Array(8)], 1)).rejects.toThrow(BackendError);
    await expect(backend.linearMany([mine, theirs], [new Float32Array(8), new Float32Array(8)], 1)).rejects.toThrow(/layers\[1\] was not prepared by this 'cpu' backend; prepare it with this backend's prepareLinear/);
    mine.dispose();
    theirs.dispose();
  });
});
