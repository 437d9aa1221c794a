/**
 * The arguments of `Backend.attend` and the checks every implementation shares, so the host
 * implementation and backend kernels refuse the same bad calls with the same errors.
 */
import { ShapeError } from '../errors.js';
import { checkFinite } from '../input-checks.js';
import { ContextLengthError } from './context-length-error.js';
import { describeKvLayout, sameKvLayout, type KvCache, type KvCacheSpec } from './kv-cache.js';

/** How one attention layer attends (what differs between layers and architectures). */
export interface AttentionLayerSpec {
  /** Query heads H, a multiple of the cache's numKvHeads (query head h reads KV head floor(h / (H / numKvHeads))). */
  readonly numHeads: number;
  /** Multiplies every q.k score before the softmax (usually 1 / sqrt(keyDim)). */
  readonly scale: number;
  /** Sliding window: a query at position p sees keys at p-window+1 .. p (clipped at 0). Absent: every earlier key. */
  readonly window?: number;
  /**
   * Attention sinks (gpt-oss): one learned logit per query head that joins the softmax
   * denominator only: out = sum_j e^(s_j) v_j / (sum_j e^(s_j) + e^(sink_h)). `[numHeads]`.
   */
  readonly sinks?: Float32Array;
}

/** One sequence's part of an `attend` call. */
export interface AttentionSegment {
  /** The sequence's cache. Each cache appears at most once in a call. */
  readonly cache: KvCache;
  /** Absolute position of the segment's first new row; at most `cache.length` (less rewrites from there on). */
  readonly position: number;
  /** New rows (at positions position .. position+rows-1), at least 1. */
  readonly rows: number;
}

/** Sizes of a checked `attend` call. */
export interface AttendShape {
  /** Sum of the segments' rows. */
  readonly totalRows: number;
  readonly numHeads: number;
  /** The layout every segment's cache shares. */
  readonly cache: KvCacheSpec;
}

function checkLayerSpec(spec: AttentionLayerSpec, numKvHeads: number): void {
  const { numHeads, scale, window, sinks } = spec;
  if (!Number.isInteger(numHeads) || numHeads < 1 || numHeads % numKvHeads !== 0) {
    throw new ShapeError(`attend: layerSpec.numHeads must be a positive multiple of the cache's numKvHeads (${numKvHeads}), got ${numHeads}`);
  }
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) throw new ShapeError(`attend: layerSpec.scale must be a positive finite number, got ${scale}`);
  if (window !== undefined && (!Number.isInteger(window) || window < 1)) throw new ShapeError(`attend: layerSpec.window must be a positive integer or absent, got ${window}`);
  if (sinks !== undefined) {
    if (!(sinks instanceof Float32Array) || sinks.length !== numHeads) throw new ShapeError(`attend: layerSpec.sinks must be a Float32Array of numHeads (${numHeads}) values, got ${sinks instanceof Float32Array ? sinks.length : typeof sinks}`);
    checkFinite('attend: layerSpec.sinks', sinks, numHeads);
  }
}

function checkSegment(s: AttentionSegment, i: number, layer: number, first: KvCacheSpec, seen: Set<KvCache>): void {
  const { cache, position, rows } = s;
  if (cache.disposed) throw new ShapeError(`attend: segments[${i}].cache has been disposed`);
  if (!sameKvLayout(cache.spec, first)) throw new ShapeError(`attend: segments[${i}].cache holds ${describeKvLayout(cache.spec)}, segments[0]'s holds ${describeKvLayout(first)}; one call serves caches of one layout`);
  if (seen.has(cache)) throw new ShapeError(`attend: segments[${i}].cache appears twice in one call`);
  seen.add(cache);
  if (!Number.isInteger(layer) || layer < 0 || layer >= first.numLayers) throw new ShapeError(`attend: layer ${layer} is outside [0, ${first.numLayers}) of the cache`);
  if (!Number.isInteger(rows) || rows < 1) throw new ShapeError(`attend: segments[${i}].rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(position) || position < 0 || position > cache.length) {
    throw new ShapeError(`attend: segments[${i}].position must be an integer in [0, ${cache.length}] (the cache holds ${cache.length} positions), got ${position}`);
  }
  if (position + rows > cache.spec.capacity) {
    throw new ContextLengthError(cache.spec.capacity, position + rows, `attend: segments[${i}] (${rows} new rows at position ${position})`);
  }
}

function checkRowData(what: string, data: Float32Array, rows: number, width: number): void {
  if (!(data instanceof Float32Array) || data.length !== rows * width) {
    throw new ShapeError(`attend: ${what} must be a Float32Array of ${rows} rows x ${width} = ${rows * width} values, got ${data instanceof Float32Array ? data.length : typeof data}`);
  }
  checkFinite(`attend: ${what}`, data, width);
}

/**
 * Checks an `attend` call before anything is written: a ShapeError naming the argument for a
 * bad layer, layer spec, segment, layout mismatch or q/k/v length; a ContextLengthError for a
 * segment that would pass its cache's capacity; an InvalidInputError for a NaN or infinite
 * value in q, k or v. Backends call it first so every implementation refuses the same calls.
 */
export function checkAttendCall(
  layer: number,
  spec: AttentionLayerSpec,
  segments: readonly AttentionSegment[],
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
): AttendShape {
  if (!Array.isArray(segments) || segments.length === 0) throw new ShapeError('attend: segments must be a non-empty array');
  const first = segments[0].cache.spec;
  const seen = new Set<KvCache>();
  let totalRows = 0;
  segments.forEach((s, i) => {
    checkSegment(s, i, layer, first, seen);
    totalRows += s.rows;
  });
  checkLayerSpec(spec, first.numKvHeads);
  checkRowData('q', q, totalRows, spec.numHeads * first.keyDim);
  checkRowData('k', k, totalRows, first.numKvHeads * first.keyDim);
  checkRowData('v', v, totalRows, first.numKvHeads * first.valueDim);
  return { totalRows, numHeads: spec.numHeads, cache: first };
}

/**
 * Checks a `copyKvPrefix(src, dst, positions)` call: two live, distinct caches of one layout,
 * `positions` within what `src` holds (ShapeError) and within `dst`'s capacity (ContextLengthError).
 */
export function checkCopyKvPrefix(src: KvCache, dst: KvCache, positions: number): void {
  if (src.disposed || dst.disposed) throw new ShapeError(`copyKvPrefix: the ${src.disposed ? 'source' : 'destination'} cache has been disposed`);
  if (src === dst) throw new ShapeError('copyKvPrefix: source and destination are the same cache');
  if (!sameKvLayout(src.spec, dst.spec)) throw new ShapeError(`copyKvPrefix: the source holds ${describeKvLayout(src.spec)}, the destination ${describeKvLayout(dst.spec)}`);
  if (!Number.isInteger(positions) || positions < 0 || positions > src.length) {
    throw new ShapeError(`copyKvPrefix: positions must be an integer in [0, ${src.length}] (what the source holds), got ${positions}`);
  }
  if (positions > dst.spec.capacity) throw new ContextLengthError(dst.spec.capacity, positions, `copyKvPrefix of ${positions} positions`);
}
