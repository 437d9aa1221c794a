/**
 * One scenario on one backend: builds the MoE layer and its dense equivalent on the backend,
 * then for every T warms up and times them alternately (a fresh seeded input every pass, the
 * same for both layers; the last-level cache evicted before every timed call), cross-validating
 * every output it produced against the float64 reference.
 */
import { compareOutputs, errorMessage, MoELayer, type Backend, type MoEForwardResult } from '@moe-runtime/core';
import type { CacheEvictor } from './cache-evict.js';
import { MemorySampler } from './memory.js';
import type { OutputCheck, ReferenceOracle } from './reference-oracle.js';
import type { BenchRecord } from './record.js';
import type { ScenarioTolerance } from './scenario.js';
import { summarize } from './stats.js';
import { passWeightBytes } from './weight-traffic.js';
import { flopsPerToken, type Workload, type WorkloadPass } from './workload.js';

/** Progress events of a run. */
export interface RunHooks {
  /** Called after every forward pass (MoE or dense, warm-up, timed or re-run). */
  onForward?(): void;
  /** Called when a case starts, e.g. to label a progress bar. */
  onCase?(label: string): void;
}

/** Pass number of the first timed pass: above any warm-up pass, so warm-up and timed inputs never coincide. */
const TIMED_PASS_BASE = 2 ** 20;

/** Forward passes of one case beyond warm-up and repeats: the re-run of the first timed input, MoE and dense. */
export const RERUN_FORWARDS = 2;

/** Worst-case accumulation of the reference checks over all outputs of one layer in one case. */
class CheckAccumulator {
  relL2 = 0;
  maxAbs = 0;
  agreement = 1;
  nearTies = 0;
  rowsChecked = 0;
  outputs = 0;
  drift = NaN;
  readonly covered = new Set<number>();
  readonly failures = new Set<string>();

  constructor(private readonly what: string, private readonly maxRelL2: number) {}

  /** Output number `outputs` of the case: its own oracle, checked on the sample shifted by its number. */
  verify(oracle: ReferenceOracle, result: MoEForwardResult, tolerance: ScenarioTolerance): void {
    this.add(oracle.check(result, tolerance, this.outputs));
  }

  private add(check: OutputCheck): void {
    this.outputs++;
    // NaN must stick: compare with !(a <= b).
    if (!(check.relL2 <= this.relL2)) this.relL2 = check.relL2;
    if (!(check.maxAbs <= this.maxAbs)) this.maxAbs = check.maxAbs;
    this.agreement = Math.min(this.agreement, check.routingAgreement);
    this.nearTies = Math.max(this.nearTies, check.nearTies);
    this.rowsChecked = check.rowsChecked;
    for (const r of check.rows) this.covered.add(r);
    for (const f of check.failures) this.failures.add(`${this.what}: ${f}`);
  }

  /**
   * The re-run of an input against its first output, on all rows: rows outside the reference
   * sample cannot differ between two runs of one input unnoticed.
   */
  rerun(first: Float32Array, again: Float32Array): void {
    this.drift = compareOutputs(again, first).relL2;
    if (!(this.drift <= this.maxRelL2)) this.failures.add(`${this.what}: a re-run of the first timed input differs from its first output by relative L2 ${this.drift.toExponential(3)}`);
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
  readonly evictor: CacheEvictor;
  readonly hooks: RunHooks;
}

/** The MoE and dense results of one pass, each timed after a cache eviction. */
interface PassResult {
  readonly moe: { ms: number; result: MoEForwardResult };
  readonly dense: { ms: number; result: MoEForwardResult };
}

async function runPass(ctx: CaseContext, p: WorkloadPass): Promise<PassResult> {
  const x = p.x.data;
  ctx.evictor.evict();
  const moe = await timed(ctx.moe, x, p.tokenIds);
  ctx.hooks.onForward?.();
  ctx.evictor.evict();
  const dense = await timed(ctx.dense, x);
  ctx.hooks.onForward?.();
  return { moe, dense };
}

function expertsTouched(result: MoEForwardResult): number {
  return result.plan.tokensPerExpert.reduce((n, c) => n + (c > 0 ? 1 : 0), 0);
}

function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

async function runCase(ctx: CaseContext, tokens: number): Promise<BenchRecord> {
  const { workload, backend } = ctx;
  const s = workload.scenario;
  const moeChecks = new CheckAccumulator('moe', s.tolerance.maxRelL2);
  const denseChecks = new CheckAccumulator('dense', s.tolerance.maxRelL2);
  const verify = (p: WorkloadPass, r: PassResult): void => {
    moeChecks.verify(p.moe, r.moe.result, s.tolerance);
    denseChecks.verify(p.dense, r.dense.result, s.tolerance);
  };
  const memory = new MemorySampler();
  const moeMs: number[] = [];
  const denseMs: number[] = [];
  const touched: number[] = [];
  const dropped: number[] = [];
  const warmStart = performance.now();
  let warmed = 0;
  // Warm-up also goes on until every routed expert has run once: fresh tokens reach experts
  // the first passes did not, and one-time work on an expert's first use (tfjs-wasm packs its
  // weights then) belongs to loading, not to a decode step.
  const primed = new Uint8Array(workload.config.numExperts);
  let unprimed = primed.length;
  while (warmed < s.warmup || (s.warmup > 0 && unprimed > 0)) {
    const p = workload.pass(tokens, warmed);
    const r = await runPass(ctx, p);
    verify(p, r);
    r.moe.result.plan.tokensPerExpert.forEach((n, e) => {
      if (n > 0 && !primed[e]) {
        primed[e] = 1;
        unprimed--;
      }
    });
    warmed++;
    // Warm-up shares the time budget too: a huge count (warmup: 1e9) must not run unbounded.
    if (performance.now() - warmStart > s.budgetSeconds * 1000) break;
  }
  // Timed passes are numbered after every warm-up pass any backend may run (a warm-up never
  // reaches 2^20 passes in its budget), so every backend times the same inputs.
  const timedBase = Math.max(s.warmup, TIMED_PASS_BASE);
  let first: { pass: WorkloadPass; moe: Float32Array; dense: Float32Array } | undefined;
  const start = performance.now();
  for (let i = 0; i < s.repeats; i++) {
    const p = workload.pass(tokens, timedBase + i);
    const r = await runPass(ctx, p);
    memory.sample();
    // Checks run outside the timed region.
    verify(p, r);
    first ??= { pass: p, moe: Float32Array.from(r.moe.result.output.data), dense: Float32Array.from(r.dense.result.output.data) };
    moeMs.push(r.moe.ms);
    denseMs.push(r.dense.ms);
    touched.push(expertsTouched(r.moe.result));
    dropped.push(r.moe.result.plan.dropped.token.length);
    if (i + 1 >= s.minRepeats && performance.now() - start > s.budgetSeconds * 1000) break;
  }
  if (first) {
    const again = await runPass(ctx, first.pass);
    moeChecks.rerun(first.moe, again.moe.result.output.data);
    denseChecks.rerun(first.dense, again.dense.result.output.data);
  }
  const peaks = memory.stop();
  const t = summarize(moeMs);
  const dt = summarize(denseMs);
  const failures = [...moeChecks.failures, ...denseChecks.failures];
  const meanTouched = mean(touched);
  const weightBytes = passWeightBytes(workload.config, meanTouched);
  const denseBytes = passWeightBytes(workload.denseConfig, 1);
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
    warmup_expert_coverage: 1 - unprimed / primed.length,
    min_ms: t.min,
    max_ms: t.max,
    mean_ms: t.mean,
    dense_p95_ms: dt.p95,
    dense_rel_l2_err: denseChecks.relL2,
    repeat_drift: moeChecks.drift,
    rows_checked: moeChecks.rowsChecked,
    rows_covered: moeChecks.covered.size,
    outputs_checked: moeChecks.outputs + denseChecks.outputs,
    experts_touched: round1(meanTouched),
    dropped_tokens: round1(mean(dropped)),
    weight_bytes: Math.round(weightBytes),
    weight_gbps: weightBytes / (t.p50 * 1e6),
    dense_weight_gbps: denseBytes / (dt.p50 * 1e6),
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
export async function runScenarioOnBackend(workload: Workload, backend: Backend, label: string, evictor: CacheEvictor, hooks: RunHooks = {}): Promise<BenchRecord[]> {
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
        records.push(await runCase({ workload, backend, label, moe, dense, evictor, hooks }, tokens));
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
