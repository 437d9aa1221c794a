/**
 * The `moe-server` command line: a JSON config file, then the environment (MOE_API_KEY), then
 * flags, merged and validated into a {@link ServerConfig}.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError, errorMessage, type MoELayerConfig, type RouterSpec } from '@moe-runtime/core';
import { BATCHING_MODES, DEMO_LAYER, overlayConfig, resolveConfig, type BatchingMode, type PartialServerConfig, type ServerConfig } from './config.js';
import { DEFAULT_MODEL_TYPE } from '@moe-runtime/model/architectures';
import { DEMO_MODEL_TYPES, demoModelSpec, modelSpecFromFlag, type ModelSpec } from './generation/model-spec.js';
import type { LayerSpec } from './layers/layer-spec.js';

interface CliOptions {
  config?: string;
  host?: string;
  port?: number;
  apiKey?: string;
  allowedHost?: string[];
  drainTimeout?: number;
  maxAbsInput?: number;
  corsOrigin?: string[];
  backend?: string;
  backendOptions?: Record<string, unknown>;
  backendModule?: string[];
  router?: string;
  routerOptions?: Record<string, unknown>;
  layerId?: string;
  seed?: number;
  experts?: number;
  topK?: number;
  hidden?: number;
  ffn?: number;
  safetensors?: string;
  prefix?: string;
  scheme?: string;
  workers?: number;
  workerNice?: number;
  batching?: BatchingMode;
  batchWindowMs?: number;
  maxBatchTokens?: number;
  maxTokens?: number;
  bodyLimit?: number;
  maxQueue?: number;
  timeoutMs?: number;
  logLevel?: string;
  printConfig?: boolean;
  model?: string[];
  demoModel?: string | boolean;
  maxCompletionTokens?: number;
  maxConcurrentGenerations?: number;
  prefixCacheBytes?: number;
}

function int(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} expects an integer, got '${v}'`);
    return n;
  };
}

function num(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} expects a number, got '${v}'`);
    return n;
  };
}

function jsonObject(name: string): (v: string) => Record<string, unknown> {
  return (v) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new InvalidArgumentError(`${name} expects a JSON object, got '${v}'`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError(`${name} expects a JSON object, got '${v}'`);
    return parsed as Record<string, unknown>;
  };
}

/** The command-line program (exported for tests and `--help` docs). */
export function buildProgram(): Command {
  return new Command('moe-server')
    .description('Serve MoE layers over HTTP on a moe-runtime backend (Fastify, worker threads, dynamic batching)')
    .option('-c, --config <file>', 'JSON config file (flags override it)')
    .option('--host <host>', 'address to bind (default 127.0.0.1)')
    .option('-p, --port <port>', 'TCP port, 0 = any free port (default 8080)', int('--port'))
    .option('--api-key <key>', 'require Authorization: Bearer <key> on every route but the probes and /docs (or env MOE_API_KEY)')
    .option('--allowed-host <name...>', 'without an API key, also answer these Host names (besides loopback names and the bound address; * = any)')
    .option('--cors-origin <origin...>', 'allow cross-origin browser calls from these origins (default: no CORS)')
    .option('-b, --backend <names>', 'backend preference list, comma separated, e.g. onnx,cpu: the first that starts (and holds the --model files) (default cpu)')
    .option('--backend-options <json>', 'options of the first backend in the list, e.g. {"threads":2}', jsonObject('--backend-options'))
    .option('--backend-module <module...>', 'extra modules to import that register backends or routers')
    .option('-r, --router <name>', 'router for every layer (default: each layer its own; demo: topk-softmax)')
    .option('--router-options <json>', 'options of --router, e.g. {"capacityFactor":1.25}', jsonObject('--router-options'))
    .option('--layer-id <id>', 'id of the layer the flags describe (default mixtral-mini, or "layer" with --safetensors)')
    .option('--seed <n>', 'seed of the demo layer weights (default 1)', int('--seed'))
    .option('--experts <n>', 'demo layer: number of experts E (default 8)', int('--experts'))
    .option('--top-k <n>', 'experts per token k (default 2)', int('--top-k'))
    .option('--hidden <n>', 'demo layer: hidden size D (default 1024)', int('--hidden'))
    .option('--ffn <n>', 'demo layer: expert inner size F (default 3584)', int('--ffn'))
    .option('--safetensors <path>', 'serve one layer read from this safetensors checkpoint (needs --top-k)')
    .option('--prefix <prefix>', 'with --safetensors: tensor name prefix, e.g. model.layers.0.')
    .option('--scheme <scheme>', 'with --safetensors: naming scheme (mixtral, qwen2-moe, deepseek, ...); default detected')
    .option('--workers <n>', 'inference worker threads, each holding every layer (default 1)', int('--workers'))
    .option('--worker-nice <n>', 'nice value 0-19 of the inference threads, so the event loop wins the CPU (default 5; 0 = unchanged)', int('--worker-nice'))
    .addOption(new Option('--batching <mode>', 'batching across requests (default auto)').choices(BATCHING_MODES as string[]))
    .option('--batch-window-ms <ms>', 'how long a request waits for company (default 2)', num('--batch-window-ms'))
    .option('--max-batch-tokens <n>', 'most tokens per backend batch (default 256)', int('--max-batch-tokens'))
    .option('--max-tokens <n>', 'most tokens per request (default 1024)', int('--max-tokens'))
    .option('--body-limit <bytes>', 'largest request body (default 16 MiB)', int('--body-limit'))
    .option('--max-queue <n>', 'most waiting requests per layer before 503 (default 256)', int('--max-queue'))
    .option('--timeout-ms <ms>', 'per-request timeout (default 30000)', int('--timeout-ms'))
    .option('--drain-timeout <ms>', 'on SIGTERM, how long accepted requests may take before their connections are cut (default 35000)', int('--drain-timeout'))
    .option('--max-abs-input <x>', 'largest |x| in a layer input (default 1e6)', num('--max-abs-input'))
    .option('-m, --model <path...>', 'serve a model on the OpenAI-compatible endpoints: a GGUF file (x.gguf, or the first part of a split one) or a Hugging Face model folder; name=PATH sets its id (default: the file name without .gguf, or the folder name); repeatable')
    .option('--demo-model [type]', `also serve a tiny seeded random checkpoint generated at start (${DEMO_MODEL_TYPES.join(', ')}; default ${DEFAULT_MODEL_TYPE}): try the endpoints without a download`)
    .option('--max-completion-tokens <n>', 'cap of max_tokens per generation request (default 2048)', int('--max-completion-tokens'))
    .option('--max-concurrent-generations <n>', 'generations per model batched together (continuous batching: one forward pass a step for all of them); more wait in the queue (default 16)', int('--max-concurrent-generations'))
    .option('--prefix-cache-bytes <bytes>', 'KV cache bytes per model kept of earlier prompts for prefix reuse (a shared system prompt or chat history is not prefilled again); 0 disables (default 64 MiB)', int('--prefix-cache-bytes'))
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--print-config', 'print the resolved config and exit');
}

function readConfigFile(path: string): PartialServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${path}: ${errorMessage(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('--config', `${path} is not valid JSON: ${errorMessage(err)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('--config', `${path}: expected a JSON object`);
  const file = parsed as PartialServerConfig;
  // Relative module and checkpoint paths in a config file are relative to the file.
  const base = dirname(resolve(path));
  const rel = (p: string): string => (p.startsWith('.') ? resolve(base, p) : p);
  return {
    ...file,
    backendModules: Array.isArray(file.backendModules) ? file.backendModules.map((m) => (typeof m === 'string' ? rel(m) : m)) : file.backendModules,
    models: Array.isArray(file.models)
      ? file.models.map((m) => (m && typeof m === 'object' && m.source === 'folder' && typeof m.path === 'string' && !isAbsolute(m.path) ? { ...m, path: resolve(base, m.path) } : m))
      : file.models,
    layers: Array.isArray(file.layers)
      ? file.layers.map((l) => (l && typeof l === 'object' && l.source === 'safetensors' && typeof l.path === 'string' && !isAbsolute(l.path) ? { ...l, path: resolve(base, l.path) } : l))
      : file.layers,
  };
}

function layerFromFlags(o: CliOptions, file: PartialServerConfig): LayerSpec[] | undefined {
  if (o.safetensors) {
    if (o.topK === undefined) throw new ConfigError('--top-k', 'is required with --safetensors (the checkpoint does not say k)');
    return [{ id: o.layerId ?? 'layer', source: 'safetensors', path: resolve(o.safetensors), prefix: o.prefix, scheme: o.scheme, topK: o.topK }];
  }
  const shapeFlags = [o.seed, o.experts, o.topK, o.hidden, o.ffn, o.layerId].some((v) => v !== undefined);
  if (!shapeFlags) return undefined;
  if (file.layers) throw new ConfigError('--experts/--top-k/--hidden/--ffn/--seed', 'describe the demo layer; the config file already lists layers');
  const base = DEMO_LAYER as Extract<LayerSpec, { source: 'random' }>;
  const config: MoELayerConfig = {
    ...base.config,
    hiddenSize: o.hidden ?? base.config.hiddenSize,
    numExperts: o.experts ?? base.config.numExperts,
    topK: o.topK ?? base.config.topK,
    expert: { ...base.config.expert, ffnSize: o.ffn ?? base.config.expert.ffnSize },
  };
  return [{ id: o.layerId ?? base.id, source: 'random', seed: o.seed ?? base.seed, config }];
}

/** Merges the config file, the environment and the flags into a resolved config. */
export function configFromArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { config: ServerConfig; printConfig: boolean } {
  // Errors are thrown (CommanderError, message included) rather than printed: the caller reports them.
  const program = buildProgram().exitOverride().configureOutput({ writeErr: () => undefined });
  program.parse(argv as string[], { from: 'user' });
  const o = program.opts<CliOptions>();
  const file = o.config ? readConfigFile(o.config) : {};
  const backends = o.backend?.split(',').map((s) => s.trim()).filter(Boolean);
  const backend = backends?.length ? backends.map((name, i) => (i === 0 && o.backendOptions ? { name, options: o.backendOptions } : name)) : undefined;
  if (o.backendOptions && !backend) throw new ConfigError('--backend-options', 'needs --backend');
  if (o.routerOptions && !o.router) throw new ConfigError('--router-options', 'needs --router');
  const router: RouterSpec | undefined = o.router ? { name: o.router, options: o.routerOptions } : undefined;
  const flagModels: ModelSpec[] = (o.model ?? []).map((m) => modelSpecFromFlag(m));
  if (o.demoModel !== undefined) flagModels.push(demoModelSpec(typeof o.demoModel === 'string' ? o.demoModel : undefined));
  // Models from flags add to the config file's.
  const models = flagModels.length ? [...(Array.isArray(file.models) ? file.models : []), ...flagModels] : undefined;
  const flags: PartialServerConfig = {
    host: o.host,
    port: o.port,
    apiKey: o.apiKey ?? env.MOE_API_KEY ?? undefined,
    allowedHosts: o.allowedHost,
    corsOrigins: o.corsOrigin,
    backend,
    backendModules: o.backendModule?.map((m) => (m.startsWith('.') ? resolve(m) : m)),
    layers: layerFromFlags(o, file),
    models,
    generation: { maxCompletionTokens: o.maxCompletionTokens, maxConcurrent: o.maxConcurrentGenerations, prefixCacheBytes: o.prefixCacheBytes },
    router,
    workers: o.workers,
    workerNice: o.workerNice,
    batching: { mode: o.batching, windowMs: o.batchWindowMs, maxBatchTokens: o.maxBatchTokens },
    limits: { maxTokensPerRequest: o.maxTokens, bodyLimitBytes: o.bodyLimit, maxQueuedRequests: o.maxQueue, requestTimeoutMs: o.timeoutMs, drainTimeoutMs: o.drainTimeout, maxAbsInput: o.maxAbsInput },
    logLevel: o.logLevel,
  };
  for (const key of ['batching', 'limits', 'generation'] as const) {
    const v = flags[key] as Record<string, unknown>;
    for (const k of Object.keys(v)) if (v[k] === undefined) delete v[k];
    if (Object.keys(v).length === 0) delete flags[key];
  }
  return { config: resolveConfig(overlayConfig(file, flags)), printConfig: o.printConfig === true };
}

