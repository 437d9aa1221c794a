/**
 * The `onnx` backend's attention (`createKvCache`, `attend`, `copyKvPrefix`): float32 and
 * float16 caches live in buffers onnxruntime reads in place (onnx-kv-cache.ts) and attention
 * runs as a MatMul/Softmax graph in float32 (matmul-attention-graph.ts); q8_0 caches fall back
 * to core's host attention for that cache, with its results (see README, "Attention").
 *
 * A call writes every segment's new rows into its cache on the host (one contiguous copy each),
 * then runs each segment as its own `session.run`: its rows' arithmetic never meets another
 * segment's (the determinism rule of `Backend.attend`).
 */
import {
  BackendError,
  checkAttendCall,
  checkCopyKvPrefix,
  checkStorable,
  createHostKvCache,
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
import { buildMatMulAttentionGraph, matmulAttentionId, MM, type MatMulAttentionKey } from './matmul-attention-graph.js';
import { OnnxKvCache, paddedCapacity } from './onnx-kv-cache.js';
import type { ResolvedOnnxOptions } from './options.js';
import { createSession, float32Output, runSession } from './sessions.js';

/** The largest key and value head size checked bit-exact across chunkings (DeepSeek's latent 576 / 512). */
export const MAX_ONNX_HEAD_DIM = 576;

/**
 * Why a cache of `spec` runs on core's host attention, or undefined when it runs in
 * onnxruntime (see README, "Attention"): q8_0 blocks (an f16 scale per 32 int8 codes) are no
 * onnxruntime tensor type; a value head size of 1 (a matrix-vector product whose bits changed
 * with the chunking, measured with one KV head) or a head size above {@link MAX_ONNX_HEAD_DIM}
 * (not checked).
 */
export function hostFallbackReason(spec: KvCacheSpec): string | undefined {
  if (spec.format === 'q8_0') return 'a q8_0 cache';
  if (spec.valueDim < 2) return `value head size ${spec.valueDim}`;
  if (Math.max(spec.keyDim, spec.valueDim) > MAX_ONNX_HEAD_DIM) return `head size above ${MAX_ONNX_HEAD_DIM}`;
  return undefined;
}

/**
 * Intra-op threads of an attention session: at most one per KV head. MLAS gives each product of
 * a batch its own thread when there are no more threads than products, and splits a product
 * over threads otherwise, and the split changed the blocking of its sums and so the bits with
 * the chunking (measured: 2 KV heads on 4 threads, 1 on 2). One whole product per thread keeps
 * a row's bits independent of the chunking and of the thread count.
 */
export function attentionThreads(intraOpThreads: number, numKvHeads: number): number {
  return Math.max(1, Math.min(intraOpThreads, numKvHeads));
}

/** Bytes of scores (and their masked and softmax copies) one run may take. */
const SCRATCH_BYTES = 2 ** 28;

/**
 * The most rows one run takes: its scores are `numHeads x rows x keys` floats, held about four
 * times (scores, masked, softmax, its input with the sink column), so a long prompt chunk over
 * a long context is split into runs under 256 MiB. Runs are exact to any split (see matmul-attention-graph.ts's KEY_BLOCK).
 */
function maxRunRows(numHeads: number, keys: number): number {
  return Math.max(1, Math.floor(SCRATCH_BYTES / (16 * numHeads * keys)));
}

/** `0n, 1n, ..` as long as asked, grown on demand and shared by every run. */
class KeyPositions {
  private all = new BigInt64Array(0);
  upTo(n: number): BigInt64Array {
    if (this.all.length < n) this.all = BigInt64Array.from({ length: Math.max(n, 2 * this.all.length) }, (_, i) => BigInt(i));
    return this.all.subarray(0, n);
  }
}

/** One run: `rows` query rows at positions `position ..` of one segment. */
interface Run {
  readonly position: number;
  readonly rows: number;
  /** `[rows, numHeads * keyDim]` */
  readonly q: Float32Array;
}

/** Attention sessions, caches and their bookkeeping of one `onnx` backend. */
export class OnnxAttention {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();
  /** Every cache this backend made, of either kind (a host fallback cache included). */
  private readonly caches = new WeakSet<KvCache>();
  private readonly keyPositions = new KeyPositions();

  constructor(
    private readonly options: ResolvedOnnxOptions,
    private readonly memory: ResidentBytes,
  ) {}

  /** A cache for `spec`: buffers onnxruntime reads for float32 and float16, a host cache for q8_0. */
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
    const { numKvHeads, keyDim, valueDim, format } = shape.cache;
    const caches = segments.map((s) => s.cache as OnnxKvCache);
    // A float16 cache refuses values it would round to infinity (core's DTypeError), before any write.
    checkStorable(format, k, 'attend: k', numKvHeads * keyDim);
    checkStorable(format, v, 'attend: v', numKvHeads * valueDim);
    // The layer order of every segment is checked before any row is written: a refused call writes nothing.
    segments.forEach((s, i) => caches[i].checkWrite(layer, s.position, s.rows));
    // The session before any write: a session onnxruntime cannot make leaves the caches as they were.
    const session = await this.session({ numKvHeads, group: spec.numHeads / numKvHeads, keyDim, valueDim, scale: Math.fround(spec.scale), sinks: spec.sinks !== undefined, cache: format === 'float16' ? 'float16' : 'float32' });
    const widths = { q: spec.numHeads * keyDim, k: numKvHeads * keyDim, v: numKvHeads * valueDim, out: spec.numHeads * valueDim };
    let row = 0;
    for (let i = 0; i < segments.length; i++) {
      const { position, rows } = segments[i];
      caches[i].write(layer, position, rows, k.subarray(row * widths.k, (row + rows) * widths.k), v.subarray(row * widths.v, (row + rows) * widths.v));
      row += rows;
    }
    const out = new Float32Array(shape.totalRows * widths.out);
    row = 0;
    for (let i = 0; i < segments.length; i++) {
      const { position, rows } = segments[i];
      const most = maxRunRows(spec.numHeads, paddedCapacity(position + rows));
      for (let at = 0; at < rows; at += most) {
        const n = Math.min(most, rows - at);
        const run = { position: position + at, rows: n, q: q.subarray((row + at) * widths.q, (row + at + n) * widths.q) };
        out.set(await this.runRows(session, caches[i], layer, spec, run), (row + at) * widths.out);
      }
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
  private session(key: MatMulAttentionKey): Promise<InferenceSession> {
    const id = matmulAttentionId(key);
    let session = this.sessions.get(id);
    if (!session) {
      const threads = attentionThreads(this.options.intraOpThreads, key.numKvHeads);
      session = createSession(`attention (${id})`, buildMatMulAttentionGraph(key), { ...this.options, intraOpThreads: threads });
      // A failed creation is reported to this call and retried by the next one.
      session.catch(() => this.sessions.delete(id));
      this.sessions.set(id, session);
    }
    return session;
  }

  /**
   * One `session.run` over a run's rows (their keys and values already in the cache); returns
   * `[rows, numHeads * valueDim]`. A run of one query row in all (one row, one query head per
   * KV head) is sent twice: without that, decode steps with one query head per KV head were not
   * bit-exact against longer chunks (measured; likely a matrix-vector kernel for one-row
   * products).
   */
  private async runRows(session: InferenceSession, cache: OnnxKvCache, layer: number, spec: AttentionLayerSpec, run: Run): Promise<Float32Array> {
    const { numKvHeads, keyDim, valueDim } = cache.spec;
    const group = spec.numHeads / numKvHeads;
    const twice = run.rows * group === 1;
    const rows = twice ? 2 : run.rows;
    const q = twice ? Float32Array.from([...run.q, ...run.q]) : run.q;
    const keys = paddedCapacity(run.position + run.rows);
    const { qpos, lo } = queryPositions(run.position, rows, group, spec.window, twice);
    const prefix = cache.prefix(layer, keys);
    const feeds: Record<string, Tensor> = {
      [MM.q]: new Tensor('float32', q, [rows, numKvHeads, group * keyDim]),
      [MM.keys]: prefix.keys,
      [MM.values]: prefix.values,
      [MM.qpos]: new Tensor('int64', qpos, [rows * group, 1]),
      [MM.lo]: new Tensor('int64', lo, [rows * group, 1]),
      [MM.kpos]: new Tensor('int64', this.keyPositions.upTo(keys), [keys]),
      ...(spec.sinks ? { [MM.sinks]: new Tensor('float32', sinkColumn(spec.sinks, numKvHeads, rows), [numKvHeads, rows * group, 1]) } : {}),
    };
    const result = await runSession('attention', session, feeds);
    const width = spec.numHeads * valueDim;
    const all = float32Output('attention output', result[MM.out], rows * width);
    return twice ? all.subarray(width) : all;
  }
}

/**
 * Per query row of the graph (row s of the run, query head g of a group: index s * group + g)
 * its position and the first key it sees. `repeat`: both rows are the run's one row.
 */
function queryPositions(position: number, rows: number, group: number, window: number | undefined, repeat: boolean): { qpos: BigInt64Array; lo: BigInt64Array } {
  const qpos = new BigInt64Array(rows * group);
  const lo = new BigInt64Array(rows * group);
  for (let s = 0; s < rows; s++) {
    const p = repeat ? position : position + s;
    const first = window === undefined ? 0 : Math.max(0, p - window + 1);
    qpos.fill(BigInt(p), s * group, (s + 1) * group);
    lo.fill(BigInt(first), s * group, (s + 1) * group);
  }
  return { qpos, lo };
}

/** `[numKvHeads, rows * group]`: the sink of query head `kvh * group + g` for each (row, g). */
function sinkColumn(sinks: Float32Array, numKvHeads: number, rows: number): Float32Array {
  const group = sinks.length / numKvHeads;
  const out = new Float32Array(numKvHeads * rows * group);
  for (let h = 0; h < numKvHeads; h++) {
    for (let s = 0; s < rows; s++) out.set(sinks.subarray(h * group, (h + 1) * group), (h * rows + s) * group);
  }
  return out;
}
