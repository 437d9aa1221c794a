/**
 * The result records: one per (scenario, backend, engine, T), with the fields the JSON output
 * promises (snake_case, stable) plus extra detail, and the results file that holds them.
 */
import type { MachineFacts } from './machine.js';
import type { SkippedBackend } from './backends.js';
import type { BandwidthMeasurement } from './bandwidth.js';

/** The fields every record has, in order: what `--json` consumers may rely on. */
export const RECORD_FIELDS = [
  'scenario',
  'backend',
  'engine',
  'tokens',
  'p50_ms',
  'p95_ms',
  'tokens_per_s',
  'gflops',
  'dense_p50_ms',
  'ratio_vs_dense',
  'rel_l2_err',
  'max_abs_err',
  'routing_agreement',
  'near_ties',
  'passed',
] as const;

/** One measured case. Times in ms; NaN (null in JSON) where a case failed before measuring. */
export interface BenchRecord {
  readonly scenario: string;
  /** Registered backend name. */
  readonly backend: string;
  /** What actually ran (the backend's `engine`). */
  readonly engine: string;
  /** T: tokens in the batch. */
  readonly tokens: number;
  /** Median latency of the MoE layer forward pass. */
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly tokens_per_s: number;
  /** Active expert GFLOP/s at the median (routed k experts + shared experts; router excluded). */
  readonly gflops: number;
  /** Median latency of the dense equivalent (k x F inner size, same shared experts). */
  readonly dense_p50_ms: number;
  /** p50_ms / dense_p50_ms: 1 means the MoE layer costs what its active parameters cost. */
  readonly ratio_vs_dense: number;
  /** Worst relative L2 error over every checked output, against the float64 reference. */
  readonly rel_l2_err: number;
  readonly max_abs_err: number;
  /** Lowest share of tokens routed like the reference, over every checked output. */
  readonly routing_agreement: number;
  /** Most near-tie tokens in one output (routing differences within the tie tolerance). */
  readonly near_ties: number;
  /** Every output (MoE and dense, warm-up and timed) passed cross-validation. */
  readonly passed: boolean;
  /** The backend with its options, e.g. `tfjs{engine=cpu}`. */
  readonly backend_label: string;
  readonly threads?: number;
  readonly weight_dtype: string;
  readonly repeats?: number;
  /** Warm-up passes run (at least the scenario's count, more until every routed expert ran once, within the budget). */
  readonly warmup?: number;
  /** Share of the routed experts that ran during warm-up (1: no expert met its first use in a timed pass). */
  readonly warmup_expert_coverage?: number;
  readonly min_ms?: number;
  readonly max_ms?: number;
  readonly mean_ms?: number;
  readonly dense_p95_ms?: number;
  readonly dense_rel_l2_err?: number;
  /** Relative L2 difference, on all rows, between the first timed output and a re-run of its input after the timed passes. */
  readonly repeat_drift?: number;
  /** Rows per output compared with the float64 reference. */
  readonly rows_checked?: number;
  /** Distinct rows compared with the float64 reference over all outputs of the case. */
  readonly rows_covered?: number;
  /** Outputs cross-validated in this case (MoE and dense, warm-up included). */
  readonly outputs_checked?: number;
  /** Distinct routed experts a timed pass touched (mean over the timed passes). */
  readonly experts_touched?: number;
  /** Tokens the router dropped in a timed pass (mean over the timed passes). */
  readonly dropped_tokens?: number;
  /** Weight bytes a timed pass reads (mean): the experts touched, the shared experts and the router, as float32. */
  readonly weight_bytes?: number;
  /** weight_bytes / p50 (GB/s, 1e9 bytes): the decode-time memory-traffic rate. */
  readonly weight_gbps?: number;
  /** The dense equivalent's weight bytes / its p50. */
  readonly dense_weight_gbps?: number;
  /** weight_gbps as a share of the read bandwidth measured in the same run at the backend's thread count (0.5 = 50 %). */
  readonly bandwidth_share?: number;
  /** dense_weight_gbps as the same share. */
  readonly dense_bandwidth_share?: number;
  readonly peak_rss_mb?: number;
  readonly peak_heap_mb?: number;
  readonly peak_external_mb?: number;
  /** Why it failed (empty when passed). */
  readonly failures: readonly string[];
}

/** A scenario as recorded in a results file. */
export interface RecordedScenario {
  readonly name: string;
  readonly description?: string;
  /** One line: D, F, E, k, kind, shared experts, router and options, weight dtype. */
  readonly shape: string;
  readonly layer: unknown;
  readonly weightDtype: string;
  readonly tokens: readonly number[];
  readonly seed: number;
  readonly repeats: number;
  readonly warmup: number;
  readonly referenceRows: number;
  readonly maxRelL2: number;
  /** Bytes of every weight a one-token pass can touch (all experts, router, shared experts) in the storage dtype. */
  readonly workingSetBytes: number;
}

/** A results file (`--json`). */
export interface BenchResults {
  readonly schema: 'moe-bench/1';
  readonly createdAt: string;
  readonly durationS: number;
  readonly machine: MachineFacts;
  /** 1-minute load average when the run ended (with machine.loadAverageAtStart: how shared the machine was). */
  readonly loadAverageAtEnd: number;
  readonly scenarios: readonly RecordedScenario[];
  readonly skipped: readonly SkippedBackend[];
  readonly records: readonly BenchRecord[];
  /** The machine's read bandwidth measured at the end of the run (absent with --no-bandwidth). */
  readonly bandwidth?: BandwidthMeasurement;
  /** Bytes streamed before every timed call to evict the last-level cache. */
  readonly evictBytes?: number;
  /** Every record passed cross-validation. */
  readonly passed: boolean;
}
