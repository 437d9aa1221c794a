/**
 * A test-double backend: naive float32 loops over the routing plan, written here so core's
 * MoE layer is tested without any backend package. It computes only the plan's rows and counts
 * them, so tests can also check that no unrouted (token, expert) pair was computed.
 */
import {
  activationOf,
  type Backend,
  type ExpertGroup,
  type LinearWeights,
  type PreparedExperts,
  type PreparedLinear,
  type RoutingPlan,
} from '../../src/index.js';

interface NaiveLinear extends PreparedLinear {
  readonly w: Float32Array;
  readonly b?: Float32Array;
}

interface NaiveExperts extends PreparedExperts {
  readonly group: ExpertGroup;
  readonly decoded: { gate?: Float32Array; up: Float32Array; down: Float32Array; gateBias?: Float32Array; upBias?: Float32Array; downBias?: Float32Array }[];
}

/** What the double did, for assertions. */
export interface NaiveBackendCounters {
  /** Expert rows computed by runExperts (over all calls). */
  expertRows: number;
  linearCalls: number;
  disposedHandles: number;
}

/** A float32 backend of plain loops, plus counters. */
export interface NaiveBackend extends Backend {
  readonly counters: NaiveBackendCounters;
}

/** Creates the test-double backend. `name` lets registry tests tell instances apart. */
export function createNaiveBackend(name = 'naive-test'): NaiveBackend {
  const counters: NaiveBackendCounters = { expertRows: 0, linearCalls: 0, disposedHandles: 0 };
  const dispose = (): void => {
    counters.disposedHandles++;
  };
  return {
    name,
    engine: 'float32 loops (test double)',
    threads: 1,
    counters,
    async prepareLinear(weights: LinearWeights): Promise<PreparedLinear> {
      const [out, inF] = weights.weight.shape;
      const layer: NaiveLinear = { inFeatures: inF, outFeatures: out, w: weights.weight.toFloat32(), b: weights.bias?.toFloat32(), dispose };
      return layer;
    },
    async linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array> {
      counters.linearCalls++;
      const { w, b, inFeatures: n, outFeatures: m } = layer as NaiveLinear;
      const y = new Float32Array(rows * m);
      for (let i = 0; i < rows; i++) {
        for (let o = 0; o < m; o++) {
          let s = b ? b[o] : 0;
          for (let c = 0; c < n; c++) s += x[i * n + c] * w[o * n + c];
          y[i * m + o] = s;
        }
      }
      return y;
    },
    async prepareExperts(group: ExpertGroup): Promise<PreparedExperts> {
      const decoded = group.experts.map((e) => ({
        gate: e.gate?.toFloat32(),
        up: e.up.toFloat32(),
        down: e.down.toFloat32(),
        gateBias: e.gateBias?.toFloat32(),
        upBias: e.upBias?.toFloat32(),
        downBias: e.downBias?.toFloat32(),
      }));
      const prepared: NaiveExperts = { kind: group.kind, numExperts: group.experts.length, hiddenSize: group.hiddenSize, ffnSize: group.ffnSize, group, decoded, dispose };
      return prepared;
    },
    async runExperts(handle: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
      const { decoded, hiddenSize: d, ffnSize: f, kind } = handle as NaiveExperts;
      const act = activationOf(kind);
      const rows = plan.rowToken.length;
      const rowOut = new Float32Array(rows * d);
      const h = new Float32Array(f);
      for (let e = 0; e < plan.numExperts; e++) {
        const w = decoded[e];
        for (let r = plan.expertOffsets[e]; r < plan.expertOffsets[e + 1]; r++) {
          counters.expertRows++;
          const xo = plan.rowToken[r] * d;
          for (let j = 0; j < f; j++) {
            let u = w.upBias ? w.upBias[j] : 0;
            for (let c = 0; c < d; c++) u += w.up[j * d + c] * x[xo + c];
            if (w.gate) {
              let g = w.gateBias ? w.gateBias[j] : 0;
              for (let c = 0; c < d; c++) g += w.gate[j * d + c] * x[xo + c];
              h[j] = act(g) * u;
            } else h[j] = act(u);
          }
          for (let o = 0; o < d; o++) {
            let s = w.downBias ? w.downBias[o] : 0;
            for (let j = 0; j < f; j++) s += w.down[o * f + j] * h[j];
            rowOut[r * d + o] = s;
          }
        }
      }
      const y = new Float32Array(plan.numTokens * d);
      for (let t = 0; t < plan.numTokens; t++) {
        for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) {
          const r = plan.tokenRows[s];
          const wt = plan.rowWeight[r];
          for (let o = 0; o < d; o++) y[t * d + o] += wt * rowOut[r * d + o];
        }
      }
      return y;
    },
    async dispose(): Promise<void> {},
  };
}
