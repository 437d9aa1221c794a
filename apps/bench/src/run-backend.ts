/**
 * One scenario on one backend: builds the MoE layer and its dense equivalent on the backend,
 * then for every T warms up and times them alternately (same inputs, same run, so the ratio
 * is fair on a shared machine), cross-validating every output it produced.
 */
import { compareOutputs, errorMessage, MoELayer, type Backend, type MoEForwardResult } from '@moe-runtime/core';
import { MemorySampler } from './memory.js';
import type { ReferenceOracle, OutputCheck } from './reference-oracle.js';
import type { BenchRecord } from './record.js';
import { summarize } from './stats.js';
import { expertBytes, flopsPerToken, type Workload } from './workload.js';

/** Progress events of a run. */
export interface RunHooks {
  /** Called after every forward pass (MoE or dense, warm-up or timed). */
  onForward?(): void;
  /** Called when a case starts, e.g. to label a progress bar. */
  onCase?(label: string): void;
}

/** Worst-case accumulation of checks over all outputs of one layer in one case. */
class CheckAccumulator {
  relL2 = 0;
  maxAbs = 0;
  agreement = 1;
  nearTies = 0;
  rowsChecked = 0;
  outputs = 0;
  maxDrift = 0;
  readonly covered = new Set<number>();
  readonly failures = new Set<string>();
  private first?: Float32Array;

  constructor(private readonly what: string, private readonly maxRelL2: number) {}

  add(check: OutputCheck, result: MoEForwardResult): void {
    this.outputs++;
    // NaN must stick: compare with !(a <= b).
    if (!(check.relL2 <= this.relL2)) this.relL2 = check.relL2;
    if (!(check.maxAbs <= this.maxAbs)) this.maxAbs = check.maxAbs;
    this.agreement = Math.min(this.agreement, check.routingAgreement);
    this.nearTies = Math.max(this.nearTies, check.nearTies);
    this.rowsChecked = check.rowsChecked;
    for (const r of check.rows) this.covered.add(r);
    for (const f of check.failures) this.failures.add(`${this.what}: ${f}`);
    // Every output must also match the first one on all rows, sampled or not.
    const y = result.output.data;
    if (!this.first) this.first = Float32Array.from(y);
    else {
      const drift = compareOutputs(y, this.first).relL2;
      if (!(drift <= this.maxDrift)) this.maxDrift = drift;
      if (!(drift <= this.maxRelL2)) this.failures.add(`${this.what}: output ${this.outputs} differs from the first output by relative L2 ${drift.toExponential(3)}`);
    }
  }

  get passed(): boolean {
    return this.failures.size === 0 && this.outputs > 0;
  }
}

async function timed(layer: MoELayer, x: Float32Array, tokenIds?: Int32Array): Promise<{ ms: number; result: MoEForwardResult }> {
  const t0 = performance.now();
  const result = await layer.forward(x, { tokenIds });
  return { ms: performance.now() - t0, result };
}

interface CaseContext {
  readonly workload: Workload;
  readonly backend: Backend;
  readonly label: string;
  readonly moe: MoELayer;
  readonly dense: MoELayer;
  readonly hooks: RunHooks;
}

async function runCase(ctx: CaseContext, tokens: number): Promise<BenchRecord> {
  const { workload, backend, moe, dense, hooks } = ctx;
  const s = workload.scenario;
  const x = workload.input(tokens).data;
  const ids = workload.tokenIds(tokens);
  const oracle = workload.oracle(tokens);
  const moeChecks = new CheckAccumulator('moe', s.tolerance.maxRelL2);
  const denseChecks = new CheckAccumulator('dense', s.tolerance.maxRelL2);
  // Output i of a layer is checked on the sample rows shifted by i, so coverage grows with repeats.
  const verify = (acc: CheckAccumulator, o: ReferenceOracle, r: MoEForwardResult): void => acc.add(o.check(r, s.tolerance, acc.outputs), r);
  const memory = new MemorySampler();
  const moeMs: number[] = [];
  const denseMs: number[] = [];
  let expertsTouched = 0;
  let dropped = 0;
  const warmStart = performance.now();
  let warmed = 0;
  while (warmed < s.warmup) {
    verify(moeChecks, oracle.moe, (await timed(moe, x, ids)).result);
    hooks.onForward?.();
    verify(denseChecks, oracle.dense, (await timed(dense, x)).result);
    hooks.onForward?.();
    warmed++;
    // Warm-up shares the time budget too: a huge count (warmup: 1e9) must not run unbounded.
    if (performance.now() - warmStart > s.budgetSeconds * 1000) break;
  }
  const start = performance.now();
  for (let i = 0; i < s.repeats; i++) {
    const m = await timed(moe, x, ids);
    memory.sample();
    hooks.onForward?.();
    const d = await timed(dense, x);
    memory.sample();
    hooks.onForward?.();
    // Checks run outside the timed region.
    verify(moeChecks, oracle.moe, m.result);
    verify(denseChecks, oracle.dense, d.result);
    moeMs.push(m.ms);
    denseMs.push(d.ms);
    expertsTouched = m.result.plan.tokensPerExpert.reduce((n, c) => n + (c > 0 ? 1 : 0), 0);
    dropped = m.result.plan.dropped.token.length;
    if (i + 1 >= s.minRepeats && performance.now() - start > s.budgetSeconds * 1000) break;
  }
  const peaks = memory.stop();
  const t = summarize(moeMs);
  const dt = summarize(denseMs);
  const failures = [...moeChecks.failures, ...denseChecks.failures];
  const weightBytes = expertsTouched * expertBytes(workload.config);
  return {
    scenario: s.name,
    backend: backend.name,
    engine: backend.engine,
    tokens,
    p50_ms: t.p50,
    p95_ms: t.p95,
    tokens_per_s: (tokens * 1000) / t.p50,
    gflops: (flopsPerToken(workload.config) * tokens) / (t.p50 * 1e6),
    dense_p50_ms: dt.p50,
    ratio_vs_dense: t.p50 / dt.p50,
    rel_l2_err: moeChecks.relL2,
    max_abs_err: moeChecks.maxAbs,
    routing_agreement: moeChecks.agreement,
    near_ties: moeChecks.nearTies,
    passed: moeChecks.passed && denseChecks.passed,
    backend_label: ctx.label,
    threads: backend.threads,
    weight_dtype: s.weightDtype,
    repeats: t.count,
    warmup: warmed,
    min_ms: t.min,
    max_ms: t.max,
    mean_ms: t.mean,
    dense_p95_ms: dt.p95,
    dense_rel_l2_err: denseChecks.relL2,
    repeat_drift: moeChecks.maxDrift,
    rows_checked: moeChecks.rowsChecked,
    rows_covered: moeChecks.covered.size,
    outputs_checked: moeChecks.outputs + denseChecks.outputs,
    experts_touched: expertsTouched,
    dropped_tokens: dropped,
    weight_gbps: weightBytes / (t.p50 * 1e6),
    peak_rss_mb: round1(peaks.rssMb),
    peak_heap_mb: round1(peaks.heapMb),
    peak_external_mb: round1(peaks.externalMb),
    failures,
  };
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

/** A record for a case that threw before it could be measured. */
function failedRecord(workload: Workload, backend: Backend, label: string, tokens: number, err: unknown): BenchRecord {
  return {
    scenario: workload.scenario.name,
    backend: backend.name,
    engine: backend.engine,
    tokens,
    p50_ms: NaN,
    p95_ms: NaN,
    tokens_per_s: NaN,
    gflops: NaN,
    dense_p50_ms: NaN,
    ratio_vs_dense: NaN,
    rel_l2_err: NaN,
    max_abs_err: NaN,
    routing_agreement: NaN,
    near_ties: 0,
    passed: false,
    backend_label: label,
    weight_dtype: workload.scenario.weightDtype,
    failures: [`error: ${errorMessage(err)}`],
  };
}

/**
 * Runs every T of a scenario on one backend. A failure (a thrown error included) becomes a
 * record with `passed: false`; it never stops the other cases.
 */
export async function runScenarioOnBackend(workload: Workload, backend: Backend, label: string, hooks: RunHooks = {}): Promise<BenchRecord[]> {
  const s = workload.scenario;
  let moe: MoELayer | undefined;
  let dense: MoELayer | undefined;
  const records: BenchRecord[] = [];
  try {
    moe = await MoELayer.create({ config: workload.config, weights: workload.weights, backend });
    dense = await MoELayer.create({ config: workload.denseConfig, weights: workload.denseWeights, backend });
  } catch (err) {
    moe?.dispose();
    return s.tokens.map((t) => failedRecord(workload, backend, label, t, err));
  }
  try {
    for (const tokens of s.tokens) {
      hooks.onCase?.(`${s.name} ${label} T=${tokens}`);
      try {
        records.push(await runCase({ workload, backend, label, moe, dense, hooks }, tokens));
      } catch (err) {
        records.push(failedRecord(workload, backend, label, tokens, err));
      }
    }
  } finally {
    moe.dispose();
    dense.dispose();
  }
  return records;
}
