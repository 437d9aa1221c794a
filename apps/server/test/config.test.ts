/** Config resolution and the command line: defaults, flags over file, and errors naming the field. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@moe-runtime/core';
import { tempDir } from '@moe-runtime/core/testing';
import { MODEL_TYPES } from '@moe-runtime/model';
import { describe, expect, it } from 'vitest';
import { configFromArgs, DEFAULT_CONFIG, resolveConfig } from '../src/index.js';
import { smallConfig } from './helpers.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveConfig', () => {
  it('defaults: the Mixtral-mini demo layer on cpu at 127.0.0.1:8080', () => {
    const c = resolveConfig();
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.backend).toEqual(['cpu']);
    expect(c.layers).toHaveLength(1);
    const layer = c.layers[0];
    expect(layer.source === 'random' && layer.config).toMatchObject({ numExperts: 8, topK: 2, hiddenSize: 1024, expert: { kind: 'swiglu', ffnSize: 3584 } });
    expect(c.batching).toEqual(DEFAULT_CONFIG.batching);
  });

  it('names the bad field', () => {
    expect(configError(() => resolveConfig({ port: 70000 })).field).toBe('port');
    expect(configError(() => resolveConfig({ limits: { maxQueuedRequests: -1 } })).field).toBe('limits.maxQueuedRequests');
    expect(configError(() => resolveConfig({ batching: { mode: 'sometimes' as never } })).field).toBe('batching.mode');
    expect(configError(() => resolveConfig({ apiKey: 'short' })).field).toBe('apiKey');
    expect(configError(() => resolveConfig({ colour: 'blue' } as never)).field).toBe('colour');
    expect(configError(() => resolveConfig({ corsOrigins: ['https://app.example/path'] })).field).toBe('corsOrigins[0]');
    expect(configError(() => resolveConfig({ allowedHosts: [''] })).field).toBe('allowedHosts');
    const bad = { id: 'x', source: 'random' as const, seed: 1, config: { ...smallConfig(), topK: 9 } };
    const err = configError(() => resolveConfig({ layers: [bad] }));
    expect(err.field).toBe('layers[0].config.topK');
    expect(err.message).toBe('layers[0].config.topK: expected at most numExperts (4), got 9');
    const dup = { id: 'x', source: 'random' as const, seed: 1, config: smallConfig() };
    expect(configError(() => resolveConfig({ layers: [dup, dup] })).message).toContain("layer id 'x' appears twice");
    expect(configError(() => resolveConfig({ layers: [{ id: 'y', source: 'hub' } as never] })).field).toBe('layers[0].source');
  });

  it('refuses a random layer too large for this machine before any worker fills its weights', () => {
    const huge = { id: 'big', source: 'random' as const, seed: 1, config: smallConfig(1_000_000, 8, 2, 100_000) };
    const err = configError(() => resolveConfig({ layers: [huge] }));
    expect(err.field).toBe('layers[0].config');
    expect(err.message).toMatch(/^layers\[0\]\.config: needs about [\d.e+]+ GiB of weights \(hiddenSize 1000000, ffnSize 100000, 8 experts\) but this machine has [\d.]+ GiB; expected a smaller layer$/);
    expect(configError(() => configFromArgs(['--hidden', '1000000', '--ffn', '100000'])).field).toBe('layers[0].config');
  });

  it('a global router replaces every layer router', () => {
    const c = resolveConfig({ router: { name: 'switch', options: { capacityFactor: 2 } } });
    const l = c.layers[0];
    expect(l.router).toEqual({ name: 'switch', options: { capacityFactor: 2 } });
  });
});

describe('command line', () => {
  it('flags override the config file', () => {
    const dir = tempDir('moe-cli-');
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ port: 9000, host: '0.0.0.0', limits: { maxQueuedRequests: 5, requestTimeoutMs: 1234 }, backendModules: ['./mine.js'] }));
    const { config } = configFromArgs(['--config', file, '--port', '0', '--backend', 'onnx,cpu', '--backend-options', '{"threads":2}', '--max-queue', '7', '--hidden', '64', '--ffn', '96', '--experts', '4'], {});
    expect(config.port).toBe(0);
    expect(config.host).toBe('0.0.0.0');
    expect(config.backend).toEqual([{ name: 'onnx', options: { threads: 2 } }, 'cpu']);
    expect(config.limits.maxQueuedRequests).toBe(7);
    expect(config.limits.requestTimeoutMs).toBe(1234);
    expect(config.backendModules).toEqual([join(dir, 'mine.js')]);
    const layer = config.layers[0];
    expect(layer.source === 'random' && layer.config).toMatchObject({ hiddenSize: 64, numExperts: 4, topK: 2, expert: { ffnSize: 96 } });
  });

  it('the API key can come from MOE_API_KEY', () => {
    expect(configFromArgs([], { MOE_API_KEY: 'from-the-env-123' }).config.apiKey).toBe('from-the-env-123');
    const access = configFromArgs(['--allowed-host', 'Moe.Internal', '--cors-origin', 'https://app.example', 'http://localhost:3000'], {}).config;
    expect([access.allowedHosts, access.corsOrigins]).toEqual([['moe.internal'], ['https://app.example', 'http://localhost:3000']]);
  });

  it('rejects bad flag values', () => {
    expect(() => configFromArgs(['--port', 'eighty'], {})).toThrow(/--port expects an integer/);
    expect(() => configFromArgs(['--batching', 'sometimes'], {})).toThrow(/Allowed choices are auto, across-requests, per-request/);
    expect(() => configFromArgs(['--safetensors', 'x.safetensors'], {})).toThrow(/--top-k: is required with --safetensors/);
  });
});

describe('text models in the config', () => {
  it('--model DIR (id = folder name), --model name=DIR, --demo-model, generation flags', () => {
    const { config } = configFromArgs(['--model', '/models/OLMoE-1B-7B', '--model', 'chat=/models/qwen', '--demo-model', 'qwen3_moe', '--max-completion-tokens', '512', '--max-concurrent-generations', '2', '--prefix-cache-bytes', '0']);
    expect(config.models).toEqual([
      { id: 'OLMoE-1B-7B', source: 'folder', path: '/models/OLMoE-1B-7B' },
      { id: 'chat', source: 'folder', path: '/models/qwen' },
      { id: 'tiny-qwen3-moe', source: 'demo', modelType: 'qwen3_moe', seed: 1 },
    ]);
    expect(config.generation).toEqual({ maxConcurrent: 2, maxCompletionTokens: 512, defaultMaxTokens: 128, prefixCacheBytes: 0 });
    // With models and no layers asked for, no demo layer is served.
    expect(config.layers).toEqual([]);
    expect(configFromArgs(['--demo-model']).config.models).toEqual([{ id: 'tiny-mixtral', source: 'demo', modelType: 'mixtral', seed: 1 }]);
  });

  it('names the bad field', () => {
    expect(configError(() => configFromArgs(['--demo-model', 'gpt'])).message).toBe(`--demo-model: expected one of ${MODEL_TYPES.join(', ')}, got "gpt"`);
    expect(configError(() => resolveConfig({ models: [{ id: 'a', source: 'folder', path: '/x' }, { id: 'a', source: 'folder', path: '/y' }] })).field).toBe('models');
    expect(configError(() => resolveConfig({ models: [{ id: 'a', source: 'http' } as never] })).field).toBe('models[0].source');
    expect(configError(() => resolveConfig({ generation: { maxConcurrent: 0 } })).field).toBe('generation.maxConcurrent');
    expect(configError(() => resolveConfig({ generation: { prefixCacheBytes: -1 } })).field).toBe('generation.prefixCacheBytes');
    expect(resolveConfig({}).generation.prefixCacheBytes).toBe(64 * 1024 * 1024);
    expect(configError(() => resolveConfig({ generation: { defaultMaxTokens: 100, maxCompletionTokens: 50 } })).field).toBe('generation.defaultMaxTokens');
    expect(resolveConfig({ generation: { maxCompletionTokens: 50 } }).generation.defaultMaxTokens).toBe(50);
  });
});
