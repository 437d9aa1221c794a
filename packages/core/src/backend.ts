/**
 * The Backend interface: what a backend package implements. A backend keeps weights resident
 * (prepared once: uploaded, transposed, packed) and runs two hot operations:
 *
 * - `linear`: y = x W^T (+ b), for the router projection and, in models, attention projections;
 * - `runExperts`: the grouped expert FFN over a routing plan, computing only the routed
 *   (token, expert) rows and combining them with the routing weights. Computing every expert
 *   and masking is a bug, not a fallback.
 *
 * Handles returned by `prepare*` are owned by the backend that made them; passing one to
 * another backend is an error.
 */
import type { AttentionLayerSpec, AttentionSegment } from './attention/attention-call.js';
import type { KvCache, KvCacheSpec } from './attention/kv-cache.js';
import type { ExpertGroup } from './expert.js';
import type { RoutingPlan } from './routing-plan.js';
import type { ExpertWorkCounter } from './expert-work.js';
import type { DType, HostTensor } from './tensor.js';

/** A linear layer's weights in `[out, in]` layout. */
export interface LinearWeights {
  /** `[out, in]` */
  readonly weight: HostTensor;
  /** `[out]`, optional */
  readonly bias?: HostTensor;
}

/** A linear layer resident in a backend. */
export interface PreparedLinear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Frees the backend resources; the handle must not be used afterwards. */
  dispose(): void;
}

/** An expert group resident in a backend. */
export interface PreparedExperts {
  readonly kind: ExpertGroup['kind'];
  readonly numExperts: number;
  readonly hiddenSize: number;
  readonly ffnSize: number;
  /** Frees the backend resources; the handle must not be used afterwards. */
  dispose(): void;
}

/** Facts a backend reports about itself. */
export interface BackendInfo {
  /** Registered name, e.g. `cpu`, `onnx`. */
  readonly name: string;
  /** What actually runs, e.g. `wasm-simd-relaxed x2 threads`, `webgpu`, `tensorflow (CUDA)`. */
  readonly engine: string;
  /** Threads the backend computes with, when it knows. */
  readonly threads?: number;
}

/**
 * What a backend holds in memory. Optional on the Backend interface: a model loader uses it to
 * refuse a model that cannot fit before anything is allocated, and to report resident bytes.
 */
export interface BackendMemory {
  /**
   * Bytes this backend would hold for a weight of this storage format and shape once prepared
   * (e.g. the stored bytes where it computes on the format, 4 bytes per value where it decodes
   * to float32, more where it also packs a copy).
   */
  residentBytesFor(dtype: DType, shape: readonly number[]): number;
  /** The most bytes of weights this backend can hold (its own ceiling), or undefined when only the machine limits it. */
  readonly limitBytes?: number;
  /** Bytes of weights and scratch held now. */
  readonly residentBytes: number;
}

/** A compute backend. All methods may be called concurrently; a backend serialises as it needs. */
export interface Backend extends BackendInfo {
  /** Memory accounting, where the backend provides it. */
  readonly memory?: BackendMemory;
  /**
   * Test hook: the expert FFN dispatches `runExperts` made (launches and rows per expert of the
   * group), recorded where the backend hands rows to a kernel. Sparsity tests read it to show an
   * expert with no routed rows is never dispatched; the layer never reads it.
   */
  readonly expertWork?: ExpertWorkCounter;
  /** Uploads / lays out a linear layer's weights once. */
  prepareLinear(weights: LinearWeights): Promise<PreparedLinear>;
  /** y `[rows, out]` = x `[rows, in]` W^T (+ b). */
  linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array>;
  /**
   * Several independent linears in one call: result i is `linear(layers[i], xs[i], rows)`.
   * Optional: a backend that can hand them to its kernels as one batch (one thread hand-off,
   * the small ones split across threads together) implements it; callers go through core's
   * {@link linearMany}, which falls back to one `linear` call each.
   */
  linearMany?(layers: readonly PreparedLinear[], xs: readonly Float32Array[], rows: number): Promise<Float32Array[]>;
  /** Uploads / lays out a group of experts once. */
  prepareExperts(group: ExpertGroup): Promise<PreparedExperts>;
  /**
   * y `[T, D]` where y[t] = sum over token t's plan rows r of rowWeight[r] * FFN_expert(r)(x[t]),
   * summed in the plan's per-token row order; tokens without rows get 0.
   * `x` is `[plan.numTokens, hiddenSize]`.
   */
  runExperts(experts: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array>;
  /**
   * Allocates one sequence's KV cache for its whole `spec.capacity` (never grown later), empty
   * (`length` 0). Synchronous so a session can be opened without awaiting; a ConfigError naming
   * the field for a bad spec (`validateKvCacheSpec`), a BackendError when the memory is not there.
   *
   * The three attention methods (`createKvCache`, `attend`, `copyKvPrefix`) are optional and come
   * together: a backend without them gets the host implementation (`hostAttention`), and
   * `attentionOps(backend)` picks one for a decoder.
   */
  createKvCache?(spec: KvCacheSpec): KvCache;
  /**
   * One attention layer of one decoder step, over the new rows of several sequences at once.
   *
   * For each segment `{ cache, position, rows }` (its rows concatenated in segment order in `q`,
   * `k`, `v`; row r of segment s is the token at absolute position `s.position + r`):
   * 1. stores the segment's new keys and values in `cache` at layer `layer`, positions
   *    `position .. position+rows-1` (in the cache's format: the rows written are what every
   *    later read sees, the new rows' own queries included);
   * 2. computes causal grouped-query attention of each new query over the cache: the query at
   *    position p and head h sees the keys j of KV head `floor(h / (numHeads / numKvHeads))` with
   *    `p - window + 1 <= j <= p` (no lower bound without `window`), scores `scale * q.k_j`,
   *    softmax over them (plus `sinks[h]` in the denominator only, when given), and returns the
   *    weighted sum of the values.
   *
   * Layouts, all float32 row-major: `q` `[totalRows, numHeads * keyDim]` (head-major within a row),
   * `k` `[totalRows, numKvHeads * keyDim]`, `v` `[totalRows, numKvHeads * valueDim]`; the result
   * `[totalRows, numHeads * valueDim]`. Rotary embeddings, q/k norms and any projection are the
   * caller's (keys are cached as given). `layer` indexes the cache's layers (its attention
   * layers), not necessarily the decoder's.
   *
   * The cache's `length` advances to `position + rows` when the call for the last layer
   * (`numLayers - 1`) returns; the caller attends a step's layers in order 0 .. numLayers-1, each
   * once, with the same segments. `position` is at most `cache.length`: equal when appending,
   * smaller to rewrite from there on (what lies past the new rows is dropped when the step ends).
   *
   * A backend may assume, after `checkAttendCall` (which it calls first, so every implementation
   * refuses the same calls with the same errors, and nothing is written by a refused call): at
   * least one segment, each cache of this backend, live, appearing once, all of one layout
   * (numLayers, numKvHeads, keyDim, valueDim, format; capacities may differ),
   * `position + rows <= capacity` (else a ContextLengthError naming the context length), finite
   * q/k/v of exactly these lengths. It must not assume anything about other segments' lengths or
   * positions, or that `rows` is 1 (decode) or large (prefill): both come in one call.
   *
   * Determinism: a query row's result must depend only on its own query, position and its
   * cache's contents, never on how the sequence was split into calls (chunked prefill) nor on
   * which other segments share the call (batching). On a deterministic backend a reused prefix
   * and a batched step then give bit-identical results to one sequence alone in one call.
   */
  attend?(layer: number, layerSpec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Promise<Float32Array>;
  /**
   * Copies positions `0 .. positions-1` of every layer from `src` into `dst` (prefix reuse: a
   * prompt that starts with tokens an earlier sequence already computed). Afterwards `dst.length`
   * is `positions` and what `dst` held past them is gone; `src` is unchanged. Both caches are this
   * backend's and of one layout (capacities may differ); `positions <= src.length` and
   * `positions <= dst.spec.capacity` (`checkCopyKvPrefix` checks all of it).
   */
  copyKvPrefix?(src: KvCache, dst: KvCache, positions: number): Promise<void>;
  /** Frees everything the backend holds (threads, sessions, device memory). */
  dispose(): Promise<void>;
}
