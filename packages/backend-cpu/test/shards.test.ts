/**
 * The engine's memories: weights at byte addresses past 2 GiB (shards whose bottom 2.25 GiB
 * are left untouched, so they cost no RAM), one engine spanning more than 20 GiB of memory,
 * and layers spread over many small shards, each checked against core's float64 reference.
 */
import { BackendError, checkAgainstReference, MoELayer, randomInput, randomWeights, type DType, type MoELayerConfig } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/index.js';
import { MAX_SHARD_BYTES, WasmEngine } from '../src/wasm/wasm-engine.js';

const GiB = 2 ** 30;
const config: MoELayerConfig = { hiddenSize: 256, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 512, bias: true }, router: { name: 'topk-softmax' } };

async function engine(threads: number, layout: Parameters<typeof WasmEngine.create>[2]): Promise<WasmEngine> {
  const e = await WasmEngine.create('simd', threads, layout);
  if (!e) throw new Error('WebAssembly SIMD is not available');
  return e;
}

async function expectLayerMatches(backend: CpuBackend, dtype: DType, seed: number, tokens = [1, 30]): Promise<void> {
  const cfg = dtype === 'float32' ? config : { ...config, expert: { ...config.expert, bias: false } };
  const weights = randomWeights(cfg, { seed, dtype });
  const moe = await MoELayer.create({ config: cfg, weights, backend });
  try {
    for (const t of tokens) {
      const x = randomInput(t, cfg.hiddenSize, seed + t);
      const check = checkAgainstReference(cfg, weights, x, await moe.forward(x), { maxRelL2: 1e-5 });
      expect(check.failures).toEqual([]);
    }
  } finally {
    moe.dispose();
  }
}

describe('WebAssembly memories (shards)', () => {
  it('computes right with every weight, scratch and work buffer past 2 GiB', async () => {
    const e = await engine(2, { shardOffset: 2.25 * GiB });
    const backend = new CpuBackend(e);
    try {
      // Everything allocated after the offset block lies above 2.25 GiB.
      expect(e.residentBytes).toBeGreaterThan(2.25 * GiB);
      expect(e.shardCount).toBe(1);
      await expectLayerMatches(backend, 'float32', 701);
      await expectLayerMatches(backend, 'q8_0', 702);
      await expectLayerMatches(backend, 'q4_k', 703);
      expect(e.shardCount).toBe(1);
    } finally {
      await backend.dispose();
    }
  });

  it('holds weights across more than 20 GiB of memories in one engine, each expert past 3.6 GiB of its own', async () => {
    // Each shard keeps 2.25 MiB above its untouched offset besides the scratch headroom, so
    // every float32 expert (1.5 MiB) of the layer takes a shard of its own: 8+ memories.
    const shardOffset = MAX_SHARD_BYTES - 256 * 2 ** 20 - 2.25 * 2 ** 20 - 2 * 65536;
    const e = await engine(2, { shardOffset });
    const backend = new CpuBackend(e);
    try {
      await expectLayerMatches(backend, 'float32', 705, [1, 12]);
      expect(e.shardCount).toBeGreaterThanOrEqual(8);
      expect(e.residentBytes).toBeGreaterThan(20 * GiB);
    } finally {
      await backend.dispose();
    }
  });

  it('spreads layers over several memories and still matches the reference', async () => {
    // 4 MiB shards hold two float32 experts (1.5 MiB each) besides the scratch headroom.
    const e = await engine(3, { shardBytes: 4 * 2 ** 20 });
    const backend = new CpuBackend(e);
    try {
      await expectLayerMatches(backend, 'float32', 711, [1, 12]);
      expect(e.shardCount).toBeGreaterThanOrEqual(4);
      await expectLayerMatches(backend, 'q6_k', 712, [1, 12]);
    } finally {
      await backend.dispose();
    }
  });

  it('refuses a shard size that is not whole pages and an expert larger than a shard', async () => {
    await expect(WasmEngine.create('simd', 1, { shardBytes: 3 * 2 ** 20 + 1 })).rejects.toThrow(BackendError);
    const e = await engine(1, { shardBytes: 2 ** 21 });
    const backend = new CpuBackend(e);
    try {
      // One float32 expert with F = 1024 needs 3 MiB.
      const big = { ...config, expert: { ...config.expert, ffnSize: 1024 } };
      const error = await MoELayer.create({ config: big, weights: randomWeights(big, { seed: 721 }), backend }).then(
        (layer) => (layer.dispose(), undefined),
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(BackendError);
      expect((error as Error).message).toMatch(/more than one WebAssembly memory/);
    } finally {
      await backend.dispose();
    }
  });
});
