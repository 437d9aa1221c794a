/**
 * The server's configuration: plain JSON (a config file), overridden by CLI flags, validated
 * once with ConfigErrors that name the field. Defaults serve one seeded Mixtral-mini shaped
 * layer (E=8, k=2, D=1024, F=3584) on the `cpu` backend at 127.0.0.1:8080.
 */
import { ConfigError, type BackendChoice, type MoELayerConfig, type RouterSpec } from '@moe-runtime/core';
import { validateModelSpec, type ModelSpec } from './generation/model-spec.js';
import { validateLayerSpec, type LayerSpec } from './layers/layer-spec.js';

/** How requests for one layer are combined into backend batches. */
export type BatchingMode = 'auto' | 'across-requests' | 'per-request';

/** Every batching mode, for validation messages. */
export const BATCHING_MODES: readonly BatchingMode[] = ['auto', 'across-requests', 'per-request'];

/** Dynamic batching settings. */
export interface BatchingConfig {
  /**
   * `auto` (default): batch across requests only for routers whose per-token result does not
   * depend on the other tokens in the batch (see `batch-policy.ts`); `across-requests`: always;
   * `per-request`: never (each request is its own backend batch).
   */
  readonly mode: BatchingMode;
  /** How long the first request of an idle queue waits for company, in ms. */
  readonly windowMs: number;
  /** Most tokens in one backend batch (a single larger request still runs, alone). */
  readonly maxBatchTokens: number;
}

/** Request limits. */
export interface LimitsConfig {
  /** Most tokens (rows) in one request. */
  readonly maxTokensPerRequest: number;
  /** Largest request body in bytes (larger: 413). */
  readonly bodyLimitBytes: number;
  /** Most requests waiting per layer (not yet running); more: 503 with Retry-After. */
  readonly maxQueuedRequests: number;
  /** A request not answered within this many ms gets a 504. */
  readonly requestTimeoutMs: number;
  /**
   * Largest |x| accepted in a layer input (larger: 400 before batching). Inputs near the float32
   * range pass parsing but overflow inside the experts; at 1e6 a SwiGLU layer with |w| <= 1 and
   * D, F up to 65536 stays far below float32's 3.4e38, while real hidden states (up to ~1e4-1e5)
   * pass.
   */
  readonly maxAbsInput: number;
  /** On shutdown, how long accepted requests may take before their connections are cut. */
  readonly drainTimeoutMs: number;
}

/** Text generation settings (the OpenAI-compatible endpoints). */
export interface GenerationConfig {
  /**
   * Generations of one model that progress at the same time, interleaved token by token in the
   * generation worker (more wait in the queue, up to `limits.maxQueuedRequests`).
   */
  readonly maxConcurrent: number;
  /** Largest `max_tokens` a request may ask for (more: 400). */
  readonly maxCompletionTokens: number;
  /** `max_tokens` when the request gives none (clipped to the model's remaining context). */
  readonly defaultMaxTokens: number;
}

/** The whole server configuration. */
export interface ServerConfig {
  readonly host: string;
  /** TCP port; 0 picks a free one (printed at start). */
  readonly port: number;
  /** When set, every route but the probes and the docs needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /**
   * Host names (besides loopback ones and the bound address) a server without `apiKey` answers;
   * other `Host` headers get 403 (DNS rebinding). `'*'` turns the check off.
   */
  readonly allowedHosts: readonly string[];
  /** Origins allowed by CORS (exact, e.g. `https://app.example`); empty: no CORS headers at all. */
  readonly corsOrigins: readonly string[];
  /** Backend preference list: the first that initialises is used (fallback). */
  readonly backend: readonly BackendChoice[];
  /** Extra ES modules (paths or package names) imported in the worker that register backends or routers. */
  readonly backendModules: readonly string[];
  /** Layers to serve. */
  readonly layers: readonly LayerSpec[];
  /** Text models served by the OpenAI-compatible endpoints (`/v1/models`, `/v1/completions`, `/v1/chat/completions`). */
  readonly models: readonly ModelSpec[];
  readonly generation: GenerationConfig;
  /** Inference worker threads; each holds every layer's weights. */
  readonly workers: number;
  /**
   * Nice value (0-19) for the inference threads (Linux; the backend's own threads inherit it):
   * the event loop then wins the CPU when both want it, so probes and request parsing stay
   * fast under full load. 0 leaves the priority alone.
   */
  readonly workerNice: number;
  readonly batching: BatchingConfig;
  readonly limits: LimitsConfig;
  /** Fastify (pino) log level, or 'silent'. */
  readonly logLevel: string;
}

/** The demo layer's shape: Mixtral-mini (Mixtral's E and k, smaller D and F). */
export const DEMO_LAYER_CONFIG: MoELayerConfig = {
  hiddenSize: 1024,
  numExperts: 8,
  topK: 2,
  expert: { kind: 'swiglu', ffnSize: 3584 },
  router: { name: 'topk-softmax' },
};

/** The default served layer: the demo shape with seeded random weights. */
export const DEMO_LAYER: LayerSpec = { id: 'mixtral-mini', source: 'random', seed: 1, config: DEMO_LAYER_CONFIG };

/** Defaults for every field. */
export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  port: 8080,
  allowedHosts: [],
  corsOrigins: [],
  backend: ['cpu'],
  backendModules: [],
  layers: [DEMO_LAYER],
  models: [],
  generation: { maxConcurrent: 16, maxCompletionTokens: 2048, defaultMaxTokens: 128 },
  workers: 1,
  workerNice: 5,
  batching: { mode: 'auto', windowMs: 2, maxBatchTokens: 256 },
  limits: { maxTokensPerRequest: 1024, bodyLimitBytes: 16 * 1024 * 1024, maxQueuedRequests: 256, requestTimeoutMs: 30_000, maxAbsInput: 1e6, drainTimeoutMs: 35_000 },
  logLevel: 'info',
};

/** A partial config, as read from a file or built from flags. */
export interface PartialServerConfig {
  host?: string;
  port?: number;
  apiKey?: string;
  allowedHosts?: string[];
  corsOrigins?: string[];
  backend?: BackendChoice | BackendChoice[];
  backendModules?: string[];
  layers?: LayerSpec[];
  models?: ModelSpec[];
  generation?: Partial<GenerationConfig>;
  /** Applied to every layer: overrides the layers' own router. */
  router?: RouterSpec;
  workers?: number;
  workerNice?: number;
  batching?: Partial<BatchingConfig>;
  limits?: Partial<LimitsConfig>;
  logLevel?: string;
}

const TOP_KEYS = ['host', 'port', 'apiKey', 'allowedHosts', 'corsOrigins', 'backend', 'backendModules', 'layers', 'models', 'generation', 'router', 'workers', 'workerNice', 'batching', 'limits', 'logLevel', '$schema'];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function intIn(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(field, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function numberIn(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ConfigError(field, `expected a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkKeys(field: string, obj: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw new ConfigError(field ? `${field}.${key}` : key, `unknown setting; expected one of ${known.join(', ')}`);
  }
}

function stringList(field: string, v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s.length === 0)) throw new ConfigError(field, `expected an array of ${what}, got ${JSON.stringify(v)}`);
  return v as string[];
}

function normaliseBackends(v: unknown): BackendChoice[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw new ConfigError('backend', 'expected at least one backend name');
  return list.map((c, i) => {
    if (typeof c === 'string' && c.length > 0) return c;
    if (isObject(c) && typeof c.name === 'string' && c.name.length > 0 && (c.options === undefined || isObject(c.options))) {
      return { name: c.name, options: c.options as Record<string, unknown> | undefined };
    }
    throw new ConfigError(`backend[${i}]`, `expected a backend name or { name, options }, got ${JSON.stringify(c)}`);
  });
}

function mergeBatching(b: unknown): BatchingConfig {
  if (b === undefined) return DEFAULT_CONFIG.batching;
  if (!isObject(b)) throw new ConfigError('batching', 'expected { mode, windowMs, maxBatchTokens }');
  checkKeys('batching', b, ['mode', 'windowMs', 'maxBatchTokens']);
  const merged = { ...DEFAULT_CONFIG.batching, ...b };
  if (!BATCHING_MODES.includes(merged.mode)) {
    throw new ConfigError('batching.mode', `expected one of ${BATCHING_MODES.join(', ')}, got ${JSON.stringify(merged.mode)}`);
  }
  numberIn('batching.windowMs', merged.windowMs, 0, 10_000);
  intIn('batching.maxBatchTokens', merged.maxBatchTokens, 1, 1 << 20);
  return merged;
}

function mergeLimits(l: unknown): LimitsConfig {
  if (l === undefined) return DEFAULT_CONFIG.limits;
  if (!isObject(l)) throw new ConfigError('limits', 'expected { maxTokensPerRequest, bodyLimitBytes, maxQueuedRequests, requestTimeoutMs, maxAbsInput, drainTimeoutMs }');
  checkKeys('limits', l, ['maxTokensPerRequest', 'bodyLimitBytes', 'maxQueuedRequests', 'requestTimeoutMs', 'maxAbsInput', 'drainTimeoutMs']);
  const merged = { ...DEFAULT_CONFIG.limits, ...l };
  intIn('limits.maxTokensPerRequest', merged.maxTokensPerRequest, 1, 1 << 20);
  intIn('limits.bodyLimitBytes', merged.bodyLimitBytes, 1024, 2 ** 31 - 1);
  intIn('limits.maxQueuedRequests', merged.maxQueuedRequests, 0, 1 << 20);
  intIn('limits.requestTimeoutMs', merged.requestTimeoutMs, 1, 3_600_000);
  numberIn('limits.maxAbsInput', merged.maxAbsInput, 1, 3.4e38);
  intIn('limits.drainTimeoutMs', merged.drainTimeoutMs, 0, 3_600_000);
  return merged;
}

function mergeGeneration(g: unknown): GenerationConfig {
  if (g === undefined) return DEFAULT_CONFIG.generation;
  if (!isObject(g)) throw new ConfigError('generation', 'expected { maxConcurrent, maxCompletionTokens, defaultMaxTokens }');
  checkKeys('generation', g, ['maxConcurrent', 'maxCompletionTokens', 'defaultMaxTokens']);
  const merged = { ...DEFAULT_CONFIG.generation, ...g };
  if (g.defaultMaxTokens === undefined) merged.defaultMaxTokens = Math.min(DEFAULT_CONFIG.generation.defaultMaxTokens, merged.maxCompletionTokens as number);
  intIn('generation.maxConcurrent', merged.maxConcurrent, 1, 256);
  intIn('generation.maxCompletionTokens', merged.maxCompletionTokens, 1, 1 << 20);
  intIn('generation.defaultMaxTokens', merged.defaultMaxTokens, 1, merged.maxCompletionTokens);
  return merged;
}

/** Overlays `over` on `base` (one level deep for batching and limits). */
export function overlayConfig(base: PartialServerConfig, over: PartialServerConfig): PartialServerConfig {
  const out: PartialServerConfig = { ...base };
  for (const [key, value] of Object.entries(over) as [keyof PartialServerConfig, unknown][]) {
    if (value === undefined) continue;
    if ((key === 'batching' || key === 'limits' || key === 'generation') && isObject(value) && isObject(base[key])) {
      (out as Record<string, unknown>)[key] = { ...(base[key] as object), ...value };
    } else {
      (out as Record<string, unknown>)[key] = value;
    }
  }
  return out;
}

/** Fills defaults and validates; throws a ConfigError naming the first bad field. */
export function resolveConfig(input: PartialServerConfig = {}): ServerConfig {
  if (!isObject(input as unknown)) throw new ConfigError('config', 'expected a JSON object');
  checkKeys('', input as Record<string, unknown>, TOP_KEYS);
  const host = input.host ?? DEFAULT_CONFIG.host;
  if (typeof host !== 'string' || host.length === 0) throw new ConfigError('host', `expected a host name or address, got ${JSON.stringify(host)}`);
  const port = intIn('port', input.port ?? DEFAULT_CONFIG.port, 0, 65535);
  if (input.apiKey !== undefined && (typeof input.apiKey !== 'string' || input.apiKey.length < 8)) {
    throw new ConfigError('apiKey', 'expected a string of at least 8 characters');
  }
  const allowedHosts = stringList('allowedHosts', input.allowedHosts, 'host names').map((h) => h.toLowerCase());
  const corsOrigins = stringList('corsOrigins', input.corsOrigins, 'origins such as https://app.example');
  for (const [i, o] of corsOrigins.entries()) {
    if (!/^https?:\/\/[^/\s]+$/.test(o)) throw new ConfigError(`corsOrigins[${i}]`, `expected an origin such as https://app.example (scheme and host, no path), got ${JSON.stringify(o)}`);
  }
  const modules = input.backendModules ?? [];
  if (!Array.isArray(modules) || modules.some((m) => typeof m !== 'string' || m.length === 0)) {
    throw new ConfigError('backendModules', 'expected an array of module paths or package names');
  }
  if (input.router !== undefined && (!isObject(input.router) || typeof input.router.name !== 'string')) {
    throw new ConfigError('router', `expected { name, options? }, got ${JSON.stringify(input.router)}`);
  }
  const rawModels = input.models ?? [];
  if (!Array.isArray(rawModels)) throw new ConfigError('models', 'expected an array of model specs');
  const models = rawModels.map((spec, i) => validateModelSpec(`models[${i}]`, spec));
  const modelIds = new Set<string>();
  for (const m of models) {
    if (modelIds.has(m.id)) throw new ConfigError('models', `model id '${m.id}' appears twice; name them with --model name=DIR`);
    modelIds.add(m.id);
  }
  // With text models and no layers asked for, serve no demo layer (it would only cost memory).
  const rawLayers = input.layers ?? (models.length ? [] : DEFAULT_CONFIG.layers);
  if (!Array.isArray(rawLayers) || (rawLayers.length === 0 && models.length === 0)) throw new ConfigError('layers', 'expected a non-empty array of layer specs (or at least one model)');
  const layers = rawLayers.map((spec, i) => validateLayerSpec(`layers[${i}]`, withRouter(spec, input.router)));
  const ids = new Set<string>();
  for (const l of layers) {
    if (ids.has(l.id)) throw new ConfigError('layers', `layer id '${l.id}' appears twice`);
    ids.add(l.id);
  }
  const logLevel = input.logLevel ?? DEFAULT_CONFIG.logLevel;
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('logLevel', `expected fatal, error, warn, info, debug, trace or silent, got ${JSON.stringify(logLevel)}`);
  }
  return {
    host,
    port,
    apiKey: input.apiKey,
    allowedHosts,
    corsOrigins,
    backend: normaliseBackends(input.backend ?? DEFAULT_CONFIG.backend),
    backendModules: modules,
    layers,
    models,
    generation: mergeGeneration(input.generation),
    workers: intIn('workers', input.workers ?? DEFAULT_CONFIG.workers, 1, 64),
    workerNice: intIn('workerNice', input.workerNice ?? DEFAULT_CONFIG.workerNice, 0, 19),
    batching: mergeBatching(input.batching),
    limits: mergeLimits(input.limits),
    logLevel,
  };
}

function withRouter(spec: LayerSpec, router: RouterSpec | undefined): LayerSpec {
  if (!router || !isObject(spec)) return spec;
  return { ...spec, router };
}
