/**
 * Benchmark scenarios: what one scenario file in `benchmarks/` names (a layer shape, a router
 * and its options, a weight dtype, token counts, repeats and tolerances), and their up-front
 * validation. Every problem becomes a ConfigError naming the field, e.g. `layer.topK` or
 * `layer.router.options.nGroup`, so a malformed file fails before anything runs.
 */
import {
  ConfigError,
  createRouter,
  DTYPES,
  sharedExpertCount,
  validateLayerConfig,
  UnknownNameError,
  type BackendChoice,
  type BackendOptions,
  type DType,
  type MoELayerConfig,
} from '@moe-runtime/core';

/** Numeric tolerances of the cross-validation against the float64 reference. */
export interface ScenarioTolerance {
  /** Largest relative L2 error that passes. Default {@link DEFAULT_MAX_REL_L2} (1e-5) whatever the weight dtype. */
  readonly maxRelL2: number;
  /** Largest max-abs error that passes. Default: unbounded (rel-L2 decides). */
  readonly maxAbs?: number;
  /** Score gap under which a routing difference counts as a near-tie. Default 1e-4. */
  readonly tieTolerance: number;
}

/** One benchmark scenario, validated and with defaults filled in. */
export interface Scenario {
  /** Unique name, e.g. `mixtral-mini`. */
  readonly name: string;
  readonly description?: string;
  /** The MoE layer (core's MoELayerConfig: hiddenSize, numExperts, topK, expert, sharedExperts, router). */
  readonly layer: MoELayerConfig;
  /** Storage dtype of the random weights. Default float32. */
  readonly weightDtype: DType;
  /** Token counts T to sweep. */
  readonly tokens: readonly number[];
  /** Seed of weights and inputs. */
  readonly seed: number;
  /** Untimed forward passes per (backend, T) before timing. */
  readonly warmup: number;
  /** Timed forward passes per (backend, T), each for the MoE layer and the dense equivalent. */
  readonly repeats: number;
  /** Fewest timed passes when the time budget runs out first. Default min(3, repeats). */
  readonly minRepeats: number;
  /** Seconds of timed passes per (backend, T) after which repeats stop early (once minRepeats ran). */
  readonly budgetSeconds: number;
  /** Rows per T whose outputs are checked against the float64 reference (evenly spaced). */
  readonly referenceRows: number;
  readonly tolerance: ScenarioTolerance;
  /** Only run when asked for by name or with --large. */
  readonly large: boolean;
  /** Backends to run on (default: every backend that initialises). */
  readonly backends?: readonly BackendChoice[];
}

const SCENARIO_KEYS = [
  'name',
  'description',
  'layer',
  'weightDtype',
  'tokens',
  'seed',
  'warmup',
  'repeats',
  'minRepeats',
  'budgetSeconds',
  'referenceRows',
  'tolerance',
  'large',
  'backends',
] as const;
const LAYER_KEYS = ['hiddenSize', 'numExperts', 'topK', 'expert', 'sharedExperts', 'router'];
const EXPERT_KEYS = ['kind', 'ffnSize', 'bias'];
const SHARED_KEYS = ['count', 'ffnSize', 'gated'];
const ROUTER_KEYS = ['name', 'options'];
const TOLERANCE_KEYS = ['maxRelL2', 'maxAbs', 'tieTolerance'];

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rejectUnknownKeys(where: string, obj: Json, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      throw new ConfigError(where ? `${where}.${key}` : key, `unknown field; expected one of ${known.join(', ')}`);
    }
  }
}

function int(field: string, v: unknown, min: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ConfigError(field, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function positiveNumber(field: string, v: unknown, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(field, `expected a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function parseTokens(v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError('tokens', `expected a non-empty array of token counts, got ${JSON.stringify(v)}`);
  const out = v.map((t, i) => int(`tokens[${i}]`, t, 1));
  if (new Set(out).size !== out.length) throw new ConfigError('tokens', `expected distinct token counts, got [${out.join(', ')}]`);
  return out;
}

function parseLayer(v: unknown): MoELayerConfig {
  if (!isObject(v)) throw new ConfigError('layer', 'expected { hiddenSize, numExperts, topK, expert, router, sharedExperts? }');
  rejectUnknownKeys('layer', v, LAYER_KEYS);
  if (isObject(v.expert)) rejectUnknownKeys('layer.expert', v.expert, EXPERT_KEYS);
  if (isObject(v.sharedExperts)) rejectUnknownKeys('layer.sharedExperts', v.sharedExperts, SHARED_KEYS);
  if (!isObject(v.router)) throw new ConfigError('layer.router', 'expected { name, options? }');
  rejectUnknownKeys('layer.router', v.router, ROUTER_KEYS);
  const layer = v as unknown as MoELayerConfig;
  try {
    validateLayerConfig(layer);
    // Building the router once runs its factory, which validates its options (and topK).
    createRouter(layer.router, { numExperts: layer.numExperts, topK: layer.topK, params: {} });
  } catch (err) {
    throw prefixed('layer', err);
  }
  return layer;
}

/** Re-raises a core ConfigError with its field under `prefix` (e.g. `topK` -> `layer.topK`). */
function prefixed(prefix: string, err: unknown): unknown {
  if (err instanceof ConfigError) {
    const field = `${prefix}.${err.field}`;
    return new ConfigError(field, err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message);
  }
  if (err instanceof UnknownNameError && err.kind === 'router') {
    return new ConfigError(`${prefix}.router.name`, err.message);
  }
  return err;
}

/**
 * Default relative L2 bound, for every weight dtype: the reference widens the same rounded
 * weights a backend decodes, and every backend decodes float16/bfloat16 exactly and computes in
 * float32, so half weights keep float32 accuracy. Measured in the 2026-12-02 default run (all
 * four backends): worst 1.3e-6 over the float16/bfloat16 cases, 3.2e-6 over all 68 cases;
 * asserted 1e-5, about 8x the half-weight figure (3x the overall worst).
 */
export const DEFAULT_MAX_REL_L2 = 1e-5;

function parseTolerance(v: unknown): ScenarioTolerance {
  const defaultRelL2 = DEFAULT_MAX_REL_L2;
  if (v === undefined) return { maxRelL2: defaultRelL2, tieTolerance: 1e-4 };
  if (!isObject(v)) throw new ConfigError('tolerance', 'expected { maxRelL2?, maxAbs?, tieTolerance? }');
  rejectUnknownKeys('tolerance', v, TOLERANCE_KEYS);
  return {
    maxRelL2: positiveNumber('tolerance.maxRelL2', v.maxRelL2, defaultRelL2),
    maxAbs: v.maxAbs === undefined ? undefined : positiveNumber('tolerance.maxAbs', v.maxAbs),
    tieTolerance: positiveNumber('tolerance.tieTolerance', v.tieTolerance, 1e-4),
  };
}

function parseBackends(v: unknown, known: readonly string[] | undefined): BackendChoice[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError('backends', 'expected a non-empty array of backend names or { name, options }');
  return v.map((b, i): BackendChoice => {
    const field = `backends[${i}]`;
    let name: string;
    let options: BackendOptions | undefined;
    if (typeof b === 'string') name = b;
    else if (isObject(b) && typeof b.name === 'string') {
      rejectUnknownKeys(field, b, ['name', 'options']);
      if (b.options !== undefined && !isObject(b.options)) throw new ConfigError(`${field}.options`, 'expected an object of backend options');
      name = b.name;
      options = b.options as BackendOptions | undefined;
    } else throw new ConfigError(field, `expected a backend name or { name, options }, got ${JSON.stringify(b)}`);
    if (known && !known.includes(name)) {
      throw new ConfigError(field, `unknown backend '${name}'; registered: ${known.map((n) => `'${n}'`).join(', ') || '(none)'}`);
    }
    return options ? { name, options } : name;
  });
}

/** What {@link parseScenario} needs besides the JSON. */
export interface ParseScenarioOptions {
  /** Name to use when the file has no `name` (the file's base name). */
  readonly defaultName?: string;
  /** Registered backend names; `backends` entries outside it are errors. Omit to skip that check. */
  readonly knownBackends?: readonly string[];
}

/**
 * Validates a scenario's JSON value and fills defaults. Throws a ConfigError naming the first
 * offending field; routers are built once so their factories validate their options.
 */
export function parseScenario(value: unknown, options: ParseScenarioOptions = {}): Scenario {
  if (!isObject(value)) throw new ConfigError('scenario', `expected a JSON object, got ${JSON.stringify(value)}`);
  rejectUnknownKeys('', value, SCENARIO_KEYS);
  const name = value.name ?? options.defaultName;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(name)) {
    throw new ConfigError('name', `expected a name of letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  }
  if (value.description !== undefined && typeof value.description !== 'string') throw new ConfigError('description', 'expected a string');
  if (value.layer === undefined) throw new ConfigError('layer', 'missing; expected { hiddenSize, numExperts, topK, expert, router }');
  const layer = parseLayer(value.layer);
  const dtype = value.weightDtype ?? 'float32';
  if (typeof dtype !== 'string' || !DTYPES.includes(dtype as DType)) {
    throw new ConfigError('weightDtype', `expected one of ${DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
  }
  if (value.tokens === undefined) throw new ConfigError('tokens', 'missing; expected an array of token counts, e.g. [1, 16, 256]');
  const tokens = parseTokens(value.tokens);
  if (value.seed === undefined) throw new ConfigError('seed', 'missing; expected an integer seed');
  const seed = int('seed', value.seed, 0);
  const repeats = int('repeats', value.repeats, 1, 5);
  if (value.large !== undefined && typeof value.large !== 'boolean') throw new ConfigError('large', `expected true or false, got ${JSON.stringify(value.large)}`);
  const scenario: Scenario = {
    name,
    description: value.description as string | undefined,
    layer,
    weightDtype: dtype as DType,
    tokens,
    seed,
    warmup: int('warmup', value.warmup, 0, 1),
    repeats,
    minRepeats: Math.min(int('minRepeats', value.minRepeats, 1, 3), repeats),
    budgetSeconds: positiveNumber('budgetSeconds', value.budgetSeconds, 20),
    referenceRows: int('referenceRows', value.referenceRows, 1, 16),
    tolerance: parseTolerance(value.tolerance),
    large: value.large === true,
    backends: parseBackends(value.backends, options.knownBackends),
  };
  return scenario;
}

/** Applies command-line overrides (token counts, repeats) to a validated scenario. */
export function withOverrides(s: Scenario, o: { tokens?: readonly number[]; repeats?: number; warmup?: number }): Scenario {
  const repeats = o.repeats ?? s.repeats;
  return { ...s, tokens: o.tokens ?? s.tokens, repeats, warmup: o.warmup ?? s.warmup, minRepeats: Math.min(s.minRepeats, repeats) };
}

/** One line describing a scenario's layer, for listings and reports. */
export function describeLayer(s: Scenario): string {
  const l = s.layer;
  const shared = sharedExpertCount(l);
  const parts = [
    `D=${l.hiddenSize}`,
    `F=${l.expert.ffnSize}`,
    `E=${l.numExperts}`,
    `k=${l.topK}`,
    l.expert.kind,
    shared ? `${shared} shared (F=${l.sharedExperts!.ffnSize}${l.sharedExperts!.gated ? ', gated' : ''})` : '',
    `router ${l.router.name}${l.router.options && Object.keys(l.router.options).length ? ` ${JSON.stringify(l.router.options)}` : ''}`,
    s.weightDtype,
  ];
  return parts.filter(Boolean).join(', ');
}
