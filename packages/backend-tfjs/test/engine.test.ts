/**
 * Engine choice and tfjs's process-wide engine: the registry entry, option validation, the
 * install error for an absent `tensorflow` engine, and the one-engine-per-process policy.
 */
import { afterAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import { BackendError, checkAgainstReference, ConfigError, getBackend, listBackends, MoELayer, randomInput, randomWeights, type MoELayerConfig } from '@moe-runtime/core';
import { resolveDisposeResolve } from '@moe-runtime/core/testing';
import { parseTfjsOptions, TfjsBackend } from '../src/index.js';
import { tf } from '../src/tf.js';
import { nativeAbsentReason, nativeAvailable } from './native-availability.js';

const config: MoELayerConfig = { hiddenSize: 16, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 24 }, router: { name: 'topk-softmax' } };

describe('tfjs backend: registration and options', () => {
  it("registers as 'tfjs' with priority 15", () => {
    expect(listBackends()).toContainEqual(expect.objectContaining({ name: 'tfjs', priority: 15 }));
  });

  it('rejects bad options with ConfigErrors naming backend.options.<key>', async () => {
    expect(() => parseTfjsOptions({ engine: 'webgl' })).toThrow(/backend.options.engine: expected one of 'tensorflow', 'wasm', 'cpu', got "webgl"/);
    expect(() => parseTfjsOptions({ threads: 2 })).toThrow(ConfigError);
    expect(() => parseTfjsOptions({ threads: 2 })).toThrow(/backend.options.threads: unknown option/);
    expect(() => parseTfjsOptions({ wasmHeapLimitBytes: 5 * 1024 ** 3 })).toThrow(/backend.options.wasmHeapLimitBytes/);
    await expect(getBackend({ name: 'tfjs', options: { engine: 'gpu' } })).rejects.toThrow(ConfigError);
  });

  it('resolve, dispose, resolve gives a fresh backend that works (the registry evicts on dispose)', async () => {
    const r = await resolveDisposeResolve({ name: 'tfjs', options: { engine: 'wasm' } });
    expect([r.fresh, r.name, r.relL2 < 1e-5]).toEqual([true, 'tfjs', true]);
  });
});

describe("the 'tensorflow' engine when tfjs-node(-gpu) is absent", () => {
  it.skipIf(nativeAvailable)('gives a BackendError that says how to install it (skipped: tfjs-node is installed with its addon here)', async () => {
    const err = await TfjsBackend.create({ engine: 'tensorflow' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    const msg = (err as Error).message;
    for (const needle of ['pnpm add @tensorflow/tfjs-node@4.22.0', 'pnpm add @tensorflow/tfjs-node-gpu@4.22.0', 'CUDA 11.2', 'cuDNN 8.1', 'TFJS_NODE_CDN_STORAGE', 'TFJS_NODE_BASE_URI', 'custom-binary.json']) {
      expect(msg).toContain(needle);
    }
    expect(msg).toContain('@tensorflow/tfjs-node');
    // No side effect: nothing was registered or switched by the failed attempt.
    expect(tf.findBackendFactory('tensorflow')).toBeNull();
  });

  it.skipIf(nativeAvailable)(`auto selection falls back to wasm (absent: ${nativeAbsentReason || 'n/a'})`, async () => {
    const b = await TfjsBackend.create();
    expect(b.tfjsEngine).toBe('wasm');
    await b.dispose();
  });
});

describe('one tfjs engine per process', () => {
  const made: TfjsBackend[] = [];
  afterAll(async () => {
    for (const b of made) await b.dispose();
  });

  it('refuses a second instance on another engine while one is alive; auto joins the live engine', async () => {
    const wasm = await TfjsBackend.create({ engine: 'wasm' });
    made.push(wasm);
    const err = await TfjsBackend.create({ engine: 'cpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('backend.options.engine');
    expect(tf.getBackend()).toBe('wasm'); // refused before switching anything
    const auto = await TfjsBackend.create();
    made.push(auto);
    expect(auto.tfjsEngine).toBe('wasm');
  });

  it('errors clearly when other code switched the engine, and works again once it is switched back', async () => {
    const backend = made[0];
    const weights = randomWeights(config, { seed: 3 });
    const layer = await MoELayer.create({ config, weights, backend });
    const x = randomInput(3, 16, 4);
    await tf.setBackend('cpu');
    await expect(layer.forward(x)).rejects.toThrow(/active engine is 'cpu' but this 'tfjs' backend was created on 'wasm'/);
    await expect(backend.prepareLinear({ weight: weights.router })).rejects.toThrow(BackendError);
    await tf.setBackend('wasm');
    const result = await layer.forward(x);
    expect(checkAgainstReference(config, weights, x, result, { maxRelL2: 1e-5 }).failures).toEqual([]);
    layer.dispose();
  });

  it('after every instance is disposed, another engine may be used', async () => {
    for (const b of made.splice(0)) await b.dispose();
    const cpu = await TfjsBackend.create({ engine: 'cpu' });
    expect(cpu.tfjsEngine).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    await cpu.dispose();
  });
});
