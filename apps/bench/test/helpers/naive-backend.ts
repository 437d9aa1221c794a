/**
 * A test-double backend: plain loops in float32 storage, correct by construction, with optional
 * faults (scaled outputs, permuted router logits) to prove the harness catches them.
 */
import { registerBackend, unregisterBackend, type Backend, type ExpertGroup, type LinearWeights, type PreparedExperts, type PreparedLinear, type RoutingPlan } from '@moe-runtime/core';
import { activationOf } from '@moe-runtime/core';

/** Faults a double can inject. */
export interface Faults {
  /** Multiply every expert output by (1 + perturb). */
  readonly perturb?: number;
  /** Reverse the order of every linear output row (routes tokens to other experts). */
  readonly reverseLogits?: boolean;
  /** Write NaN into the first value of this token row of every expert output. */
  readonly nanRow?: number;
  /** Scale these token rows by 1.01 (right on every other row). */
  readonly wrongRows?: readonly number[];
}

interface Lin extends PreparedLinear {
  readonly w: Float32Array;
  readonly b?: Float32Array;
}

interface Group extends PreparedExperts {
  readonly group: ExpertGroup;
}

/** Creates the double. */
export function naiveBackend(name: string, faults: Faults = {}): Backend {
  return {
    name,
    engine: Object.keys(faults).length ? 'faulty-js' : 'naive-js',
    threads: 1,
    async prepareLinear(weights: LinearWeights): Promise<PreparedLinear> {
      const [out, inF] = weights.weight.shape;
      const lin: Lin = { inFeatures: inF, outFeatures: out, w: weights.weight.toFloat32(), b: weights.bias?.toFloat32(), dispose: () => undefined };
      return lin;
    },
    async linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array> {
      const { w, b, inFeatures: n, outFeatures: m } = layer as Lin;
      const y = new Float32Array(rows * m);
      for (let i = 0; i < rows; i++) {
        for (let o = 0; o < m; o++) {
          let s = b ? b[o] : 0;
          for (let c = 0; c < n; c++) s += x[i * n + c] * w[o * n + c];
          y[i * m + (faults.reverseLogits ? m - 1 - o : o)] = s;
        }
      }
      return y;
    },
    async prepareExperts(group: ExpertGroup): Promise<PreparedExperts> {
      const g: Group = { kind: group.kind, numExperts: group.experts.length, hiddenSize: group.hiddenSize, ffnSize: group.ffnSize, group, dispose: () => undefined };
      return g;
    },
    async runExperts(experts: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
      const { group } = experts as Group;
      const d = group.hiddenSize;
      const f = group.ffnSize;
      const act = activationOf(group.kind);
      const rowOut = new Float32Array(plan.rowToken.length * d);
      for (let e = 0; e < plan.numExperts; e++) {
        const ex = group.experts[e];
        const up = ex.up.toFloat32();
        const gate = ex.gate?.toFloat32();
        const down = ex.down.toFloat32();
        for (let r = plan.expertOffsets[e]; r < plan.expertOffsets[e + 1]; r++) {
          const off = plan.rowToken[r] * d;
          const h = new Float64Array(f);
          for (let j = 0; j < f; j++) {
            let u = 0;
            for (let c = 0; c < d; c++) u += up[j * d + c] * x[off + c];
            if (gate) {
              let gg = 0;
              for (let c = 0; c < d; c++) gg += gate[j * d + c] * x[off + c];
              h[j] = act(gg) * u;
            } else h[j] = act(u);
          }
          for (let o = 0; o < d; o++) {
            let s = 0;
            for (let j = 0; j < f; j++) s += down[o * f + j] * h[j];
            rowOut[r * d + o] = s * (1 + (faults.perturb ?? 0));
          }
        }
      }
      const y = new Float32Array(plan.numTokens * d);
      for (let t = 0; t < plan.numTokens; t++) {
        for (let s = plan.tokenOffsets[t]; s < plan.tokenOffsets[t + 1]; s++) {
          const r = plan.tokenRows[s];
          for (let o = 0; o < d; o++) y[t * d + o] += plan.rowWeight[r] * rowOut[r * d + o];
        }
        if (faults.wrongRows?.includes(t)) for (let o = 0; o < d; o++) y[t * d + o] *= 1.01;
      }
      if (faults.nanRow !== undefined && faults.nanRow < plan.numTokens) y[faults.nanRow * d] = NaN;
      return y;
    },
    async dispose(): Promise<void> {},
  };
}

/** Registers a double under `name` (low priority); returns a function that removes it. */
export function registerNaive(name: string, faults: Faults = {}): () => void {
  registerBackend(name, { priority: -100, description: 'test double', create: async () => naiveBackend(name, faults) });
  return () => void unregisterBackend(name);
}
