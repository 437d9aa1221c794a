/**
 * The cpu backend's own attention (KV caches in WebAssembly memory, the SIMD flash-attention
 * kernel on the thread pool) through core's shared attention checks: error against the direct
 * float64 formula and against the host reference with the same cache format, chunked prefill,
 * batched segments, prefix copies, thread counts, addresses past 2 GiB and refused calls.
 */
import {
  attentionOps,
  BackendError,
  compareOutputs,
  ConfigError,
  ContextLengthError,
  DTypeError,
  hostAttention,
  InvalidInputError,
  kvCacheBytes,
  type AttentionLayerSpec,
  type AttentionOps,
  type Backend,
  type KvCacheFormat,
} from '@moe-runtime/core';
import {
  attentionCase,
  attentionError,
  batchingIsExact,
  bitwiseEqual,
  caseCacheSpec,
  caseLayerSpec,
  chunkingIsExact,
  feedChunks,
  feedRows,
  headGroupingError,
  prefixCopyIsExact,
  rowsOf,
  windowOfOneIsIdentity,
  type AttentionCase,
} from '@moe-runtime/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend, createCpuBackend } from '../src/index.js';
import { WasmEngine } from '../src/wasm/wasm-engine.js';

const FORMATS: readonly KvCacheFormat[] = ['float32', 'float16', 'q8_0'];

// Measured on these cases (300 positions, keyDim/valueDim 64/64, 96/64, 128/128, 40/40; both
// builds, 1 and 2 threads), rel-L2 against the direct float64 formula on the unrounded inputs:
// float32 at most 3.3e-7, float16 2.1e-4 .. 4.0e-4, q8_0 5.3e-3 .. 9.7e-3 (the format's own
// rounding: core's host attention measures the same); against the host reference with the same
// cache format (same stored values) at most 3.3e-7 in every format. Asserted: 1e-6 (3x margin,
// 10x under the 1e-5), 1e-3, 2e-2, and 1e-6 against the host.
const BOUNDS: Readonly<Record<KvCacheFormat, number>> = { float32: 1e-6, float16: 1e-3, q8_0: 2e-2 };
const VS_HOST = 1e-6;

const sinks8 = Float32Array.from({ length: 8 }, (_, i) => i * 0.7 - 2);
const VARIANTS: readonly Partial<AttentionLayerSpec>[] = [{}, { window: 37 }, { sinks: sinks8 }, { window: 1 }, { window: 64, sinks: sinks8 }];

/** rel-L2 of `ops` against the host reference with the same cache format, one call over the case. */
async function errorVsHost(ops: AttentionOps, c: AttentionCase, format: KvCacheFormat, extra: Partial<AttentionLayerSpec>, chunks = [c.n]): Promise<number> {
  const spec = caseLayerSpec(c, extra);
  const mine = ops.createKvCache(caseCacheSpec(c, format));
  const host = hostAttention.createKvCache(caseCacheSpec(c, format));
  try {
    return compareOutputs(await feedChunks(ops, mine, c, chunks, spec), await feedChunks(hostAttention, host, c, chunks, spec)).relL2;
  } finally {
    mine.dispose();
    host.dispose();
  }
}

for (const [simd, threads] of [
  ['relaxed', 2],
  ['simd', 1],
] as const) {
  describe(`cpu attention (simd: '${simd}', threads: ${threads})`, () => {
    let backend: Backend;
    let ops: AttentionOps;
    beforeAll(async () => {
      backend = await createCpuBackend({ simd, threads });
      ops = attentionOps(backend);
    });
    afterAll(() => backend.dispose());

    it('is the backend\'s own attention, not the host one', () => {
      expect(ops.name).toBe('cpu');
      expect(ops).not.toBe(hostAttention);
    });

    describe.each([
      [64, 64],
      [96, 64],
      [128, 128],
      [40, 40],
    ])('keyDim %i, valueDim %i, 8 query heads over 2 KV heads, 300 positions', (keyDim, valueDim) => {
      const c = attentionCase(5 + keyDim, 300, 8, 2, keyDim, valueDim);
      it.each(FORMATS.filter((f) => f !== 'q8_0' || keyDim % 32 === 0))('%s cache: causal, sliding windows, sinks', async (format) => {
        for (const extra of VARIANTS) {
          expect(await attentionError(ops, c, format, extra)).toBeLessThan(BOUNDS[format]);
          expect(await errorVsHost(ops, c, format, extra)).toBeLessThan(VS_HOST);
        }
      });
    });

    it('12 query heads over 2 KV heads, 3 over 1 and 4 over 4, causal and windowed', async () => {
      expect(await headGroupingError(ops)).toBeLessThan(BOUNDS.float32);
    });

    it('a window of 1 returns each position its own value row (float32: exactly)', async () => {
      expect(await windowOfOneIsIdentity(ops)).toBe(true);
    });

    it('1024 positions in chunks of 256: within 1e-6 of the host reference (float32)', async () => {
      // Measured 4.4e-7 (relaxed x2 and simd x1): float32 sums over up to 1024 keys.
      const c = attentionCase(77, 1024, 8, 2, 128);
      expect(await errorVsHost(ops, c, 'float32', {}, [256, 256, 256, 256])).toBeLessThan(VS_HOST);
    });

    describe.each(FORMATS)('%s cache: bit-exact', (format) => {
      const c = attentionCase(21, 333, 8, 2, 64);
      const window = { window: 50, sinks: Float32Array.from({ length: 8 }, (_, i) => i - 4) };
      it('one call of 333 rows == calls of 1, 62, 3, 129, 1, 137 rows', async () => {
        expect(await chunkingIsExact(ops, c, format, [1, 62, 3, 129, 1, 137])).toBe(true);
        expect(await chunkingIsExact(ops, c, format, [1, 62, 3, 129, 1, 137], window)).toBe(true);
      });
      it('decode rows and a prefill chunk of three sequences in one call == each alone', async () => {
        const cases = [c, attentionCase(22, 333, 8, 2, 64), attentionCase(23, 333, 8, 2, 64)];
        expect(await batchingIsExact(ops, cases, format, [100, 7, 200], [1, 1, 70])).toBe(true);
        expect(await batchingIsExact(ops, cases, format, [64, 1, 17], [33, 1, 1], window)).toBe(true);
      });
      it('a copied prefix continues exactly as the original sequence did', async () => {
        expect(await prefixCopyIsExact(ops, c, format, 131, 117, { window: 90 })).toBe(true);
        expect(await prefixCopyIsExact(ops, c, format, 200, 200)).toBe(true);
      });
    });

    it('reports the bytes of its whole capacity, held in the backend\'s memory until disposed', () => {
      const spec = { numLayers: 3, numKvHeads: 2, keyDim: 96, valueDim: 64, capacity: 1000, format: 'q8_0' as const };
      const before = backend.memory!.residentBytes;
      const cache = ops.createKvCache(spec);
      expect(cache.bytes).toBe(kvCacheBytes(spec));
      expect(cache.bytes).toBe(3 * 1000 * 2 * (3 + 2) * 34);
      expect(backend.memory!.residentBytes - before).toBeGreaterThanOrEqual(cache.bytes);
      cache.dispose();
      expect(cache.disposed).toBe(true);
      expect(cache.bytes).toBe(0);
      expect(backend.memory!.residentBytes).toBe(before);
    });
  });
}

describe('cpu attention: threads and addresses', () => {
  it('gives the same bits on 1 and 3 threads', async () => {
    const one = await createCpuBackend({ simd: 'simd', threads: 1 });
    const three = await createCpuBackend({ simd: 'simd', threads: 3 });
    try {
      const c = attentionCase(31, 400, 8, 2, 64);
      for (const format of FORMATS) {
        const outs: Float32Array[] = [];
        for (const b of [one, three]) {
          const ops = attentionOps(b);
          outs.push(await feedChunks(ops, ops.createKvCache(caseCacheSpec(c, format)), c, [300, 100], caseLayerSpec(c, { window: 150 })));
        }
        expect(bitwiseEqual(outs[0], outs[1])).toBe(true);
      }
    } finally {
      await one.dispose();
      await three.dispose();
    }
  });

  it('computes right with the cache, queries and outputs past 2 GiB', async () => {
    const engine = await WasmEngine.create('simd', 2, { shardOffset: 2.25 * 2 ** 30 });
    if (!engine) throw new Error('WebAssembly SIMD is not available');
    const backend = new CpuBackend(engine);
    try {
      const ops = attentionOps(backend);
      const c = attentionCase(41, 200, 8, 2, 64);
      const before = engine.residentBytes;
      expect(before).toBeGreaterThan(2.25 * 2 ** 30);
      for (const format of FORMATS) {
        expect(await attentionError(ops, c, format, { window: 70 })).toBeLessThan(BOUNDS[format]);
        expect(await errorVsHost(ops, c, format, { sinks: sinks8 })).toBeLessThan(VS_HOST);
      }
      expect(engine.shardCount).toBe(1);
    } finally {
      await backend.dispose();
    }
  });
});

describe('cpu attention: refused calls', () => {
  let backend: Backend;
  let other: Backend;
  let ops: AttentionOps;
  beforeAll(async () => {
    backend = await createCpuBackend({ simd: 'simd', threads: 2 });
    other = await createCpuBackend({ simd: 'simd', threads: 1 });
    ops = attentionOps(backend);
  });
  afterAll(async () => {
    await backend.dispose();
    await other.dispose();
  });

  it('refuses bad calls with core\'s errors, writing nothing', async () => {
    const c = attentionCase(32, 6, 4, 2, 32);
    const spec = caseLayerSpec(c);
    const a = ops.createKvCache(caseCacheSpec(c, 'float16'));
    const [q, k, v] = [rowsOf(c.q, 128, 0, 3), rowsOf(c.k, 64, 0, 3), rowsOf(c.v, 64, 0, 3)];
    const call = (segments: Parameters<AttentionOps['attend']>[2], s = spec, qq = q, kk = k, vv = v): Promise<Float32Array> => ops.attend(0, s, segments, qq, kk, vv);
    await expect(call([])).rejects.toThrow(/segments must be a non-empty array/);
    await expect(call([{ cache: a, position: 1, rows: 3 }])).rejects.toThrow(/segments\[0\]\.position must be an integer in \[0, 0\]/);
    await expect(call([{ cache: a, position: 0, rows: 2 }, { cache: a, position: 0, rows: 1 }])).rejects.toThrow(/segments\[1\]\.cache appears twice/);
    await expect(call([{ cache: a, position: 0, rows: 2 }])).rejects.toThrow(/q must be a Float32Array of 2 rows x 128 = 256 values, got 384/);
    await expect(call([{ cache: a, position: 0, rows: 3 }], { numHeads: 3, scale: 1 })).rejects.toThrow(/numHeads must be a positive multiple/);
    await expect(call([{ cache: a, position: 0, rows: 3 }], { ...spec, sinks: new Float32Array(3) })).rejects.toThrow(/sinks must be a Float32Array of numHeads \(4\) values, got 3/);
    const nan = Float32Array.from(q);
    nan[130] = NaN;
    await expect(call([{ cache: a, position: 0, rows: 3 }], spec, nan)).rejects.toThrow(InvalidInputError);
    const huge = Float32Array.from(k);
    huge[70] = 7e4;
    await expect(call([{ cache: a, position: 0, rows: 3 }], spec, q, huge)).rejects.toThrow(DTypeError);
    await expect(call([{ cache: a, position: 0, rows: 3 }], spec, q, huge)).rejects.toThrow(/attend: k\[1, 6\] is 70000, outside what a float16 KV cache stores/);
    // A host cache and another cpu backend's cache are not this backend's.
    await expect(call([{ cache: hostAttention.createKvCache(a.spec), position: 0, rows: 3 }])).rejects.toThrow(BackendError);
    await expect(call([{ cache: attentionOps(other).createKvCache(a.spec), position: 0, rows: 3 }])).rejects.toThrow(/was not created by this 'cpu' backend/);
    expect(a.length).toBe(0);
    // Nothing was written: the cache gives what a fresh one gives.
    const fresh = ops.createKvCache(caseCacheSpec(c, 'float16'));
    expect(bitwiseEqual(await call([{ cache: a, position: 0, rows: 3 }]), await call([{ cache: fresh, position: 0, rows: 3 }]))).toBe(true);
    a.dispose();
    await expect(call([{ cache: a, position: 0, rows: 3 }])).rejects.toThrow(/segments\[0\]\.cache has been disposed/);
  });

  it('names the field of a bad spec', () => {
    const ok = { numLayers: 1, numKvHeads: 2, keyDim: 32, valueDim: 32, capacity: 8, format: 'float32' as const };
    expect(() => ops.createKvCache({ ...ok, capacity: 0 })).toThrow(/kvCache\.capacity: expected a positive integer, got 0/);
    expect(() => ops.createKvCache({ ...ok, format: 'q8_0', valueDim: 48 })).toThrow(ConfigError);
  });

  it('throws a ContextLengthError past the capacity, and refuses layers out of order', async () => {
    const c = attentionCase(31, 12, 4, 2, 32);
    const spec = caseLayerSpec(c);
    const cache = ops.createKvCache(caseCacheSpec(c, 'float32', 10));
    await feedRows(ops, cache, c, 0, 8, spec);
    await expect(feedRows(ops, cache, c, 8, 3, spec)).rejects.toThrow(ContextLengthError);
    expect(cache.length).toBe(8);
    const two = ops.createKvCache(caseCacheSpec(c, 'float32', 16, 2));
    const seg = [{ cache: two, position: 0, rows: 5 }];
    const [q, k, v] = [rowsOf(c.q, 128, 0, 5), rowsOf(c.k, 64, 0, 5), rowsOf(c.v, 64, 0, 5)];
    await expect(ops.attend(1, spec, seg, q, k, v)).rejects.toThrow(/layer 1 of positions 0\.\.4 came before layer 0/);
    await ops.attend(0, spec, seg, q, k, v);
    expect(two.length).toBe(0);
    await ops.attend(1, spec, seg, q, k, v);
    expect(two.length).toBe(5);
  });

  it('refuses prefix copies it cannot make', async () => {
    const c = attentionCase(41, 20, 4, 2, 32);
    const src = ops.createKvCache(caseCacheSpec(c, 'float32'));
    await feedRows(ops, src, c, 0, 10, caseLayerSpec(c));
    await expect(ops.copyKvPrefix(src, ops.createKvCache(caseCacheSpec(c, 'float32', 8)), 9)).rejects.toThrow(ContextLengthError);
    await expect(ops.copyKvPrefix(src, ops.createKvCache(caseCacheSpec(c, 'float32')), 11)).rejects.toThrow(/positions must be an integer in \[0, 10\]/);
    await expect(ops.copyKvPrefix(src, ops.createKvCache(caseCacheSpec(c, 'float16')), 5)).rejects.toThrow(/the source holds .*float32, the destination .*float16/);
    await expect(ops.copyKvPrefix(src, hostAttention.createKvCache(caseCacheSpec(c, 'float32')), 5)).rejects.toThrow(BackendError);
  });
});

describe('cpu attention on the TypeScript engine (simd: none)', () => {
  it('is core\'s host attention: the same bits', async () => {
    const backend = await createCpuBackend({ simd: 'none' });
    try {
      const ops = attentionOps(backend);
      const c = attentionCase(51, 90, 8, 2, 32);
      const spec = caseLayerSpec(c, { window: 40 });
      const mine = await feedChunks(ops, ops.createKvCache(caseCacheSpec(c, 'q8_0')), c, [50, 40], spec);
      const host = await feedChunks(hostAttention, hostAttention.createKvCache(caseCacheSpec(c, 'q8_0')), c, [50, 40], spec);
      expect(bitwiseEqual(mine, host)).toBe(true);
    } finally {
      await backend.dispose();
    }
  });
});
