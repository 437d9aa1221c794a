/**
 * Expert kinds and their weights. Weights use the Hugging Face / PyTorch `Linear` layout
 * `[out_features, in_features]`; backends re-lay them out once when they prepare a layer.
 *
 * - `swiglu` (Mixtral, Qwen, DeepSeek): `down(silu(gate x) * up x)`
 * - `gelu`: `down(gelu(up x))` with the exact (erf) GELU
 * - `relu`: `down(relu(up x))`
 * - `clamped-swiglu` (gpt-oss, `GptOssExperts.forward` of modeling_gpt_oss): g = min(gate x, limit),
 *   u = clamp(up x, -limit, limit), `down((u + 1) * g * sigmoid(alpha * g))` with limit 7 and
 *   alpha 1.702 ({@link CLAMPED_SWIGLU_LIMIT}, {@link CLAMPED_SWIGLU_ALPHA})
 */
import type { HostTensor } from './tensor.js';

/** The expert feed-forward kinds the runtime computes. */
export type ExpertKind = 'swiglu' | 'gelu' | 'relu' | 'clamped-swiglu';

/** Every expert kind, for validation messages. */
export const EXPERT_KINDS: readonly ExpertKind[] = ['swiglu', 'gelu', 'relu', 'clamped-swiglu'];

/** gpt-oss's `swiglu_limit`: the gate is clamped above at it, the up projection to [-limit, limit]. */
export const CLAMPED_SWIGLU_LIMIT = 7;

/** gpt-oss's `alpha` inside the gate's sigmoid. */
export const CLAMPED_SWIGLU_ALPHA = 1.702;

/** Whether experts of a kind have a gate projection beside up (SwiGLU and its clamped variant). */
export function isGatedKind(kind: ExpertKind): boolean {
  return kind === 'swiglu' || kind === 'clamped-swiglu';
}

/** Weights of one expert FFN with hidden size D and inner size F. */
export interface ExpertWeights {
  /** `[F, D]`, SwiGLU only (Mixtral `w1`, Qwen/DeepSeek `gate_proj`). */
  readonly gate?: HostTensor;
  /** `[F, D]` (Mixtral `w3`, `up_proj`; the first layer of GELU/ReLU MLPs). */
  readonly up: HostTensor;
  /** `[D, F]` (Mixtral `w2`, `down_proj`). */
  readonly down: HostTensor;
  /** `[F]`, optional, SwiGLU only. */
  readonly gateBias?: HostTensor;
  /** `[F]`, optional. */
  readonly upBias?: HostTensor;
  /** `[D]`, optional. */
  readonly downBias?: HostTensor;
}

/** A set of experts of one kind and shape, as handed to a backend to prepare. */
export interface ExpertGroup {
  readonly kind: ExpertKind;
  /** D */
  readonly hiddenSize: number;
  /** F */
  readonly ffnSize: number;
  readonly experts: readonly ExpertWeights[];
}

/** SiLU (swish): x * sigmoid(x). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** Logistic sigmoid. */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * erf with absolute error below 1.2e-7 everywhere (Numerical Recipes' erfc Chebyshev fit),
 * accurate enough for float32 GELU and cheap enough for a kernel.
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

/** Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

/** ReLU. */
export function relu(x: number): number {
  return x > 0 ? x : 0;
}

/**
 * gpt-oss's gated unit of one inner element: gate value `g` and up value `u` (biases included)
 * to `(clamp(u, -limit, limit) + 1) * min(g, limit) * sigmoid(alpha * min(g, limit))`.
 */
export function clampedSwiglu(g: number, u: number): number {
  const gc = Math.min(g, CLAMPED_SWIGLU_LIMIT);
  const uc = Math.min(Math.max(u, -CLAMPED_SWIGLU_LIMIT), CLAMPED_SWIGLU_LIMIT);
  return (uc + 1) * (gc / (1 + Math.exp(-CLAMPED_SWIGLU_ALPHA * gc)));
}

/** SwiGLU's gated unit: silu(g) * u. */
function swigluUnit(g: number, u: number): number {
  return silu(g) * u;
}

/** The gated unit of a gated kind (`h = unit(gate x, up x)`); {@link isGatedKind} says which kinds have one. */
export function gatedUnitOf(kind: ExpertKind): (g: number, u: number) => number {
  return kind === 'clamped-swiglu' ? clampedSwiglu : swigluUnit;
}

/** The pointwise activation applied to the first projection of a kind (SwiGLU: to the gate; the clamped kind has none alone, see {@link gatedUnitOf}). */
export function activationOf(kind: ExpertKind): (x: number) => number {
  switch (kind) {
    case 'swiglu':
    case 'clamped-swiglu':
      return silu;
    case 'gelu':
      return gelu;
    case 'relu':
      return relu;
  }
}

/** One expert's weights decoded to float32 (`gate`/`up` `[F, D]`, `down` `[D, F]`): what a float32 kernel reads. */
export interface Float32ExpertWeights {
  readonly gate?: Float32Array;
  readonly up: Float32Array;
  readonly down: Float32Array;
  readonly gateBias?: Float32Array;
  readonly upBias?: Float32Array;
  readonly downBias?: Float32Array;
}

/** Decodes an expert's weights (any stored format) to float32. */
export function expertWeightsFloat32(e: ExpertWeights): Float32ExpertWeights {
  return { gate: e.gate?.toFloat32(), up: e.up.toFloat32(), down: e.down.toFloat32(), gateBias: e.gateBias?.toFloat32(), upBias: e.upBias?.toFloat32(), downBias: e.downBias?.toFloat32() };
}
