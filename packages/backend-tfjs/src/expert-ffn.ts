/**
 * One expert's FFN in tfjs ops on the rows routed to it. Call inside `tf.tidy` (every
 * intermediate is then freed, also when an op throws).
 */
import { CLAMPED_SWIGLU_ALPHA, CLAMPED_SWIGLU_LIMIT, type ExpertKind } from '@moe-runtime/core';
import { tf, type Tensor1D, type Tensor2D } from './tf.js';

/** One expert's weights resident in tfjs, laid out `[in, out]`. */
export interface ExpertTensors {
  /** `[D, F]`, SwiGLU only. */
  readonly gate?: Tensor2D;
  /** `[D, F]` */
  readonly up: Tensor2D;
  /** `[F, D]` */
  readonly down: Tensor2D;
  readonly gateBias?: Tensor1D;
  readonly upBias?: Tensor1D;
  readonly downBias?: Tensor1D;
}

/** Every tensor of an expert, for disposal and counting. */
export function expertTensorList(e: ExpertTensors): (Tensor1D | Tensor2D)[] {
  return [e.gate, e.up, e.down, e.gateBias, e.upBias, e.downBias].filter((t): t is Tensor1D | Tensor2D => t !== undefined);
}

/** x `[n, in]` @ w `[in, out]` (+ b): a plain 2-D matMul, XNNPACK's fast path on wasm. */
export function project(x: Tensor2D, w: Tensor2D, b?: Tensor1D): Tensor2D {
  return b ? (tf.fused.matMul({ a: x, b: w, bias: b }) as Tensor2D) : tf.matMul(x, w);
}

/** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)). */
function gelu(x: Tensor2D): Tensor2D {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** y `[n, D]` = down(act(...)) for the rows `x` `[n, D]` routed to this expert. */
export function expertForward(kind: ExpertKind, w: ExpertTensors, x: Tensor2D): Tensor2D {
  const up = project(x, w.up, w.upBias);
  let hidden: Tensor2D;
  switch (kind) {
    case 'swiglu': {
      const g = project(x, w.gate!, w.gateBias);
      hidden = tf.mul(tf.mul(g, tf.sigmoid(g)), up);
      break;
    }
    case 'clamped-swiglu': {
      // gpt-oss: (clamp(up, -limit, limit) + 1) * g * sigmoid(alpha g), g = min(gate, limit).
      const g = tf.minimum(project(x, w.gate!, w.gateBias), CLAMPED_SWIGLU_LIMIT);
      const u = tf.clipByValue(up, -CLAMPED_SWIGLU_LIMIT, CLAMPED_SWIGLU_LIMIT);
      hidden = tf.mul(tf.add(u, 1), tf.mul(g, tf.sigmoid(tf.mul(g, CLAMPED_SWIGLU_ALPHA))));
      break;
    }
    case 'gelu':
      hidden = gelu(up);
      break;
    case 'relu':
      hidden = tf.relu(up);
      break;
  }
  return project(hidden, w.down, w.downBias);
}
