import { describe, expect, it } from 'vitest';
import {
  attentionOps,
  BackendError,
  compareOutputs,
  ConfigError,
  ContextLengthError,
  createHostKvCache,
  DTypeError,
  hostAttend,
  hostAttention,
  hostCopyKvPrefix,
  InvalidInputError,
  kvCacheBytes,
  ShapeError,
  type AttentionLayerSpec,
  type Backend,
  type KvCache,
  type KvCacheFormat,
  type KvCacheSpec,
} from '../src/index.js';
import { bitwiseEqual, directAttention, directCase, rowsOf, type DirectCase } from './helpers/direct-attention.js';
import { attentionCase, attentionError, batchingIsExact, chunkingIsExact, prefixCopyIsExact } from '../src/testing/index.js';

const FORMATS: readonly KvCacheFormat[] = ['float32', 'float16', 'q8_0'];

function specOf(c: DirectCase, format: KvCacheFormat, capacity = c.n, numLayers = 1): KvCacheSpec {
  return { numLayers, numKvHeads: c.numKvHeads, keyDim: c.keyDim, valueDim: c.valueDim, capacity, format };
}

function layerSpec(c: DirectCase, extra: Partial<AttentionLayerSpec> = {}): AttentionLayerSpec {
  return { numHeads: c.numHeads, scale: 1 / Math.sqrt(c.keyDim), ...extra };
}

/** Feeds positions `from .. from+rows-1` of the case to a one-layer cache; returns their outputs. */
function feed(cache: KvCache, c: DirectCase, from: number, rows: number, spec: AttentionLayerSpec): Float32Array {
  return hostAttend(
    0,
    spec,
    [{ cache, position: from, rows }],
    rowsOf(c.q, c.numHeads * c.keyDim, from, rows),
    rowsOf(c.k, c.numKvHeads * c.keyDim, from, rows),
    rowsOf(c.v, c.numKvHeads * c.valueDim, from, rows),
  );
}

/** Feeds the whole case in chunks of the given sizes (their sum is c.n); returns all outputs. */
function feedChunks(cache: KvCache, c: DirectCase, chunks: readonly number[], spec: AttentionLayerSpec): Float32Array {
  const out = new Float32Array(c.n * c.numHeads * c.valueDim);
  let at = 0;
  for (const rows of chunks) {
    out.set(feed(cache, c, at, rows, spec), at * c.numHeads * c.valueDim);
    at += rows;
  }
  return out;
}

// Measured on these seeded cases (rel-L2 against the float64 formula on the unrounded inputs):
// float32 2.5e-8 (the float32 rounding of the output), float16 3.5-4.0e-4, q8_0 8.8-9.4e-3
// (queries of std 2, so scores spread over several units). Asserted with margins of 10x, 2.5x, 2x.
const BOUNDS: Readonly<Record<KvCacheFormat, number>> = { float32: 2.5e-7, float16: 1e-3, q8_0: 2e-2 };

describe('host attention against the direct float64 formula', () => {
  // keyDim != valueDim is the latent-attention shape (keys [latent, rope part], values the latent).
  describe.each([
    [64, 64],
    [96, 64],
  ])('keyDim %i, valueDim %i, 8 query heads over 2 KV heads, 300 positions', (keyDim, valueDim) => {
    const c = directCase(5 + keyDim, 300, 8, 2, keyDim, valueDim);
    const sinks = Float32Array.from({ length: 8 }, (_, i) => i * 0.7 - 2);
    it.each(FORMATS)('%s cache: causal, sliding window, sinks', (format) => {
      for (const extra of [{}, { window: 37 }, { sinks }, { window: 1 }, { window: 64, sinks }]) {
        const cache = createHostKvCache(specOf(c, format));
        const out = feed(cache, c, 0, c.n, layerSpec(c, extra));
        const ref = directAttention(c, 1 / Math.sqrt(keyDim), extra.window, extra.sinks);
        expect(compareOutputs(out, ref).relL2).toBeLessThan(BOUNDS[format]);
        expect(cache.length).toBe(c.n);
      }
    });
  });

  it.each([
    [12, 2],
    [3, 1],
  ])('%i query heads over %i KV heads (groups of 6 and 3: the four-head passes and the remainder)', (heads, kvHeads) => {
    const c = directCase(8 + heads, 131, heads, kvHeads, 32);
    for (const extra of [{}, { window: 20 }]) {
      const out = feed(createHostKvCache(specOf(c, 'float32')), c, 0, c.n, layerSpec(c, extra));
      expect(compareOutputs(out, directAttention(c, 1 / Math.sqrt(32), extra.window)).relL2).toBeLessThan(BOUNDS.float32);
    }
  });

  it('a window of 1 returns each position its own stored value row, exactly', () => {
    const c = directCase(9, 70, 4, 2, 32);
    const cache = createHostKvCache(specOf(c, 'q8_0'));
    const out = feed(cache, c, 0, c.n, layerSpec(c, { window: 1 }));
    const stored = (cache as ReturnType<typeof createHostKvCache>).readValues(0, 0, c.n);
    for (let p = 0; p < c.n; p++) {
      for (let h = 0; h < 4; h++) {
        const kv = Math.floor(h / 2);
        expect(Array.from(out.subarray((p * 4 + h) * 32, (p * 4 + h + 1) * 32))).toEqual(Array.from(stored.subarray((p * 2 + kv) * 32, (p * 2 + kv + 1) * 32)));
      }
    }
  });

  it('sinks only add to the denominator: a very negative sink changes nothing, a large one shrinks the output', () => {
    const c = directCase(10, 40, 4, 4, 32);
    const plain = feed(createHostKvCache(specOf(c, 'float32')), c, 0, c.n, layerSpec(c));
    const tiny = feed(createHostKvCache(specOf(c, 'float32')), c, 0, c.n, layerSpec(c, { sinks: new Float32Array(4).fill(-1000) }));
    expect(bitwiseEqual(plain, tiny)).toBe(true);
    const big = feed(createHostKvCache(specOf(c, 'float32')), c, 0, c.n, layerSpec(c, { sinks: new Float32Array(4).fill(30) }));
    let ratio = 0;
    for (let i = 0; i < big.length; i++) ratio = Math.max(ratio, Math.abs(big[i]) / (Math.abs(plain[i]) + 1e-30));
    expect(ratio).toBeLessThan(1e-6);
  });
});

describe('results do not depend on chunking or batching (bit for bit)', () => {
  const c = directCase(21, 333, 8, 2, 64);
  const other = directCase(22, 333, 8, 2, 64);
  it.each(FORMATS)('%s cache: one call of 333 rows == calls of 1, 62, 3, 129, 1, 137 rows', (format) => {
    for (const extra of [{}, { window: 50, sinks: Float32Array.from({ length: 8 }, (_, i) => i - 4) }]) {
      const whole = feedChunks(createHostKvCache(specOf(c, format)), c, [333], layerSpec(c, extra));
      const split = feedChunks(createHostKvCache(specOf(c, format)), c, [1, 62, 3, 129, 1, 137], layerSpec(c, extra));
      expect(bitwiseEqual(whole, split)).toBe(true);
    }
  });

  it.each(FORMATS)('%s cache: two sequences in one call == each alone', (format) => {
    const spec = layerSpec(c);
    const a1 = createHostKvCache(specOf(c, format));
    const b1 = createHostKvCache(specOf(other, format));
    const soloA = feedChunks(a1, c, [100, 1], spec);
    const soloB = feedChunks(b1, other, [7, 1], spec);
    const a2 = createHostKvCache(specOf(c, format));
    const b2 = createHostKvCache(specOf(other, format));
    feed(a2, c, 0, 100, spec);
    feed(b2, other, 0, 7, spec);
    // A decode row of sequence A and one of B at their own positions, in one call.
    const qw = c.numHeads * c.keyDim;
    const kw = c.numKvHeads * c.keyDim;
    const cat = (x: Float32Array, y: Float32Array): Float32Array => Float32Array.from([...x, ...y]);
    const both = hostAttend(
      0,
      spec,
      [
        { cache: a2, position: 100, rows: 1 },
        { cache: b2, position: 7, rows: 1 },
      ],
      cat(rowsOf(c.q, qw, 100, 1), rowsOf(other.q, qw, 7, 1)),
      cat(rowsOf(c.k, kw, 100, 1), rowsOf(other.k, kw, 7, 1)),
      cat(rowsOf(c.v, kw, 100, 1), rowsOf(other.v, kw, 7, 1)),
    );
    const ow = c.numHeads * c.valueDim;
    expect(bitwiseEqual(both.subarray(0, ow), rowsOf(soloA, ow, 100, 1))).toBe(true);
    expect(bitwiseEqual(both.subarray(ow), rowsOf(soloB, ow, 7, 1))).toBe(true);
  });
});

describe('the KV cache handle', () => {
  it('reports the bytes of its whole capacity in each format', () => {
    const base = { numLayers: 3, numKvHeads: 2, keyDim: 96, valueDim: 64, capacity: 100 };
    expect(kvCacheBytes({ ...base, format: 'float32' })).toBe(3 * 100 * 2 * (96 + 64) * 4);
    expect(kvCacheBytes({ ...base, format: 'float16' })).toBe(3 * 100 * 2 * (96 + 64) * 2);
    expect(kvCacheBytes({ ...base, format: 'q8_0' })).toBe(3 * 100 * 2 * (3 + 2) * 34);
    const cache = createHostKvCache({ ...base, format: 'q8_0' });
    expect(cache.bytes).toBe(3 * 100 * 2 * 5 * 34);
    cache.dispose();
    expect(cache.disposed).toBe(true);
    expect(cache.bytes).toBe(0);
  });

  it('names the field of a bad spec', () => {
    const ok: KvCacheSpec = { numLayers: 1, numKvHeads: 2, keyDim: 32, valueDim: 32, capacity: 8, format: 'float32' };
    expect(() => createHostKvCache({ ...ok, capacity: 0 })).toThrow(/kvCache\.capacity: expected a positive integer, got 0/);
    expect(() => createHostKvCache({ ...ok, format: 'q4_0' as KvCacheFormat })).toThrow(/kvCache\.format: expected one of float32, float16, q8_0/);
    expect(() => createHostKvCache({ ...ok, format: 'q8_0', valueDim: 48 })).toThrow(ConfigError);
    expect(() => createHostKvCache({ ...ok, format: 'q8_0', valueDim: 48 })).toThrow(/kvCache\.valueDim: .*multiple of 32; got 48/);
  });

  it('advances its length when the last layer of a step is attended, and refuses layers out of order', () => {
    const c = directCase(30, 12, 4, 2, 32);
    const cache = createHostKvCache(specOf(c, 'float32', 16, 2));
    const seg = [{ cache, position: 0, rows: 5 }];
    const [q, k, v] = [rowsOf(c.q, 128, 0, 5), rowsOf(c.k, 64, 0, 5), rowsOf(c.v, 64, 0, 5)];
    expect(() => hostAttend(1, layerSpec(c), seg, q, k, v)).toThrow(/layer 1 of positions 0\.\.4 came before layer 0/);
    hostAttend(0, layerSpec(c), seg, q, k, v);
    expect(cache.length).toBe(0);
    hostAttend(1, layerSpec(c), seg, q, k, v);
    expect(cache.length).toBe(5);
  });

  it('rewrites from a position before its length (a rollback), dropping what lay past the new rows', () => {
    const c = directCase(33, 60, 4, 2, 32);
    const alt = directCase(34, 60, 4, 2, 32);
    const spec = layerSpec(c);
    const cache = createHostKvCache(specOf(c, 'q8_0'));
    feed(cache, c, 0, 50, spec);
    // Positions 40.. now hold alt's rows, as if the sequence had gone another way at 40.
    const mixed: DirectCase = { ...c, q: Float32Array.from(c.q), k: Float32Array.from(c.k), v: Float32Array.from(c.v) };
    for (const key of ['q', 'k', 'v'] as const) mixed[key].set(alt[key].subarray(mixed[key].length / 60 * 40), mixed[key].length / 60 * 40);
    const rewritten = feed(cache, mixed, 40, 15, spec);
    expect(cache.length).toBe(55);
    const fresh = createHostKvCache(specOf(c, 'q8_0'));
    feed(fresh, mixed, 0, 40, spec);
    expect(bitwiseEqual(rewritten, feed(fresh, mixed, 40, 15, spec))).toBe(true);
  });

  it('throws a ContextLengthError naming the context length before writing anything', () => {
    const c = directCase(31, 12, 4, 2, 32);
    const spec = layerSpec(c);
    const cache = createHostKvCache(specOf(c, 'float32', 10));
    const fresh = createHostKvCache(specOf(c, 'float32', 10));
    feed(cache, c, 0, 8, spec);
    feed(fresh, c, 0, 8, spec);
    let err: unknown;
    try {
      feed(cache, c, 8, 3, spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ContextLengthError);
    expect(err).toBeInstanceOf(ShapeError);
    expect((err as ContextLengthError).contextLength).toBe(10);
    expect((err as ContextLengthError).requested).toBe(11);
    expect((err as Error).message).toMatch(/3 new rows at position 8\) needs 11 positions, past the sequence's context length of 10/);
    expect(cache.length).toBe(8);
    // The refused call left nothing behind: the next rows give what a cache that never saw it gives.
    expect(bitwiseEqual(feed(cache, c, 8, 2, spec), feed(fresh, c, 8, 2, spec))).toBe(true);
  });

  it('refuses bad calls with the argument named', () => {
    const c = directCase(32, 6, 4, 2, 32);
    const spec = layerSpec(c);
    const a = createHostKvCache(specOf(c, 'float16'));
    const [q, k, v] = [rowsOf(c.q, 128, 0, 3), rowsOf(c.k, 64, 0, 3), rowsOf(c.v, 64, 0, 3)];
    const call = (segments: Parameters<typeof hostAttend>[2], s = spec, qq = q, kk = k, vv = v): Float32Array => hostAttend(0, s, segments, qq, kk, vv);
    expect(() => call([])).toThrow(/segments must be a non-empty array/);
    expect(() => call([{ cache: a, position: 1, rows: 3 }])).toThrow(/segments\[0\]\.position must be an integer in \[0, 0\]/);
    expect(() => call([{ cache: a, position: 0, rows: 0 }])).toThrow(/segments\[0\]\.rows must be a positive integer/);
    expect(() => call([{ cache: a, position: 0, rows: 2 }, { cache: a, position: 0, rows: 1 }])).toThrow(/segments\[1\]\.cache appears twice/);
    expect(() => call([{ cache: a, position: 0, rows: 2 }])).toThrow(/q must be a Float32Array of 2 rows x 128 = 256 values, got 384/);
    expect(() => call([{ cache: a, position: 0, rows: 3 }], { numHeads: 3, scale: 1 })).toThrow(/numHeads must be a positive multiple of the cache's numKvHeads \(2\), got 3/);
    expect(() => call([{ cache: a, position: 0, rows: 3 }], { ...spec, window: 0 })).toThrow(/window must be a positive integer/);
    expect(() => call([{ cache: a, position: 0, rows: 3 }], { ...spec, sinks: new Float32Array(3) })).toThrow(/sinks must be a Float32Array of numHeads \(4\) values, got 3/);
    expect(() => hostAttend(1, spec, [{ cache: a, position: 0, rows: 3 }], q, k, v)).toThrow(/layer 1 is outside \[0, 1\)/);
    const nan = Float32Array.from(q);
    nan[130] = NaN;
    expect(() => call([{ cache: a, position: 0, rows: 3 }], spec, nan)).toThrow(InvalidInputError);
    expect(() => call([{ cache: a, position: 0, rows: 3 }], spec, nan)).toThrow(/attend: q\[1, 2\] is NaN/);
    const huge = Float32Array.from(k);
    huge[70] = 7e4;
    expect(() => call([{ cache: a, position: 0, rows: 3 }], spec, q, huge)).toThrow(DTypeError);
    expect(() => call([{ cache: a, position: 0, rows: 3 }], spec, q, huge)).toThrow(/attend: k\[1, 6\] is 70000, outside what a float16 KV cache stores/);
    const b = createHostKvCache({ ...specOf(c, 'float32'), keyDim: 64 });
    expect(() => call([{ cache: a, position: 0, rows: 1 }, { cache: b, position: 0, rows: 2 }])).toThrow(/segments\[1\]\.cache holds 1 layers x 2 KV heads, keys 64 \/ values 32, float32, segments\[0\]'s holds/);
    const foreign: KvCache = { spec: a.spec, length: 0, bytes: 0, disposed: false, dispose: () => undefined };
    expect(() => call([{ cache: foreign, position: 0, rows: 3 }])).toThrow(BackendError);
    a.dispose();
    expect(() => call([{ cache: a, position: 0, rows: 3 }])).toThrow(/segments\[0\]\.cache has been disposed/);
  });
});

describe('prefix copies', () => {
  it.each(FORMATS)('%s: a copied prefix continues exactly as the original sequence did', (format) => {
    const c = directCase(40, 200, 8, 2, 64);
    const spec = layerSpec(c, { window: 90 });
    const original = feedChunks(createHostKvCache(specOf(c, format)), c, [131, 69], spec);
    const src = createHostKvCache(specOf(c, format, 140));
    feed(src, c, 0, 131, spec);
    const dst = createHostKvCache(specOf(c, format, 250));
    hostCopyKvPrefix(src, dst, 117);
    expect(dst.length).toBe(117);
    const ow = c.numHeads * c.valueDim;
    expect(bitwiseEqual(feed(dst, c, 117, 83, spec), rowsOf(original, ow, 117, 83))).toBe(true);
    expect(src.length).toBe(131);
  });

  it('refuses copies it cannot make', () => {
    const c = directCase(41, 20, 4, 2, 32);
    const src = createHostKvCache(specOf(c, 'float32'));
    feed(src, c, 0, 10, layerSpec(c));
    const small = createHostKvCache(specOf(c, 'float32', 8));
    expect(() => hostCopyKvPrefix(src, small, 9)).toThrow(ContextLengthError);
    expect(() => hostCopyKvPrefix(src, createHostKvCache(specOf(c, 'float32')), 11)).toThrow(/positions must be an integer in \[0, 10\] \(what the source holds\), got 11/);
    expect(() => hostCopyKvPrefix(src, createHostKvCache(specOf(c, 'float16')), 5)).toThrow(/the source holds .*float32, the destination .*float16/);
    expect(() => hostCopyKvPrefix(src, src, 5)).toThrow(/same cache/);
  });
});

describe('attentionOps', () => {
  const base = { name: 'fake', engine: 'test' } as unknown as Backend;
  it('takes the host implementation for a backend without attention methods', () => {
    expect(attentionOps(base)).toBe(hostAttention);
  });
  it('takes the backend\'s own when it has all three, and names the missing ones when it has some', async () => {
    let attended = 0;
    const full = {
      ...base,
      createKvCache: (spec: KvCacheSpec) => createHostKvCache(spec),
      attend: async () => {
        attended++;
        return new Float32Array(0);
      },
      copyKvPrefix: async () => undefined,
    } as unknown as Backend;
    const ops = attentionOps(full);
    expect(ops.name).toBe('fake');
    await ops.attend(0, { numHeads: 1, scale: 1 }, [], new Float32Array(0), new Float32Array(0), new Float32Array(0));
    expect(attended).toBe(1);
    const partial = { ...base, attend: full.attend } as unknown as Backend;
    expect(() => attentionOps(partial)).toThrow(/backend 'fake' implements attend but not createKvCache, copyKvPrefix/);
  });
});

describe('the shared attention checks (core/testing) on the host implementation', () => {
  // The suite backends run on their own attention; here it runs on the reference itself, with
  // a negative control for each exactness check (a different case must not compare equal).
  it('measures the error against the direct formula, and the exactness of chunking, batching and prefix copies', async () => {
    const c = attentionCase(50, 150, 8, 2, 64);
    expect(await attentionError(hostAttention, c, 'float32', { window: 40 })).toBeLessThan(BOUNDS.float32);
    expect(await chunkingIsExact(hostAttention, c, 'q8_0', [1, 70, 3, 76])).toBe(true);
    expect(await batchingIsExact(hostAttention, [c, attentionCase(51, 150, 8, 2, 64)], 'float16', [90, 13], [1, 37])).toBe(true);
    expect(await prefixCopyIsExact(hostAttention, c, 'float32', 100, 77, { window: 30 })).toBe(true);
    // Controls: an attend that shifts one output of a call starting past 0 (or of a call of
    // several segments) must be caught.
    type Args = Parameters<typeof hostAttention.attend>;
    const shifted = (when: (args: Args) => boolean) => ({
      ...hostAttention,
      attend: async (...args: Args) => (await hostAttention.attend(...args)).map((x, i) => (i === 0 && when(args) ? x + 1 : x)),
    });
    const late = shifted((args) => args[2][0].position > 0);
    expect(await chunkingIsExact(late, c, 'float32', [10, 140])).toBe(false);
    expect(await prefixCopyIsExact(late, c, 'float32', 100, 77)).toBe(false);
    expect(await batchingIsExact(shifted((args) => args[2].length > 1), [c, attentionCase(51, 150, 8, 2, 64)], 'float32', [90, 13], [1, 37])).toBe(false);
  });
});
