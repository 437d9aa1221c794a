/**
 * The KV cache of one sequence: what it holds (its spec) and the handle a backend returns for
 * it. A cache is allocated once for its whole capacity (no doubling, so its bytes are known when
 * the sequence starts and a long context cannot fail half-way through a generation).
 */
import { ConfigError } from '../errors.js';
import { rowBytes } from '../formats/block-formats.js';

/**
 * Storage format of cached keys and values. `float32` is exact; `float16` rounds each value to
 * nearest even (values must stay below 65520 in magnitude); `q8_0` stores each head's key (and
 * value) row as ggml q8_0 blocks of 32 (an f16 scale and 32 int8 codes, 8.5 bits a value), so
 * `keyDim` and `valueDim` must be multiples of 32.
 */
export type KvCacheFormat = 'float32' | 'float16' | 'q8_0';

/** Every KV cache format, in the order messages list them. */
export const KV_CACHE_FORMATS: readonly KvCacheFormat[] = ['float32', 'float16', 'q8_0'];

/**
 * What one sequence's KV cache holds. `keyDim` and `valueDim` are per KV head and separate, so
 * a multi-head latent attention cache fits: one KV "head" whose key is `[latent, rope part]`
 * and whose value is the latent (`valueDim` < `keyDim`).
 */
export interface KvCacheSpec {
  /** Attention layers (the `layer` argument of `attend` runs over 0 .. numLayers-1). */
  readonly numLayers: number;
  readonly numKvHeads: number;
  /** Values of one head's key (query heads use the same size). */
  readonly keyDim: number;
  /** Values of one head's value (attention outputs have this size per query head). */
  readonly valueDim: number;
  /** Positions the cache holds: the sequence's context length. */
  readonly capacity: number;
  readonly format: KvCacheFormat;
}

/**
 * A backend's handle to one sequence's KV cache, made by `createKvCache` and written only by
 * `attend` and `copyKvPrefix` of the same backend (another backend's handle is an error).
 */
export interface KvCache {
  readonly spec: KvCacheSpec;
  /**
   * Positions held in every layer: keys and values of positions `0 .. length-1` are valid. It
   * advances to `position + rows` when `attend` returns for the last layer (`numLayers - 1`) of
   * a step, and becomes `positions` after `copyKvPrefix` into this cache.
   */
  readonly length: number;
  /** Bytes the cache holds (allocated for its whole capacity). */
  readonly bytes: number;
  /** True after `dispose()`. */
  readonly disposed: boolean;
  /** Frees the storage; the handle must not be used afterwards (a second call does nothing). */
  dispose(): void;
}

function positiveInt(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(v)}`);
}

/** Throws a ConfigError naming the field (`<what>.capacity`, ...) unless `spec` is a valid spec. */
export function validateKvCacheSpec(spec: KvCacheSpec, what = 'kvCache'): void {
  if (spec === null || typeof spec !== 'object') throw new ConfigError(what, `expected a KV cache spec object, got ${JSON.stringify(spec)}`);
  for (const key of ['numLayers', 'numKvHeads', 'keyDim', 'valueDim', 'capacity'] as const) positiveInt(`${what}.${key}`, spec[key]);
  if (!KV_CACHE_FORMATS.includes(spec.format)) {
    throw new ConfigError(`${what}.format`, `expected one of ${KV_CACHE_FORMATS.join(', ')}, got ${JSON.stringify(spec.format)}`);
  }
  if (spec.format === 'q8_0') {
    for (const key of ['keyDim', 'valueDim'] as const) {
      if (spec[key] % 32 !== 0) throw new ConfigError(`${what}.${key}`, `a q8_0 KV cache stores each head row as blocks of 32 values, so ${key} must be a multiple of 32; got ${spec[key]}`);
    }
  }
}

/** Bytes one position takes in one layer (keys and values of every KV head). */
export function kvBytesPerPosition(spec: Omit<KvCacheSpec, 'capacity' | 'numLayers'>): number {
  return spec.numKvHeads * (rowBytes(spec.format, spec.keyDim) + rowBytes(spec.format, spec.valueDim));
}

/** Bytes a cache of `spec` holds: every layer, every position of its capacity. */
export function kvCacheBytes(spec: KvCacheSpec): number {
  validateKvCacheSpec(spec);
  return spec.numLayers * spec.capacity * kvBytesPerPosition(spec);
}

/** True when two specs describe caches whose rows can be copied one into the other (all but capacity agree). */
export function sameKvLayout(a: KvCacheSpec, b: KvCacheSpec): boolean {
  return a.numLayers === b.numLayers && a.numKvHeads === b.numKvHeads && a.keyDim === b.keyDim && a.valueDim === b.valueDim && a.format === b.format;
}

/** `numLayers x numKvHeads x (keyDim, valueDim) format` for messages. */
export function describeKvLayout(s: KvCacheSpec): string {
  return `${s.numLayers} layers x ${s.numKvHeads} KV heads, keys ${s.keyDim} / values ${s.valueDim}, ${s.format}`;
}
