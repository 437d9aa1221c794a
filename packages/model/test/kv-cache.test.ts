import { ConfigError } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { defaultContextLength, kvBytesPerToken, modelKvCacheSpec, parseModelConfig, tinyConfigJson } from '../src/index.js';

describe('KV cache sizing of a model', () => {
  const config = parseModelConfig(tinyConfigJson({ hiddenSize: 128, numHeads: 4, numKvHeads: 2, numLayers: 3 }));

  it('sizes a session cache from the config, the context length and the format', () => {
    expect(modelKvCacheSpec(config, 100, 'q8_0')).toEqual({ numLayers: 3, numKvHeads: 2, keyDim: 32, valueDim: 32, capacity: 100, format: 'q8_0' });
    expect(kvBytesPerToken(config, 'float32')).toBe(3 * 2 * 2 * 32 * 4);
    expect(kvBytesPerToken(config, 'float16')).toBe(3 * 2 * 2 * 32 * 2);
    expect(kvBytesPerToken(config, 'q8_0')).toBe(3 * 2 * 2 * 34);
  });

  it('caps the default context at 4096 positions and refuses a context past max_position_embeddings', () => {
    expect(defaultContextLength({ ...config, maxPositions: 32768 })).toBe(4096);
    expect(defaultContextLength({ ...config, maxPositions: 512 })).toBe(512);
    expect(() => modelKvCacheSpec(config, 4097, 'float32')).toThrow(ConfigError);
    expect(() => modelKvCacheSpec(config, 0, 'float32')).toThrow(/contextLength: expected an integer in \[1, 4096\] \(max_position_embeddings\), got 0/);
  });
});
