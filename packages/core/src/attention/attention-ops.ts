/**
 * Which implementation runs a model's attention: the backend's own (`createKvCache`, `attend`,
 * `copyKvPrefix`, implemented together) or the host one. Decoders ask once, at load.
 */
import type { Backend } from '../backend.js';
import { BackendError } from '../errors.js';
import type { AttentionLayerSpec, AttentionSegment } from './attention-call.js';
import { createHostKvCache, hostAttend, hostCopyKvPrefix } from './host-attention.js';
import type { KvCache, KvCacheSpec } from './kv-cache.js';

/** The three attention operations of one implementation (see `Backend.attend` for the contract). */
export interface AttentionOps {
  /** `host`, or the backend's name. */
  readonly name: string;
  createKvCache(spec: KvCacheSpec): KvCache;
  attend(layer: number, spec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Promise<Float32Array>;
  copyKvPrefix(src: KvCache, dst: KvCache, positions: number): Promise<void>;
}

/** The host implementation: KV caches in typed arrays, attention in float64 on the calling thread. */
export const hostAttention: AttentionOps = Object.freeze({
  name: 'host',
  createKvCache: createHostKvCache,
  attend: async (layer: number, spec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Promise<Float32Array> =>
    hostAttend(layer, spec, segments, q, k, v),
  copyKvPrefix: async (src: KvCache, dst: KvCache, positions: number): Promise<void> => hostCopyKvPrefix(src, dst, positions),
});

const METHODS = ['createKvCache', 'attend', 'copyKvPrefix'] as const;

/**
 * The backend's attention when it implements all three methods, the host implementation when it
 * implements none; a BackendError naming the missing ones when it implements only some (a cache
 * of one implementation cannot be read by the other).
 */
export function attentionOps(backend: Backend): AttentionOps {
  const present = METHODS.filter((m) => typeof backend[m] === 'function');
  if (present.length === 0) return hostAttention;
  if (present.length < METHODS.length) {
    const missing = METHODS.filter((m) => !present.includes(m));
    throw new BackendError(`backend '${backend.name}' implements ${present.join(', ')} but not ${missing.join(', ')}; the attention methods come together`);
  }
  const { createKvCache, attend, copyKvPrefix } = backend as Required<Pick<Backend, (typeof METHODS)[number]>>;
  return {
    name: backend.name,
    createKvCache: (spec) => createKvCache.call(backend, spec),
    attend: (layer, spec, segments, q, k, v) => attend.call(backend, layer, spec, segments, q, k, v),
    copyKvPrefix: (src, dst, positions) => copyKvPrefix.call(backend, src, dst, positions),
  };
}
