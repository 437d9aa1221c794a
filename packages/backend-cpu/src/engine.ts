/**
 * What a compute engine (plain TypeScript, or WebAssembly on threads) implements. The backend
 * class validates inputs and owns the handles; an engine only lays out weights and computes.
 */
import type {
  AttentionLayerSpec,
  AttentionSegment,
  DType,
  ExpertKind,
  ExpertWeights,
  ExpertWorkCounter,
  Float32ExpertWeights,
  HostTensor,
  KvCache,
  KvCacheSpec,
  RoutingPlan,
} from '@moe-runtime/core';

/** A validated linear layer: `weight` `[out, in]` in its stored format, `bias` `[out]` as float32. */
export interface LinearData {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: HostTensor;
  readonly bias?: Float32Array;
}

/** One expert decoded to float32 (core's type). */
export type ExpertData = Float32ExpertWeights;

/** A validated expert group whose experts decode to float32 on demand. */
export interface ExpertGroupData {
  readonly kind: ExpertKind;
  readonly hiddenSize: number;
  readonly ffnSize: number;
  readonly numExperts: number;
  /**
   * Expert j as float32 (float32 weights as they are, half-precision ones decoded into a new
   * copy), so an engine that packs the weights holds one decoded expert at a time.
   */
  expert(j: number): ExpertData;
  /** Expert j's tensors as given (stored formats), for engines that compute on them. */
  stored(j: number): ExpertWeights;
}

/** Engine-private state of a prepared layer. */
export interface EngineResource {
  /** Frees what the engine holds for the layer. */
  free(): void;
}

/**
 * An engine's own attention over KV caches it holds. The backend has checked every call
 * (core's checkAttendCall / checkCopyKvPrefix, the caches' owner, storable values) first.
 */
export interface EngineAttention {
  /** A cache of `spec` (already validated), allocated for its whole capacity. */
  createKvCache(spec: KvCacheSpec): KvCache;
  /** Whether `cache` was made by this engine (and so may be passed to the two calls below). */
  owns(cache: KvCache): boolean;
  /** `Backend.attend` on checked arguments. */
  attend(layer: number, spec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Float32Array;
  /** `Backend.copyKvPrefix` on checked arguments. */
  copyKvPrefix(src: KvCache, dst: KvCache, positions: number): void;
}

/** A compute engine. Calls are synchronous: the backend serialises them. */
export interface Engine {
  /** What runs, e.g. `wasm-relaxed-simd x2` or `js`. */
  readonly description: string;
  readonly threads: number;
  /** Bytes the engine holds for a weight of `dtype` and `shape` (`[..., out, in]`, or `[n]` for a bias) once prepared. */
  residentBytesFor(dtype: DType, shape: readonly number[]): number;
  /** Bytes held now: weights, plus scratch and work buffers where the engine keeps them. */
  readonly residentBytes: number;
  /** Test hook: the expert GEMMs `runExperts` dispatched (see core's ExpertWorkCounter). */
  readonly expertWork: ExpertWorkCounter;
  prepareLinear(data: LinearData): EngineResource;
  /** y `[rows, out]` = x W^T (+ b). */
  linear(layer: EngineResource, x: Float32Array, rows: number): Float32Array;
  /** Result i is `linear(layers[i], xs[i], rows)`, run together where the engine can batch them. */
  linearMany(layers: readonly EngineResource[], xs: readonly Float32Array[], rows: number): Float32Array[];
  prepareExperts(group: ExpertGroupData): EngineResource;
  /** The grouped expert FFN over the plan's routed rows plus the weighted combine. */
  runExperts(experts: EngineResource, x: Float32Array, plan: RoutingPlan): Float32Array;
  /** The engine's attention, or undefined where the backend uses core's host attention. */
  readonly attention: EngineAttention | undefined;
  dispose(): Promise<void>;
}
