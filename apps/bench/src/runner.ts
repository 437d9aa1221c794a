/**
 * Runs scenarios on backends and collects the results file: for each scenario the seeded
 * workload is built once, then each backend that initialised runs every T of it.
 */
import { disposeAllBackends, type BackendChoice } from '@moe-runtime/core';
import { choiceLabel, initBackends, type ReadyBackend, type SkippedBackend } from './backends.js';
import type { MachineFacts } from './machine.js';
import type { BenchRecord, BenchResults, RecordedScenario } from './record.js';
import { forwardsPerBackend, runScenarioOnBackend, type RunHooks } from './run-backend.js';
import { describeLayer, type Scenario } from './scenario.js';
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
  };
}

/** Runs the plan; backends are disposed at the end. */
export async function runBenchmarks(plan: RunPlan, hooks: RunnerHooks = {}): Promise<BenchResults> {
  const started = performance.now();
  const labels = new Map<string, BackendChoice>();
  for (const s of plan.scenarios) for (const c of backendsFor(s, plan)) labels.set(choiceLabel(c), c);
  const { ready, skipped } = await initBackends([...labels.values()]);
  const byLabel = new Map<string, ReadyBackend>(ready.map((r) => [r.label, r]));
  const work = plan.scenarios.map((s) => ({ s, backends: backendsFor(s, plan).map(choiceLabel).filter((l) => byLabel.has(l)) }));
  // Workloads are built one at a time (weights are large); the total is known from the plan.
  const total = work.reduce((n, w) => n + w.backends.length * w.s.tokens.length * 2 * (w.s.warmup + w.s.repeats), 0);
  hooks.onStart?.(total);
  const records: BenchRecord[] = [];
  let planned = 0;
  try {
    for (const { s, backends } of work) {
      if (backends.length === 0) continue;
      const workload = new Workload(s);
      for (const label of backends) {
        const { backend } = byLabel.get(label)!;
        records.push(...(await runScenarioOnBackend(workload, backend, label, hooks)));
        planned += forwardsPerBackend(workload);
        hooks.onPlannedDone?.(planned);
      }
    }
  } finally {
    await disposeAllBackends();
  }
  return {
    schema: 'moe-bench/1',
    createdAt: new Date().toISOString(),
    durationS: Math.round((performance.now() - started) / 100) / 10,
    machine: plan.machine,
    scenarios: plan.scenarios.map(recorded),
    skipped: [...(plan.skipped ?? []), ...skipped],
    records,
    passed: records.length > 0 && records.every((r) => r.passed),
  };
}
