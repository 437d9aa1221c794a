/**
 * Backend options (plain JSON, as the registry passes them) and their validation. Every bad
 * value throws a ConfigError naming `backend.options.<key>` and what was expected.
 */
import { availableParallelism } from 'node:os';
import { ConfigError, type BackendOptions } from '@moe-runtime/core';

/** Execution providers this backend can ask onnxruntime-node for. */
export type OnnxExecutionProvider = 'cpu' | 'cuda';

/** How an expert group is laid out in sessions. */
export type ExpertGraphLayout = 'auto' | 'grouped' | 'per-expert';

/**
 * Default of `expertsPerGraph`: under `auto` a group is split into graphs of at most this many
 * experts, and a call runs only the graphs whose experts got rows. Every expert of a graph that
 * runs is dispatched, those with no rows too (about 5 us each), while each extra `session.run`
 * costs its own overhead; 8 keeps one graph for Mixtral-sized groups and at most E/8 runs.
 */
export const DEFAULT_EXPERTS_PER_GRAPH = 8;

/** Options of the `onnx` backend. */
export interface OnnxBackendOptions {
  /**
   * Execution providers in order of preference. Default `['cpu']`. `'cuda'` needs the CUDA
   * provider library, which onnxruntime-node's install script fetches only when asked
   * (`--onnxruntime-node-install=cuda12`); the CPU provider is always appended as fallback.
   */
  readonly executionProviders?: readonly OnnxExecutionProvider[];
  /** Threads of each session's intra-op pool. Default: `os.availableParallelism()`. */
  readonly intraOpThreads?: number;
  /**
   * Let pool threads spin-wait between ops. Default false: a layer owns several sessions,
   * and idle spinning pools steal cores from the one that runs.
   */
  readonly allowSpinning?: boolean;
  /**
   * `grouped`: one graph and one `session.run` per expert group (split into several only past
   * `maxGraphBytes`); every expert's subgraph runs, also those with no rows, so a run costs
   * node dispatches for all E experts. Fastest measured at E=8.
   * `per-expert`: one session per expert, run only for experts with routed rows: dispatch cost
   * follows the routed experts, not E.
   * `auto` (default): graphs of at most `expertsPerGraph` consecutive experts, and a call runs
   * only the graphs whose experts got rows: one graph up to that many experts, a bounded
   * number of runs above it.
   */
  readonly expertGraph?: ExpertGraphLayout;
  /** Under `expertGraph: 'auto'`, the most experts one graph holds. Default {@link DEFAULT_EXPERTS_PER_GRAPH}. */
  readonly expertsPerGraph?: number;
  /**
   * q4_0 weights through `com.microsoft.MatMulNBits` on activations quantized to int8 blocks
   * (`accuracy_level` 4, faster, as llama.cpp computes) instead of float32 activations (level 0,
   * the default: exact to float32 rounding). q8_0 always uses int8 activations: onnxruntime
   * 1.30's CPU kernel has no fast float32-activation path for 8-bit codes.
   */
  readonly int8Activations?: boolean;
  /** CUDA device id when `cuda` is requested. Default 0. */
  readonly deviceId?: number;
  /**
   * Largest weight payload of one graph, in bytes. A protobuf message (an ONNX model) cannot
   * exceed 2 GiB, so a bigger expert group is split into several graphs (sessions) of whole
   * experts, each run only when its experts got rows. Default 1.5 GiB; at most 2 GiB - 64 MiB.
   */
  readonly maxGraphBytes?: number;
}

/** Options after validation, with defaults filled in. */
export interface ResolvedOnnxOptions {
  readonly executionProviders: readonly OnnxExecutionProvider[];
  readonly intraOpThreads: number;
  readonly allowSpinning: boolean;
  readonly expertGraph: ExpertGraphLayout;
  readonly expertsPerGraph: number;
  readonly int8Activations: boolean;
  readonly deviceId: number;
  readonly maxGraphBytes: number;
}

/** Default of `maxGraphBytes`. */
export const DEFAULT_MAX_GRAPH_BYTES = 1.5 * 2 ** 30;
/** Upper bound of `maxGraphBytes`: protobuf's 2 GiB limit less room for the graph itself. */
export const MAX_GRAPH_BYTES_LIMIT = 2 ** 31 - 64 * 2 ** 20;

const KNOWN = ['executionProviders', 'intraOpThreads', 'allowSpinning', 'expertGraph', 'expertsPerGraph', 'int8Activations', 'deviceId', 'maxGraphBytes'] as const;
const PROVIDERS: readonly OnnxExecutionProvider[] = ['cpu', 'cuda'];
const LAYOUTS: readonly ExpertGraphLayout[] = ['auto', 'grouped', 'per-expert'];

function field(key: string): string {
  return `backend.options.${key}`;
}

function nonNegativeInt(key: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigError(field(key), `expected an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function graphBytes(value: unknown): number {
  const v = nonNegativeInt('maxGraphBytes', value, 1);
  if (v > MAX_GRAPH_BYTES_LIMIT) throw new ConfigError(field('maxGraphBytes'), `expected at most ${MAX_GRAPH_BYTES_LIMIT} (protobuf's 2 GiB limit), got ${v}`);
  return v;
}

function providers(value: unknown): OnnxExecutionProvider[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(field('executionProviders'), `expected a non-empty array of ${PROVIDERS.map((p) => `'${p}'`).join(' | ')}, got ${JSON.stringify(value)}`);
  }
  return value.map((p, i) => {
    if (!PROVIDERS.includes(p as OnnxExecutionProvider)) {
      throw new ConfigError(`${field('executionProviders')}[${i}]`, `expected one of ${PROVIDERS.map((x) => `'${x}'`).join(', ')}, got ${JSON.stringify(p)}`);
    }
    return p as OnnxExecutionProvider;
  });
}

/** Validates backend options and fills in defaults. */
export function resolveOnnxOptions(options: BackendOptions | OnnxBackendOptions = {}): ResolvedOnnxOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError('backend.options', `expected an object, got ${JSON.stringify(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(KNOWN as readonly string[]).includes(key)) {
      throw new ConfigError(field(key), `unknown option; expected one of ${KNOWN.join(', ')}`);
    }
  }
  const expertGraph = o.expertGraph ?? 'auto';
  if (!LAYOUTS.includes(expertGraph as ExpertGraphLayout)) {
    throw new ConfigError(field('expertGraph'), `expected one of ${LAYOUTS.map((x) => `'${x}'`).join(', ')}, got ${JSON.stringify(expertGraph)}`);
  }
  for (const key of ['allowSpinning', 'int8Activations'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw new ConfigError(field(key), `expected a boolean, got ${JSON.stringify(o[key])}`);
  }
  return {
    executionProviders: o.executionProviders === undefined ? ['cpu'] : providers(o.executionProviders),
    intraOpThreads: o.intraOpThreads === undefined ? availableParallelism() : nonNegativeInt('intraOpThreads', o.intraOpThreads, 1),
    allowSpinning: (o.allowSpinning as boolean | undefined) ?? false,
    int8Activations: (o.int8Activations as boolean | undefined) ?? false,
    expertGraph: expertGraph as ExpertGraphLayout,
    expertsPerGraph: o.expertsPerGraph === undefined ? DEFAULT_EXPERTS_PER_GRAPH : nonNegativeInt('expertsPerGraph', o.expertsPerGraph, 1),
    deviceId: o.deviceId === undefined ? 0 : nonNegativeInt('deviceId', o.deviceId, 0),
    maxGraphBytes: o.maxGraphBytes === undefined ? DEFAULT_MAX_GRAPH_BYTES : graphBytes(o.maxGraphBytes),
  };
}
