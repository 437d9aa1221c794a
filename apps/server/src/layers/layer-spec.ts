/**
 * What a served layer is made of: seeded random weights for a config (demos, tests, load
 * tests), or one MoE layer read from a Hugging Face safetensors checkpoint. A spec is plain
 * JSON, so the main thread validates it and the inference worker rebuilds the very same layer
 * from it (same seed, same file).
 */
import { totalmem } from 'node:os';
import { ConfigError, DTYPES, loadMoELayer, randomWeights, sharedExpertCount, validateLayerConfig, type DType, type MoELayerConfig, type MoEWeights, type RouterSpec } from '@moe-runtime/core';

/** A layer with seeded random weights. */
export interface RandomLayerSpec {
  /** Name in URLs: `/v1/layers/<id>/forward`. */
  readonly id: string;
  readonly source: 'random';
  /** Seed of `randomWeights`: equal seeds give equal weights. */
  readonly seed: number;
  readonly config: MoELayerConfig;
  /** Weight storage dtype (default float32). */
  readonly dtype?: DType;
  /** Replaces `config.router`. */
  readonly router?: RouterSpec;
}

/** A layer read from a safetensors checkpoint (file, or a sharded `model.safetensors.index.json`). */
export interface SafetensorsLayerSpec {
  readonly id: string;
  readonly source: 'safetensors';
  /** Path of a `.safetensors` file, a sharded index, or a folder holding one. */
  readonly path: string;
  /** Tensor name prefix of the layer, e.g. `model.layers.0.` (Mixtral: then `block_sparse_moe.*`; default ''). */
  readonly prefix?: string;
  /** Naming scheme (`mixtral`, `qwen2-moe`, `deepseek`, ...); default: detected. */
  readonly scheme?: string;
  /** Convert the weights to this dtype; default: as stored. */
  readonly dtype?: DType;
  /** Experts per token (the checkpoint does not say). */
  readonly topK: number;
  /** Default `{ name: 'topk-softmax' }`. */
  readonly router?: RouterSpec;
}

/** One served layer. */
export type LayerSpec = RandomLayerSpec | SafetensorsLayerSpec;

/** A built layer's config and weights. */
export interface LayerSource {
  readonly config: MoELayerConfig;
  readonly weights: MoEWeights;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkRouter(field: string, router: unknown): void {
  if (router === undefined) return;
  if (!isObject(router) || typeof router.name !== 'string' || router.name.length === 0 || (router.options !== undefined && !isObject(router.options))) {
    throw new ConfigError(field, `expected { name, options? }, got ${JSON.stringify(router)}`);
  }
}

function checkDtype(field: string, dtype: unknown): void {
  if (dtype !== undefined && !DTYPES.includes(dtype as DType)) {
    throw new ConfigError(field, `expected one of ${DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
  }
}

/**
 * Bytes of a random layer's weights in their dtype plus the float32 copy a backend prepares:
 * checked up front, so a typo such as hiddenSize 1e6 is a config error, not minutes of filling
 * random weights in the worker followed by an out-of-memory crash.
 */
export function randomLayerBytes(config: MoELayerConfig, dtype: DType = 'float32'): number {
  const matrices = config.expert.kind === 'swiglu' ? 3 : 2;
  const d = config.hiddenSize;
  const shared = sharedExpertCount(config);
  const params = config.numExperts * (matrices * d * config.expert.ffnSize + d) + (shared ? shared * matrices * d * config.sharedExperts!.ffnSize + d : 0);
  return params * ((dtype === 'float32' ? 4 : 2) + 4);
}

function checkFits(field: string, config: MoELayerConfig, dtype: DType | undefined): void {
  const need = randomLayerBytes(config, dtype);
  const have = totalmem();
  if (need > have) {
    const gib = (b: number): string => `${(b / 2 ** 30).toPrecision(3)} GiB`;
    throw new ConfigError(
      `${field}.config`,
      `needs about ${gib(need)} of weights (hiddenSize ${config.hiddenSize}, ffnSize ${config.expert.ffnSize}, ${config.numExperts} experts) but this machine has ${gib(have)}; expected a smaller layer`,
    );
  }
}

/** Validates a layer spec (shape, router, source); throws a ConfigError naming `<field>.<key>`. */
export function validateLayerSpec(field: string, spec: unknown): LayerSpec {
  if (!isObject(spec)) throw new ConfigError(field, 'expected { id, source, ... }');
  if (typeof spec.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(spec.id)) {
    throw new ConfigError(`${field}.id`, `expected 1-64 letters, digits, '.', '_' or '-', got ${JSON.stringify(spec.id)}`);
  }
  checkRouter(`${field}.router`, spec.router);
  checkDtype(`${field}.dtype`, spec.dtype);
  if (spec.source === 'random') {
    if (typeof spec.seed !== 'number' || !Number.isInteger(spec.seed)) throw new ConfigError(`${field}.seed`, `expected an integer, got ${JSON.stringify(spec.seed)}`);
    try {
      validateLayerConfig(effectiveConfig(spec as unknown as RandomLayerSpec));
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${field}.config.${err.field}`, err.message.slice(err.field.length + 2));
      throw err;
    }
    checkFits(field, spec.config as MoELayerConfig, spec.dtype as DType | undefined);
    return spec as unknown as RandomLayerSpec;
  }
  if (spec.source === 'safetensors') {
    if (typeof spec.path !== 'string' || spec.path.length === 0) throw new ConfigError(`${field}.path`, 'expected the path of a safetensors file');
    if (typeof spec.topK !== 'number' || !Number.isInteger(spec.topK) || spec.topK < 1) {
      throw new ConfigError(`${field}.topK`, `expected a positive integer (experts per token), got ${JSON.stringify(spec.topK)}`);
    }
    for (const key of ['prefix', 'scheme'] as const) {
      if (spec[key] !== undefined && typeof spec[key] !== 'string') throw new ConfigError(`${field}.${key}`, `expected a string, got ${JSON.stringify(spec[key])}`);
    }
    return spec as unknown as SafetensorsLayerSpec;
  }
  throw new ConfigError(`${field}.source`, `expected 'random' or 'safetensors', got ${JSON.stringify(spec.source)}`);
}

/** A random layer's config with the spec's router override applied. */
export function effectiveConfig(spec: RandomLayerSpec): MoELayerConfig {
  return spec.router ? { ...spec.config, router: spec.router } : spec.config;
}

/** Builds a layer's config and weights (seeded random, or read from its checkpoint). */
export async function loadLayerSource(spec: LayerSpec): Promise<LayerSource> {
  if (spec.source === 'random') {
    const config = effectiveConfig(spec);
    return { config, weights: randomWeights(config, { seed: spec.seed, dtype: spec.dtype }) };
  }
  // Shapes (D, E, F, shared experts) come from the checkpoint's tensors; k and the router from the spec.
  const loaded = await loadMoELayer(spec.path, { prefix: spec.prefix, scheme: spec.scheme, dtype: spec.dtype, topK: spec.topK, router: spec.router ?? { name: 'topk-softmax' } });
  if (!loaded.config) throw new ConfigError(`layers.${spec.id}`, 'the loader returned no config (topK missing?)');
  return { config: loaded.config, weights: loaded.weights };
}
