/**
 * What a compute engine (plain TypeScript, or WebAssembly on threads) implements. The backend
 * class validates inputs and owns the handles; an engine only lays out weights and computes.
 */
import type { ExpertKind, ExpertWorkCounter, RoutingPlan } from '@moe-runtime/core';

/** A linear layer's weights decoded to float32: `weight` `[out, in]`, `bias` `[out]`. */
export interface LinearData {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Float32Array;
  readonly bias?: Float32Array;
}

/** One expert decoded to float32 (`gate`/`up` `[F, D]`, `down` `[D, F]`). */
export interface ExpertData {
  readonly gate?: Float32Array;
  readonly up: Float32Array;
  readonly down: Float32Array;
  readonly gateBias?: Float32Array;
  readonly upBias?: Float32Array;
  readonly downBias?: Float32Array;
}

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
}

/** Engine-private state of a prepared layer. */
export interface EngineResource {
  /** Frees what the engine holds for the layer. */
  free(): void;
}

/** A compute engine. Calls are synchronous: the backend serialises them. */
export interface Engine {
  /** What runs, e.g. `wasm-relaxed-simd x2` or `js`. */
  readonly description: string;
  readonly threads: number;
  /** Test hook: the expert GEMMs `runExperts` dispatched (see core's ExpertWorkCounter). */
  readonly expertWork: ExpertWorkCounter;
  prepareLinear(data: LinearData): EngineResource;
  /** y `[rows, out]` = x W^T (+ b). */
  linear(layer: EngineResource, x: Float32Array, rows: number): Float32Array;
  prepareExperts(group: ExpertGroupData): EngineResource;
  /** The grouped expert FFN over the plan's routed rows plus the weighted combine. */
  runExperts(experts: EngineResource, x: Float32Array, plan: RoutingPlan): Float32Array;
  dispose(): Promise<void>;
}
