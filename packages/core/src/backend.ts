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
import type { HostTensor } from './tensor.js';

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

/** A compute backend. All methods may be called concurrently; a backend serialises as it needs. */
export interface Backend extends BackendInfo {
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
