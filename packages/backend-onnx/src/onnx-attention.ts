/**
 * The `onnx` backend's attention (`createKvCache`, `attend`, `copyKvPrefix`): float32 caches
 * with one head size run `com.microsoft.GroupQueryAttention` on caches held as onnxruntime
 * tensors (see attention-graph.ts and onnx-kv-cache.ts); every other layout falls back to core's
 * host attention for that cache, with its results (see README, "Attention").
 *
 * Each segment of a call is its own `session.run` (batch 1): GroupQueryAttention batches only
 * sequences of one query length, and one run per segment keeps a row's arithmetic independent of
 * the other segments of the call (the determinism rule of `Backend.attend`).
 */
import {
  BackendError,
  checkAttendCall,
  checkCopyKvPrefix,
  createHostKvCache,
  errorMessage,
  hostAttend,
  hostCopyKvPrefix,
  validateKvCacheSpec,
  type AttentionLayerSpec,
  type AttentionSegment,
  type KvCache,
  type KvCacheSpec,
  type ResidentBytes,
} from '@moe-runtime/core';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { ATTN, attentionGraphId, buildAttentionGraph, type AttentionGraphKey } from './attention-graph.js';
import { OnnxKvCache, type KvLayerTensors } from './onnx-kv-cache.js';
import type { ResolvedOnnxOptions } from './options.js';
import { createSession, float32Output } from './sessions.js';

/** The largest head size whose results do not depend on chunking (see {@link hostFallbackReason}). */
export const MAX_ONNX_HEAD_DIM = 128;

/**
 * Why a cache of `spec` cannot live in onnxruntime (and runs on core's host attention), or
 * undefined when it can (onnxruntime 1.30's CPU GroupQueryAttention, measured):
 * - not float32: its float16 kernel also rounds the queries and the output to float16, which
 *   the contract does not allow; q8_0 blocks are no tensor type it reads;
 * - keyDim != valueDim: it has one head size;
 * - a head size that is not a multiple of 8: it refuses to run ("head_size must be a multiple
 *   of 8");
 * - a head size above 128: it runs, but a row's bits then depend on how the sequence was
 *   chunked (measured at 256 and 512: chunkingIsExact fails; at 32 .. 128 it holds). Likely
 *   its q.k sums are split into blocks of 128 or not depending on the key count.
 */
export function hostFallbackReason(spec: KvCacheSpec): string | undefined {
  if (spec.format !== 'float32') return `a ${spec.format} cache`;
  if (spec.keyDim !== spec.valueDim) return `keyDim ${spec.keyDim} != valueDim ${spec.valueDim}`;
  if (spec.keyDim % 8 !== 0) return `head size ${spec.keyDim}, not a multiple of 8`;
  if (spec.keyDim > MAX_ONNX_HEAD_DIM) return `head size ${spec.keyDim}, above ${MAX_ONNX_HEAD_DIM}`;
  return undefined;
}

/** One segment's rows of q, k and v, at `position ..`. */
interface SegmentRows {
  readonly position: number;
  readonly rows: number;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
}

/**
 * Rows `position - 1 ..` for an odd segment past position 0: the row before it again (its
 * stored key and value written back unchanged, its query a copy of the segment's first one,
 * its output dropped: `keep` is the segment's own rows), so the run has an even row count.
 *
 * Why (onnxruntime 1.30, measured): the last row of a run of `k x 2 x headDim + 1` rows (a 1-row
 * decode step past position 0, 129 rows at head size 64, 257 at 128, 65 at 32) differs in the
 * last bits from what a longer run gives that row; every other run length tried matched. It
 * looks like query rows computed in blocks of `2 x headDim` with a one-row block on another code
 * path. An even row count leaves no one-row block for any even block size, so a row's bits do
 * not depend on how the sequence was chunked. The price is one extra query row for an odd
 * segment: a decode step computes two.
 */
function evenRows(seg: SegmentRows, cache: OnnxKvCache, layer: number): SegmentRows & { readonly keep: number } {
  if (seg.rows % 2 === 0 || seg.position === 0) return { ...seg, keep: seg.rows };
  const before = cache.readRow(layer, seg.position - 1);
  const width = seg.q.length / seg.rows;
  const join = (a: Float32Array, b: Float32Array): Float32Array => {
    const r = new Float32Array(a.length + b.length);
    r.set(a);
    r.set(b, a.length);
    return r;
  };
  return { position: seg.position - 1, rows: seg.rows + 1, q: join(seg.q.subarray(0, width), seg.q), k: join(before.keys, seg.k), v: join(before.values, seg.v), keep: seg.rows };
}

/** Bytes of GroupQueryAttention's score scratch one run may take (it allocates rows x heads x capacity floats). */
const SCRATCH_BYTES = 2 ** 28;

/**
 * The most rows one run takes (even, at least 2): GroupQueryAttention's CPU kernel allocates its
 * scores as `rows x numHeads x capacity` floats, the capacity and not the positions in use, so a
 * long prompt chunk on a long-context cache would reserve gigabytes (512 rows x 32 heads x 128k
 * positions: 8 GiB). Splitting a segment into runs keeps that under 256 MiB and changes no bits
 * (the runs are even, and chunkings into even runs are exact).
 */
function maxRunRows(numHeads: number, capacity: number): number {
  return Math.max(2, 2 * Math.floor(SCRATCH_BYTES / (8 * numHeads * capacity)));
}

/** Rows `from .. from+count-1` of a segment. */
function subSegment(seg: SegmentRows, from: number, count: number): SegmentRows {
  const part = (a: Float32Array): Float32Array => {
    const w = a.length / seg.rows;
    return a.subarray(from * w, (from + count) * w);
  };
  return { position: seg.position + from, rows: count, q: part(seg.q), k: part(seg.k), v: part(seg.v) };
}

/** Attention sessions, caches and their bookkeeping of one `onnx` backend. */
export class OnnxAttention {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  /** Every cache this backend made, of either kind (a host fallback cache included). */
  private readonly caches = new WeakSet<KvCache>();

  constructor(
    private readonly options: ResolvedOnnxOptions,
    private readonly memory: ResidentBytes,
  ) {}

  /** A cache for `spec`: onnxruntime tensors where GroupQueryAttention can run on it, else a host cache. */
  createKvCache(spec: KvCacheSpec): KvCache {
    validateKvCacheSpec(spec);
    const cache = hostFallbackReason(spec) === undefined ? new OnnxKvCache(spec) : createHostKvCache(spec);
    this.caches.add(cache);
    return this.memory.track(cache, cache.bytes);
  }

  /** See `Backend.attend` (checked by core's checkAttendCall first). */
  async attend(layer: number, spec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Promise<Float32Array> {
    const shape = checkAttendCall(layer, spec, segments, q, k, v);
    segments.forEach((s, i) => this.own(s.cache, `attend: segments[${i}].cache`));
    // One layout per call: the first cache says which implementation holds them all.
    if (!(segments[0].cache instanceof OnnxKvCache)) return hostAttend(layer, spec, segments, q, k, v);
    const { numKvHeads, keyDim: d } = shape.cache;
    const caches = segments.map((s) => s.cache as OnnxKvCache);
    // The layer-order check of every segment before any is written: a refused call writes nothing.
    const tensors = segments.map((s, i) => caches[i].beginWrite(layer, s.position, s.rows));
    const session = await this.session({ numHeads: spec.numHeads, numKvHeads, headDim: d, scale: Math.fround(spec.scale), window: spec.window, sinks: spec.sinks !== undefined });
    const sinks = spec.sinks && new Tensor('float32', spec.sinks, [spec.numHeads]);
    const widths = { q: spec.numHeads * d, kv: numKvHeads * d };
    const out = new Float32Array(shape.totalRows * widths.q);
    let row = 0;
    for (let i = 0; i < segments.length; i++) {
      const { position, rows } = segments[i];
      const rowsOf = (a: Float32Array, width: number): Float32Array => a.subarray(row * width, (row + rows) * width);
      const seg: SegmentRows = { position, rows, q: rowsOf(q, widths.q), k: rowsOf(k, widths.kv), v: rowsOf(v, widths.kv) };
      out.set(await this.runSegment(session, caches[i], layer, tensors[i], seg, sinks), row * widths.q);
      row += rows;
    }
    segments.forEach((s, i) => caches[i].commit(layer, s.position + s.rows));
    return out;
  }

  /** See `Backend.copyKvPrefix` (core's checkCopyKvPrefix first). */
  async copyKvPrefix(src: KvCache, dst: KvCache, positions: number): Promise<void> {
    this.own(src, 'copyKvPrefix: the source');
    this.own(dst, 'copyKvPrefix: the destination');
    checkCopyKvPrefix(src, dst, positions);
    // Same layout (checked), so both are onnxruntime caches or both host caches.
    if (src instanceof OnnxKvCache && dst instanceof OnnxKvCache) src.copyPrefixTo(dst, positions);
    else hostCopyKvPrefix(src, dst, positions);
  }

  /** Releases every attention session. */
  async dispose(): Promise<void> {
    const sessions = await Promise.allSettled(this.sessions.values());
    this.sessions.clear();
    await Promise.all(sessions.map((s) => (s.status === 'fulfilled' ? s.value.release() : undefined)));
  }

  private own(cache: KvCache, what: string): void {
    if (!this.caches.has(cache)) throw new BackendError(`${what} was not created by this 'onnx' backend (createKvCache); a cache belongs to the backend that made it`);
  }

  /** The session of `key`, made on first use and kept until dispose (one per distinct layer shape). */
  private session(key: AttentionGraphKey): Promise<InferenceSession> {
    const id = attentionGraphId(key);
    let session = this.sessions.get(id);
    if (!session) {
      session = createSession(`GroupQueryAttention ${id}`, buildAttentionGraph(key), this.options);
      // A failed creation is reported to this call and retried by the next one.
      session.catch(() => this.sessions.delete(id));
      this.sessions.set(id, session);
    }
    return session;
  }

  /**
   * One segment in runs of an even row count (see {@link evenRows}) of at most
   * {@link maxRunRows}: each as it is or with the row before it prepended; at position 0
   * (no row before) an odd run is its rows but the last, then that row with the one before it.
   */
  private async runSegment(session: InferenceSession, cache: OnnxKvCache, layer: number, tensors: KvLayerTensors, seg: SegmentRows, sinks: Tensor | undefined): Promise<Float32Array> {
    const parts: SegmentRows[] = [];
    const most = maxRunRows(seg.q.length / seg.rows / cache.spec.keyDim, cache.spec.capacity);
    for (let at = 0; at < seg.rows; at += most) parts.push(subSegment(seg, at, Math.min(most, seg.rows - at)));
    if (parts[0].position === 0 && parts[0].rows % 2 === 1 && parts[0].rows > 1) parts.splice(0, 1, subSegment(parts[0], 0, parts[0].rows - 1), subSegment(parts[0], parts[0].rows - 1, 1));
    const out = new Float32Array(seg.q.length);
    let at = 0;
    // In order: a run may re-read the row the previous one wrote.
    for (const part of parts) {
      const rows = await this.runRows(session, tensors, evenRows(part, cache, layer), sinks);
      out.set(rows, at);
      at += rows.length;
    }
    return out;
  }

  /** One GroupQueryAttention run over `seg`'s rows; returns the outputs of the last `seg.keep`. */
  private async runRows(session: InferenceSession, tensors: KvLayerTensors, seg: SegmentRows & { readonly keep: number }, sinks: Tensor | undefined): Promise<Float32Array> {
    const { position, rows } = seg;
    const width = (a: Float32Array): number => a.length / rows;
    const tensor = (a: Float32Array): Tensor => new Tensor('float32', a, [1, rows, width(a)]);
    const feeds: Record<string, Tensor> = {
      [ATTN.query]: tensor(seg.q),
      [ATTN.key]: tensor(seg.k),
      [ATTN.value]: tensor(seg.v),
      [ATTN.pastKey]: tensors.keys,
      [ATTN.pastValue]: tensors.values,
      [ATTN.seqlensK]: new Tensor('int32', Int32Array.of(position + rows - 1), [1]),
      [ATTN.totalLength]: new Tensor('int32', Int32Array.of(position + rows), []),
      ...(sinks ? { [ATTN.sinks]: sinks } : {}),
    };
    // The cache tensors are bound as the outputs too: onnxruntime writes the rows in place.
    const result = await this.run(session, feeds, { [ATTN.output]: null, [ATTN.presentKey]: tensors.keys, [ATTN.presentValue]: tensors.values });
    const all = float32Output('attention output', result[ATTN.output], seg.q.length);
    return all.subarray(all.length - (seg.keep * seg.q.length) / rows);
  }

  private async run(session: InferenceSession, feeds: Record<string, Tensor>, fetches: Record<string, Tensor | null>): Promise<Record<string, Tensor>> {
    try {
      return (await session.run(feeds, fetches)) as Record<string, Tensor>;
    } catch (err) {
      throw new BackendError(`onnxruntime failed running GroupQueryAttention: ${errorMessage(err)}`, { cause: err });
    }
  }
}
