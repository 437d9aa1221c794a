/**
 * Runs scenarios on backends and collects the results file: for each scenario the seeded
 * workload is built once, then each backend that initialised runs every T of it; at the end
 * the machine's read bandwidth is measured and every record's weight GB/s is set against it.
 */
import { loadavg } from 'node:os';
import { disposeAllBackends, type BackendChoice } from '@moe-runtime/core';
import { choiceLabel, initBackends, type SkippedBackend } from './backends.js';
import { bandwidthFor, measureReadBandwidth, type BandwidthMeasurement } from './bandwidth.js';
import { CacheEvictor } from './cache-evict.js';
import type { MachineFacts } from './machine.js';
import type { BenchRecord, BenchResults, RecordedScenario } from './record.js';
import { RERUN_FORWARDS, runScenarioOnBackend, type RunHooks } from './run-backend.js';
import { describeLayer, type Scenario } from './scenario.js';
import { workingSetBytes } from './weight-traffic.js';
import { Workload } from './workload.js';

/** What to run. */
export interface RunPlan {
  readonly scenarios: readonly Scenario[];
  /** Backends for scenarios that name none (and for all, when `forceBackends`). */
  readonly backends: readonly BackendChoice[];
  /** True when the command line named backends: they override each scenario's own list. */
  readonly forceBackends: boolean;
  /** Skips known before the run (packages that did not import). */
  readonly skipped?: readonly SkippedBackend[];
  readonly machine: MachineFacts;
  /** Measure the read bandwidth at the end of the run (default true). */
  readonly measureBandwidth?: boolean;
}

/** Hooks for progress reporting. */
export interface RunnerHooks extends RunHooks {
  /** Called once with the total number of forward passes planned. */
  onStart?(totalForwards: number): void;
  /** Called after each case (scenario, backend) with the forwards planned so far. */
  onPlannedDone?(forwardsSoFar: number): void;
}

function backendsFor(s: Scenario, plan: RunPlan): readonly BackendChoice[] {
  return plan.forceBackends || !s.backends ? plan.backends : s.backends;
}

function recorded(s: Scenario): RecordedScenario {
  return {
    name: s.name,
    description: s.description,
    shape: describeLayer(s),
    layer: s.layer,
    weightDtype: s.weightDtype,
    tokens: s.tokens,
    seed: s.seed,
    repeats: s.repeats,
    warmup: s.warmup,
    referenceRows: s.referenceRows,
    maxRelL2: s.tolerance.maxRelL2,
    workingSetBytes: workingSetBytes(s.layer, s.weightDtype),
  };
}

/** Forward passes planned for one (scenario, backend): warm-up and repeats of both layers, and the re-run. */
function forwardsPerBackend(s: Scenario): number {
  return s.tokens.length * (2 * (s.warmup + s.repeats) + RERUN_FORWARDS);
}

/** The record with its weight GB/s (MoE and dense) as shares of the bandwidth at its thread count. */
function withBandwidth(r: BenchRecord, m: BandwidthMeasurement | undefined): BenchRecord {
  const bw = bandwidthFor(m, r.threads);
  if (!bw || r.weight_gbps === undefined) return r;
  return { ...r, bandwidth_share: r.weight_gbps / bw.medianGbps, dense_bandwidth_share: r.dense_weight_gbps === undefined ? undefined : r.dense_weight_gbps / bw.medianGbps };
}

/** Thread counts to measure the bandwidth at: 1, 2 and every count a backend ran on. */
function threadCounts(records: readonly BenchRecord[]): number[] {
  return [...new Set([1, 2, ...records.map((r) => r.threads ?? 1)])].sort((a, b) => a - b);
}

/**
 * Runs the plan. Backends are initialised per (scenario, backend) and every instance is
 * disposed before the next one starts: only one backend holds memory at a time (so peak
 * memory is that backend's), and backends that allow one engine per process (tfjs) can be
 * compared engine against engine in one run. A backend that fails to initialise is skipped
 * (with its reason) for the rest of the run.
 */
export async function runBenchmarks(plan: RunPlan, hooks: RunnerHooks = {}): Promise<BenchResults> {
  const started = performance.now();
  const work = plan.scenarios.map((s) => ({ s, choices: backendsFor(s, plan) }));
  const total = work.reduce((n, w) => n + w.choices.length * forwardsPerBackend(w.s), 0);
  hooks.onStart?.(total);
  const records: BenchRecord[] = [];
  const skipped = new Map<string, SkippedBackend>();
  let planned = 0;
  const evictor = new CacheEvictor(plan.machine.lastLevelCacheBytes);
  try {
    for (const { s, choices } of work) {
      // Weights are large: one scenario's workload at a time, built only if a backend may run it.
      let workload: Workload | undefined;
      for (const choice of choices) {
        const label = choiceLabel(choice);
        const perBackend = forwardsPerBackend(s);
        if (!skipped.has(label)) {
          const { ready, skipped: failed } = await initBackends([choice]);
          failed.forEach((f) => skipped.set(label, f));
          if (ready.length) {
            workload ??= new Workload(s);
            try {
              records.push(...(await runScenarioOnBackend(workload, ready[0].backend, label, evictor, hooks)));
            } finally {
              await disposeAllBackends();
            }
          }
        }
        planned += perBackend;
        hooks.onPlannedDone?.(planned);
      }
    }
  } finally {
    await disposeAllBackends();
  }
  // Measured after the cases, so its buffer is not in any case's peak memory.
  const bandwidth = plan.measureBandwidth === false || records.length === 0 ? undefined : await measureReadBandwidth({ lastLevelCacheBytes: plan.machine.lastLevelCacheBytes, threads: threadCounts(records) });
  return {
    schema: 'moe-bench/1',
    createdAt: new Date().toISOString(),
    durationS: Math.round((performance.now() - started) / 100) / 10,
    machine: plan.machine,
    loadAverageAtEnd: Math.round(loadavg()[0] * 100) / 100,
    scenarios: plan.scenarios.map(recorded),
    skipped: [...(plan.skipped ?? []), ...skipped.values()],
    records: records.map((r) => withBandwidth(r, bandwidth)),
    bandwidth,
    evictBytes: evictor.bytes,
    passed: records.length > 0 && records.every((r) => r.passed),
  };
}
