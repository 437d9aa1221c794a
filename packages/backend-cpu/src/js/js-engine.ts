/**
 * The plain TypeScript engine: the portable fallback (`simd: 'none'`) and the cross-check for
 * the WebAssembly kernels. Weights stay in their `[out, in]` layout (dot products of rows).
 */
import { activationOf, combineRows, gatedUnitOf, ExpertWorkCounter, gatherRows, shapeSize, type DType, type ExpertKind, type RoutingPlan } from '@moe-runtime/core';
import type { Engine, EngineResource, ExpertData, ExpertGroupData, LinearData } from '../engine.js';
import { gemmTransB } from './js-gemm.js';

/** Counts the float32 bytes of live layers (every weight is held decoded: 4 bytes a value). */
class Held {
  bytes = 0;
}

function f32Bytes(...arrays: (Float32Array | undefined)[]): number {
  return arrays.reduce((sum, a) => sum + (a ? a.byteLength : 0), 0);
}

class JsLinear implements EngineResource {
  private bytes: number;
  constructor(
    private readonly held: Held,
    readonly data: LinearData,
    readonly weight: Float32Array,
  ) {
    this.bytes = f32Bytes(weight, data.bias);
    held.bytes += this.bytes;
  }
  free(): void {
    this.held.bytes -= this.bytes;
    this.bytes = 0;
  }
}

class JsExperts implements EngineResource {
  private bytes: number;
  constructor(
    private readonly held: Held,
    readonly group: ExpertGroupData,
    readonly experts: readonly ExpertData[],
  ) {
    this.bytes = experts.reduce((sum, e) => sum + f32Bytes(e.gate, e.up, e.down, e.gateBias, e.upBias, e.downBias), 0);
    held.bytes += this.bytes;
  }
  free(): void {
    this.held.bytes -= this.bytes;
    this.bytes = 0;
  }
}

/** Runs one expert's FFN on `m` gathered rows `xs` `[m, D]`, writing `[m, D]` into `out`. */
function expertFfn(kind: ExpertKind, e: ExpertData, d: number, f: number, xs: Float32Array, m: number, out: Float32Array): void {
  const act = activationOf(kind);
  const unit = gatedUnitOf(kind);
  const h = new Float32Array(m * f);
  gemmTransB(xs, m, d, e.up, f, e.upBias, h);
  if (e.gate) {
    const g = new Float32Array(m * f);
    gemmTransB(xs, m, d, e.gate, f, e.gateBias, g);
    for (let i = 0; i < h.length; i++) h[i] = unit(g[i], h[i]);
  } else {
    for (let i = 0; i < h.length; i++) h[i] = act(h[i]);
  }
  gemmTransB(h, m, f, e.down, d, e.downBias, out);
}

/** The plain TypeScript engine (single thread). */
export class JsEngine implements Engine {
  readonly description = 'js';
  readonly threads = 1;
  readonly expertWork = new ExpertWorkCounter();
  /** No attention of its own: the backend runs core's host attention (float64, on the calling thread). */
  readonly attention = undefined;
  private readonly held = new Held();

  /** Every weight is held as float32. */
  residentBytesFor(_dtype: DType, shape: readonly number[]): number {
    return 4 * shapeSize(shape);
  }

  get residentBytes(): number {
    return this.held.bytes;
  }

  prepareLinear(data: LinearData): EngineResource {
    return new JsLinear(this.held, data, data.weight.toFloat32());
  }

  linear(layer: EngineResource, x: Float32Array, rows: number): Float32Array {
    const { data, weight } = layer as JsLinear;
    const y = new Float32Array(rows * data.outFeatures);
    gemmTransB(x, rows, data.inFeatures, weight, data.outFeatures, data.bias, y);
    return y;
  }

  linearMany(layers: readonly EngineResource[], xs: readonly Float32Array[], rows: number): Float32Array[] {
    return layers.map((l, i) => this.linear(l, xs[i], rows));
  }

  prepareExperts(group: ExpertGroupData): EngineResource {
    return new JsExperts(this.held, group, Array.from({ length: group.numExperts }, (_, j) => group.expert(j)));
  }

  runExperts(experts: EngineResource, x: Float32Array, plan: RoutingPlan): Float32Array {
    const { group, experts: weights } = experts as JsExperts;
    const d = group.hiddenSize;
    const rowsOut = new Float32Array(plan.rowToken.length * d);
    for (let e = 0; e < plan.numExperts; e++) {
      const start = plan.expertOffsets[e];
      const m = plan.expertOffsets[e + 1] - start;
      if (m === 0) continue;
      this.expertWork.record(e, m);
      const xs = gatherRows(x, d, plan, start, m);
      expertFfn(group.kind, weights[e], d, group.ffnSize, xs, m, rowsOut.subarray(start * d, (start + m) * d));
    }
    return combineRows(plan, d, rowsOut);
  }

  async dispose(): Promise<void> {}
}
