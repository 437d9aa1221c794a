/**
 * The WebAssembly engine's attention: KV caches in its shards (wasm-kv-cache.ts) and one kernel
 * batch per shard per call, one descriptor per segment (assembly/attention.ts), its work items
 * (KV head x block of 16 query rows) spread over the thread pool. The backend has checked the
 * call before it gets here.
 */
import { kvCacheBytes, type AttentionLayerSpec, type AttentionSegment, type KvCache, type KvCacheSpec } from '@moe-runtime/core';
import type { EngineAttention } from '../engine.js';
import { DESC_BYTES, WeightFormat } from './descriptors.js';
import { align64 } from './resident-bytes.js';
import type { Shard } from './shard.js';
import type { ThreadPool } from './thread-pool.js';
import { WasmKvCache, type ShardBlock } from './wasm-kv-cache.js';

/** Descriptor kind of an attention segment (assembly/attention.ts ATTEND). */
const ATTEND = 16;
/** Below this many multiply-adds a call runs on the calling thread alone. */
const PARALLEL_MIN_MACS = 1 << 17;

/** Kernel format codes of the cache formats. */
const FORMAT_CODE: Readonly<Record<KvCacheSpec['format'], number>> = { float32: WeightFormat.float32, float16: WeightFormat.float16, q8_0: WeightFormat.q8_0 };

/** Where a segment's rows lie in the call's q/k/v. */
interface Placed {
  readonly seg: AttentionSegment;
  readonly cache: WasmKvCache;
  readonly row0: number;
}

/** Attention of one WebAssembly engine. */
export class WasmAttention implements EngineAttention {
  constructor(
    private readonly pool: ThreadPool,
    /** A block of `bytes` in a shard with room (the engine's placement). */
    private readonly allocate: (bytes: number) => ShardBlock,
  ) {}

  createKvCache(spec: KvCacheSpec): KvCache {
    return new WasmKvCache(spec, this, this.allocate(kvCacheBytes(spec)));
  }

  owns(cache: KvCache): boolean {
    return cache instanceof WasmKvCache && cache.owner === this;
  }

  attend(layer: number, spec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Float32Array {
    const placed: Placed[] = [];
    let row = 0;
    for (const seg of segments) {
      const cache = seg.cache as WasmKvCache;
      cache.checkOrder(layer, seg.position, seg.rows);
      placed.push({ seg, cache, row0: row });
      row += seg.rows;
    }
    // Every segment's rows are written before any is read: a row attends to the stored
    // (possibly rounded) form of its own key, as a later call would see it.
    for (const p of placed) p.cache.write(layer, p.seg.position, p.seg.rows, k, v, p.row0);
    const { valueDim } = placed[0].cache.spec;
    const out = new Float32Array(row * spec.numHeads * valueDim);
    const byShard = new Map<Shard, Placed[]>();
    for (const p of placed) {
      const list = byShard.get(p.cache.shard);
      if (list) list.push(p);
      else byShard.set(p.cache.shard, [p]);
    }
    for (const [shard, list] of byShard) this.runShard(shard, layer, spec, list, q, out);
    for (const p of placed) p.cache.commit(layer, p.seg.position + p.seg.rows);
    return out;
  }

  copyKvPrefix(src: KvCache, dst: KvCache, positions: number): void {
    (src as WasmKvCache).copyPrefixTo(dst as WasmKvCache, positions);
  }

  /** One kernel batch over the segments whose caches live in `shard`. */
  private runShard(shard: Shard, layer: number, spec: AttentionLayerSpec, list: readonly Placed[], q: Float32Array, out: Float32Array): void {
    const { numKvHeads, keyDim, valueDim, format } = list[0].cache.spec;
    const heads = spec.numHeads;
    const group = heads / numKvHeads;
    const qw = heads * keyDim;
    const ow = heads * valueDim;
    const rows = list.reduce((n, p) => n + p.seg.rows, 0);
    const descBytes = align64(list.length * DESC_BYTES);
    const sinkBytes = spec.sinks ? align64(heads * 4) : 0;
    const s = shard.scratchFor(descBytes + sinkBytes + align64(rows * qw * 4) + rows * ow * 4 + 64);
    const sinks = s + descBytes;
    const qa = sinks + sinkBytes;
    const oa = qa + align64(rows * qw * 4);
    const f32 = shard.f32();
    const i32 = shard.i32();
    if (spec.sinks) f32.set(spec.sinks, sinks >>> 2);
    let local = 0;
    let macs = 0;
    list.forEach((p, i) => {
      const { position, rows: n } = p.seg;
      f32.set(q.subarray(p.row0 * qw, (p.row0 + n) * qw), (qa >>> 2) + local * qw);
      const o = (s + i * DESC_BYTES) >>> 2;
      i32[o] = ATTEND;
      i32[o + 1] = qa + local * qw * 4;
      i32[o + 2] = oa + local * ow * 4;
      i32[o + 3] = n;
      i32[o + 4] = position;
      i32[o + 5] = p.cache.keys(layer);
      i32[o + 6] = p.cache.values(layer);
      i32[o + 7] = p.cache.spec.capacity;
      i32[o + 8] = heads;
      i32[o + 9] = group;
      i32[o + 10] = keyDim;
      i32[o + 11] = valueDim;
      i32[o + 12] = FORMAT_CODE[format];
      f32[o + 13] = spec.scale;
      i32[o + 14] = spec.window ?? 0;
      i32[o + 15] = spec.sinks ? sinks : 0;
      const seen = spec.window ? Math.min(spec.window, position + n) : position + n;
      macs += n * heads * seen * (keyDim + valueDim);
      local += n;
    });
    const work = shard.workForBytes(shard.kernels.attendWorkBytes(keyDim, valueDim, group), this.pool.threads);
    this.pool.run(shard, s, list.length, 0, macs >= PARALLEL_MIN_MACS, work);
    const view = shard.f32();
    local = 0;
    for (const p of list) {
      const from = (oa >>> 2) + local * ow;
      out.set(view.subarray(from, from + p.seg.rows * ow), p.row0 * ow);
      local += p.seg.rows;
    }
  }
}
