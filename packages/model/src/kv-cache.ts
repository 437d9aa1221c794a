/**
 * KV cache sizing for a model's sessions: the spec a session's cache is created with, and the
 * default context length. A cache is allocated once for its context, so the default is capped:
 * a real model's max_position_embeddings (32768 for Mixtral) would cost gigabytes per session.
 */
import { ConfigError, kvCacheBytes, type KvCacheFormat, type KvCacheSpec } from '@moe-runtime/core';
import type { ModelConfig } from './model-config.js';

/**
 * The default context length cap, in positions: llama.cpp's long-standing default context and
 * the max_position_embeddings default of the config parser. A float32 cache of the 428M
 * benchmark model (4 layers, 2 KV heads of 128) takes 16 MiB at this length; Mixtral 8x7B
 * (32 layers, 8 KV heads of 128) 1 GiB.
 */
export const DEFAULT_CONTEXT_CAP = 4096;

/** A session's context length when none is asked for: the model's max positions, at most {@link DEFAULT_CONTEXT_CAP}. */
export function defaultContextLength(config: ModelConfig): number {
  return Math.min(config.maxPositions, DEFAULT_CONTEXT_CAP);
}

/** The KV cache spec of one session of `config` (ConfigError naming contextLength when out of range). */
export function modelKvCacheSpec(config: ModelConfig, contextLength: number, format: KvCacheFormat): KvCacheSpec {
  if (!Number.isInteger(contextLength) || contextLength < 1 || contextLength > config.maxPositions) {
    throw new ConfigError('contextLength', `expected an integer in [1, ${config.maxPositions}] (max_position_embeddings), got ${contextLength}`);
  }
  // Latent attention (DeepSeek-V2) caches one "head" per position: [kv_a_layernorm(c) | k_rope] as
  // the key and the normed latent c as the value, kv_lora_rank + rope and kv_lora_rank wide.
  const m = config.latentAttention;
  if (m) return { numLayers: config.numLayers, numKvHeads: 1, keyDim: m.kvLoraRank + m.qkRopeHeadDim, valueDim: m.kvLoraRank, capacity: contextLength, format };
  return { numLayers: config.numLayers, numKvHeads: config.numKvHeads, keyDim: config.headDim, valueDim: config.headDim, capacity: contextLength, format };
}

/** Bytes of KV cache one position of `config` takes in `format` (every layer). */
export function kvBytesPerToken(config: ModelConfig, format: KvCacheFormat): number {
  return kvCacheBytes(modelKvCacheSpec(config, 1, format));
}
