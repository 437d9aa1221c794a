import { ConfigError, createRng } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { KvCache } from '../src/index.js';

describe('KvCache', () => {
  it('grows past its initial capacity and keeps what it held', () => {
    const rng = createRng(41);
    const cache = new KvCache(2, 3, 2);
    const keys = Float32Array.from({ length: 6 }, () => rng.next() - 0.5);
    cache.keys[1].set(keys);
    cache.reserve(5);
    expect(cache.bytes).toBe(2 * 2 * 8 * 3 * 4);
    expect(Array.from(cache.keys[1].subarray(0, 6))).toEqual(Array.from(keys));
  });

  it('rejects a capacity that could never grow', () => {
    expect(() => new KvCache(2, 4, 0)).toThrow(/initialCapacity: expected a positive integer, got 0/);
    expect(() => new KvCache(2, 4, 1.5)).toThrow(ConfigError);
  });
});

