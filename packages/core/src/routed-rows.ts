/**
 * The host side of a grouped expert pass, for backends that gather and combine on the host:
 * gathering the plan's routed rows of x in grouped order, and the weighted combine of the
 * experts' output rows back into token order.
 *
 * The combine contract (every host combine is this function): y[t] = sum over token t's plan
 * rows r, in the plan's per-token order (`tokenRows`), of `rowWeight[r] * out[r]`, accumulated
 * in float64 and rounded to float32 once per output value; tokens without rows get 0. One
 * precision and one order everywhere, so two backends whose expert rows agree bit for bit give
 * the same combined output, and batching or splitting tokens never changes a token's result.
 */
import { ShapeError } from './errors.js';
import type { RoutingPlan } from './routing-plan.js';

/**
 * Copies the grouped rows `first .. first+count` (token `rowToken[r]` of x, row width `d`) into
 * one block with row stride `outStride` (>= d; padded layouts leave the padding untouched).
 * Default: every row of the plan.
 */
export function gatherRows(
  x: Float32Array,
  d: number,
  plan: RoutingPlan,
  first = 0,
  count = plan.rowToken.length - first,
  out = new Float32Array(count * d),
  outStride = d,
): Float32Array {
  for (let i = 0; i < count; i++) {
    const t = plan.rowToken[first + i];
    out.set(x.subarray(t * d, t * d + d), i * outStride);
  }
  return out;
}

/**
 * Expert e's rows of x, `[n_e, d]`. When the expert takes every token in order (a shared
 * expert's dense plan) this is x itself, not a copy: read it, never write it.
 */
export function gatherExpertRows(x: Float32Array, d: number, plan: RoutingPlan, e: number): Float32Array {
  const first = plan.expertOffsets[e];
  const n = plan.expertOffsets[e + 1] - first;
  if (n === plan.numTokens && x.length === n * d) {
    let identity = true;
    for (let i = 0; i < n && identity; i++) identity = plan.rowToken[first + i] === i;
    if (identity) return x;
  }
  return gatherRows(x, d, plan, first, n);
}

/**
 * The experts' output rows: one block `[R, stride]` in grouped row order, or one block per expert
 * (`[n_e, stride]`, expert e's rows in order; undefined for an expert with no rows).
 */
export type ExpertRowOutputs = Float32Array | readonly (Float32Array | undefined)[];

/** Options of {@link combineRows}. */
export interface CombineOptions {
  /** Row stride of the output blocks (>= d; default d). */
  readonly stride?: number;
  /** Where to write y `[T, d]` (default: a new array). */
  readonly out?: Float32Array;
}

function rowSource(plan: RoutingPlan, rows: ExpertRowOutputs, r: number, stride: number): { src: Float32Array; offset: number } {
  if (rows instanceof Float32Array) return { src: rows, offset: r * stride };
  const e = plan.rowExpert[r];
  const src = rows[e];
  if (!src) throw new ShapeError(`combineRows: expert ${e} has rows in the plan but no output block`);
  return { src, offset: (r - plan.expertOffsets[e]) * stride };
}

/**
 * y `[T, d]` from the experts' output rows, by the combine contract in the module comment
 * (float64 accumulation in the plan's per-token order, one rounding to float32).
 */
export function combineRows(plan: RoutingPlan, d: number, rows: ExpertRowOutputs, options: CombineOptions = {}): Float32Array {
  const stride = options.stride ?? d;
  const y = options.out ?? new Float32Array(plan.numTokens * d);
  const acc = new Float64Array(d);
  for (let t = 0; t < plan.numTokens; t++) {
    acc.fill(0);
    for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) {
      const r = plan.tokenRows[s];
      const w = plan.rowWeight[r];
      const { src, offset } = rowSource(plan, rows, r, stride);
      for (let c = 0; c < d; c++) acc[c] += w * src[offset + c];
    }
    y.set(acc, t * d);
  }
  return y;
}

/** The largest row count of any expert in a plan. */
export function maxExpertRows(plan: RoutingPlan): number {
  let m = 0;
  for (let e = 0; e < plan.numExperts; e++) m = Math.max(m, plan.expertOffsets[e + 1] - plan.expertOffsets[e]);
  return m;
}
