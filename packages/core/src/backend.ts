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
import type { ExpertGroup } from './expert.js';
import type { RoutingPlan } from './routing-plan.js';
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
  /** Uploads / lays out a linear layer's weights once. */
  prepareLinear(weights: LinearWeights): Promise<PreparedLinear>;
  /** y `[rows, out]` = x `[rows, in]` W^T (+ b). */
  linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array>;
  /** Uploads / lays out a group of experts once. */
  prepareExperts(group: ExpertGroup): Promise<PreparedExperts>;
  /**
   * y `[T, D]` where y[t] = sum over token t's plan rows r of rowWeight[r] * FFN_expert(r)(x[t]),
   * summed in the plan's per-token row order; tokens without rows get 0.
   * `x` is `[plan.numTokens, hiddenSize]`.
   */
  runExperts(experts: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array>;
  /** Frees everything the backend holds (threads, sessions, device memory). */
  dispose(): Promise<void>;
}
