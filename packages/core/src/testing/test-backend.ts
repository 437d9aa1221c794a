/**
 * The test-double backend: plain loops over the routing plan, float32 storage with float64
 * sums, correct by construction, so core, the apps and user code test against a Backend without
 * any backend package. It computes only the plan's rows and counts them (a test can check that
 * no unrouted (token, expert) pair ran), and can inject faults to prove that a harness catches
 * them, or slow down to exercise a scheduler.
 */
import type { Backend, LinearWeights, PreparedExperts, PreparedLinear } from '../backend.js';
import { registerBackend, unregisterBackend } from '../backend-registry.js';
import { activationOf, expertWeightsFloat32, gatedUnitOf, type ExpertGroup, type Float32ExpertWeights } from '../expert.js';
import { ExpertWorkCounter } from '../expert-work.js';
import { combineRows } from '../routed-rows.js';
import type { RoutingPlan } from '../routing-plan.js';

/** Faults the double can inject. */
export interface TestBackendFaults {
  /** Multiply every expert output row by (1 + perturb). */
  readonly perturb?: number;
  /** Reverse the order of every linear output row (routes tokens to other experts). */
  readonly reverseLogits?: boolean;
  /** Write NaN into the first value of this token's output. */
  readonly nanRow?: number;
  /** Scale these tokens' outputs by 1.01 (right on every other token). */
  readonly wrongRows?: readonly number[];
}

/** Options of {@link createTestBackend}. */
export interface TestBackendOptions {
  /** Reported name (default `test-double`); lets registry tests tell instances apart. */
  readonly name?: string;
  readonly faults?: TestBackendFaults;
  /** Awaits this long before each runExperts (the thread stays free). */
  readonly delayMs?: number;
  /** Spins the thread this long in each runExperts, as a heavy kernel would. */
  readonly busyMs?: number;
  /** Called with x before each runExperts; may throw (a backend failing on some input). */
  readonly beforeRunExperts?: (x: Float32Array) => void;
}

/** What the double did, for assertions. */
export interface TestBackendCounters {
  /** Expert rows computed by runExperts, over all calls. */
  expertRows: number;
  linearCalls: number;
  /** Prepared handles disposed. */
  disposedHandles: number;
}

/** A Backend of plain loops, with its counters. */
export interface TestBackend extends Backend {
  readonly counters: TestBackendCounters;
}

interface TestLinear extends PreparedLinear {
  readonly w: Float32Array;
  readonly b?: Float32Array;
}

interface TestExperts extends PreparedExperts {
  readonly experts: readonly Float32ExpertWeights[];
}

/** Row i of y `[rows, out]` = x W^T + b, summed in float64. */
function linearRow(w: Float32Array, b: Float32Array | undefined, x: Float32Array, xOff: number, inF: number, outF: number, y: Float32Array | Float64Array, yOff: number): void {
  for (let o = 0; o < outF; o++) {
    let s = b ? b[o] : 0;
    for (let c = 0; c < inF; c++) s += x[xOff + c] * w[o * inF + c];
    y[yOff + o] = s;
  }
}

function expertRow(kind: ExpertGroup['kind'], e: Float32ExpertWeights, x: Float32Array, xOff: number, d: number, f: number, out: Float32Array, outOff: number): void {
  const act = activationOf(kind);
  const unit = gatedUnitOf(kind);
  const u = new Float64Array(f);
  linearRow(e.up, e.upBias, x, xOff, d, f, u, 0);
  const h = new Float32Array(f);
  if (e.gate) {
    const g = new Float64Array(f);
    linearRow(e.gate, e.gateBias, x, xOff, d, f, g, 0);
    for (let j = 0; j < f; j++) h[j] = unit(g[j], u[j]);
  } else for (let j = 0; j < f; j++) h[j] = act(u[j]);
  linearRow(e.down, e.downBias, h, 0, f, d, out, outOff);
}

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: stands for a kernel that holds its thread
  }
}

function applyOutputFaults(y: Float32Array, d: number, numTokens: number, faults: TestBackendFaults): void {
  for (const t of faults.wrongRows ?? []) if (t < numTokens) for (let o = 0; o < d; o++) y[t * d + o] *= 1.01;
  if (faults.nanRow !== undefined && faults.nanRow < numTokens) y[faults.nanRow * d] = NaN;
}

/** Creates the test double (see the module comment). */
export function createTestBackend(options: TestBackendOptions = {}): TestBackend {
  const faults = options.faults ?? {};
  const counters: TestBackendCounters = { expertRows: 0, linearCalls: 0, disposedHandles: 0 };
  const expertWork = new ExpertWorkCounter();
  const dispose = (): void => {
    counters.disposedHandles++;
  };
  return {
    name: options.name ?? 'test-double',
    engine: Object.keys(faults).length ? 'faulty loops (test double)' : 'float32 loops (test double)',
    threads: 1,
    counters,
    expertWork,
    async prepareLinear(weights: LinearWeights): Promise<PreparedLinear> {
      const [out, inF] = weights.weight.shape;
      const layer: TestLinear = { inFeatures: inF, outFeatures: out, w: weights.weight.toFloat32(), b: weights.bias?.toFloat32(), dispose };
      return layer;
    },
    async linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array> {
      counters.linearCalls++;
      const { w, b, inFeatures: n, outFeatures: m } = layer as TestLinear;
      const y = new Float32Array(rows * m);
      for (let i = 0; i < rows; i++) linearRow(w, b, x, i * n, n, m, y, i * m);
      if (faults.reverseLogits) for (let i = 0; i < rows; i++) y.subarray(i * m, (i + 1) * m).reverse();
      return y;
    },
    async prepareExperts(group: ExpertGroup): Promise<PreparedExperts> {
      const prepared: TestExperts = { kind: group.kind, numExperts: group.experts.length, hiddenSize: group.hiddenSize, ffnSize: group.ffnSize, experts: group.experts.map(expertWeightsFloat32), dispose };
      return prepared;
    },
    async runExperts(handle: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      if (options.busyMs) spin(options.busyMs);
      options.beforeRunExperts?.(x);
      const { experts, hiddenSize: d, ffnSize: f, kind } = handle as TestExperts;
      const rowsOut = new Float32Array(plan.rowToken.length * d);
      for (let e = 0; e < plan.numExperts; e++) {
        if (plan.tokensPerExpert[e] === 0) continue;
        expertWork.record(e, plan.tokensPerExpert[e]);
        for (let r = plan.expertOffsets[e]; r < plan.expertOffsets[e + 1]; r++) {
          counters.expertRows++;
          expertRow(kind, experts[e], x, plan.rowToken[r] * d, d, f, rowsOut, r * d);
        }
      }
      if (faults.perturb) for (let i = 0; i < rowsOut.length; i++) rowsOut[i] *= 1 + faults.perturb;
      const y = combineRows(plan, d, rowsOut);
      applyOutputFaults(y, d, plan.numTokens, faults);
      return y;
    },
    async dispose(): Promise<void> {},
  };
}

/**
 * Registers a double under `name` (priority -100 unless given: never picked over a real
 * backend); each initialisation creates a fresh double. Returns a function that unregisters it.
 */
export function registerTestBackend(name: string, options: Omit<TestBackendOptions, 'name'> = {}, priority = -100): () => void {
  registerBackend(name, { priority, description: 'test double: plain loops', create: async () => createTestBackend({ ...options, name }) });
  return () => void unregisterBackend(name);
}
