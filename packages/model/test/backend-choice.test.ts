/**
 * Which backend a model loads onto (chooseModelBackend, TextModel.load): unnamed, the one
 * that holds the model in the fewest bytes among those that fit; named, the first in the
 * caller's order that starts and fits; backends that would not fit are skipped before anything
 * is allocated, the ones started for the comparison are disposed, and when none fits the error
 * says what each would need.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackendUnavailableError, disposeAllBackends, getBackend, MemoryLimitError, registerBackend, ResidentBytes, unregisterBackend, type Backend } from '@moe-runtime/core';
import { createTestBackend } from '@moe-runtime/core/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chooseModelBackend, describeBackendChoice, openHfCheckpoint, TextModel, writeTinyCheckpoint, type PlannedTensor } from '../src/index.js';

const GiB = 2 ** 30;
const machine = { totalBytes: 64 * GiB, availableBytes: 16 * GiB };
/** 1G float32 values on the backend: 1 GiB per byte a value, plus a 0.25 GiB embedding on the host. */
const tensors: readonly PlannedTensor[] = [
  { name: 'layers.0.w', dtype: 'float32', shape: [GiB / 1024, 1024], use: 'backend' },
  { name: 'embed', dtype: 'float32', shape: [GiB / 4096 / 16, 4096], use: 'embedding' },
];

const registered: string[] = [];
const disposed: string[] = [];
/** Registers a fake backend holding `bytesPerValue` per value under an optional ceiling (or failing to start). */
function fake(name: string, priority: number, bytesPerValue: number | 'fails', limitBytes?: number): void {
  registerBackend(name, {
    priority,
    create: async () => {
      if (bytesPerValue === 'fails') throw new Error(`${name} has no device here`);
      const b = createTestBackend({ name });
      const backend: Backend = { ...b, memory: new ResidentBytes(() => bytesPerValue, limitBytes), dispose: async () => void disposed.push(name) };
      return backend;
    },
  });
  registered.push(name);
}

afterEach(async () => {
  await disposeAllBackends();
  for (const name of registered.splice(0)) unregisterBackend(name);
  disposed.splice(0);
});

describe('chooseModelBackend', () => {
  it('unnamed: the fewest bytes among the backends that fit, the others started and disposed', async () => {
    fake('big', 30, 8);
    fake('small', 10, 2);
    fake('smaller-but-capped', 20, 1, 0.5 * GiB);
    fake('broken', 40, 'fails');
    const r = await chooseModelBackend('m.gguf', tensors, { machine });
    expect(r.backend.name).toBe('small');
    expect(r.rule).toBe('fewest bytes');
    expect(r.candidates.map((c) => [c.name, c.fits, c.neededBytes])).toEqual([
      ['broken', false, undefined],
      ['big', true, 8.25 * GiB],
      ['smaller-but-capped', false, 1.25 * GiB],
      ['small', true, 2.25 * GiB],
    ]);
    expect(r.candidates[0].reason).toMatch(/did not start: broken has no device here/);
    expect(r.candidates[2].reason).toMatch(/more than its limit of 0\.50 GiB/);
    expect(disposed.sort()).toEqual(['big', 'smaller-but-capped']);
    expect(describeBackendChoice(r.backend.name, r.candidates, r.rule)).toBe(
      'backend small (fewest bytes: 2.25 GiB; broken did not start, big 8.25 GiB, smaller-but-capped 1.25 GiB, does not fit)',
    );
  });

  it('leaves alone an instance that existed before the choice (somebody else holds it)', async () => {
    fake('held', 30, 8);
    fake('small', 10, 2);
    const held = await getBackend('held');
    const r = await chooseModelBackend('m', tensors, { machine });
    expect(r.backend.name).toBe('small');
    expect(disposed).toEqual([]);
    expect(await getBackend('held')).toBe(held);
  });

  it('unnamed: equal footprints go to the higher priority', async () => {
    fake('second', 5, 2);
    fake('first', 9, 2);
    expect((await chooseModelBackend('m', tensors, { machine })).backend.name).toBe('first');
  });

  it('named: the first in the given order that starts and fits, even when a later one is smaller; later ones are not started', async () => {
    fake('a', 1, 'fails');
    fake('b', 2, 20);
    fake('c', 3, 4);
    fake('d', 4, 1);
    const r = await chooseModelBackend('m', tensors, { backend: ['a', 'b', 'c', 'd'], machine });
    expect(r.backend.name).toBe('c');
    expect(r.rule).toBe('first that fits');
    expect(r.candidates.map((c) => c.name)).toEqual(['a', 'b', 'c']);
    expect(r.candidates[1].reason).toMatch(/needs 20\.25 GiB: .*more than the 16\.00 GiB this machine has available/);
    expect(disposed).toEqual(['b']);
  });

  it('none fits: the smallest need is the error, naming what the others would need; none starts: BackendUnavailableError', async () => {
    fake('huge', 2, 40);
    fake('large', 1, 20);
    const err = await chooseModelBackend('m.gguf', tensors, { machine }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect((err as MemoryLimitError).neededBytes).toBe(20.25 * GiB);
    expect((err as MemoryLimitError).message).toMatch(/^m\.gguf: the model needs 20\.25 GiB .*backend large.*nothing was allocated \(no backend fits; huge: needs 40\.25 GiB\)$/);
    expect(disposed.sort()).toEqual(['huge', 'large']);
    for (const name of registered.splice(0)) unregisterBackend(name);
    fake('gone', 1, 'fails');
    await expect(chooseModelBackend('m', tensors, { machine })).rejects.toThrow(BackendUnavailableError);
  });

  it('checkMemory false: every backend that starts fits, and the smallest still wins', async () => {
    fake('huge', 2, 40);
    fake('large', 1, 20);
    const r = await chooseModelBackend('m', tensors, { machine, checkMemory: false });
    expect(r.backend.name).toBe('large');
    expect(r.candidates.every((c) => c.fits)).toBe(true);
  });
});

describe('TextModel.load without a backend named', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moe-backend-choice-'));
    await writeTinyCheckpoint(dir, { modelType: 'qwen3_moe', seed: 94, dtype: 'bfloat16' });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads onto the backend with the smallest plan (cpu, which keeps bfloat16 at 2 bytes, over onnx, which widens it) and reports every candidate', async () => {
    await import('@moe-runtime/backend-onnx');
    await import('@moe-runtime/backend-cpu');
    const tm = await TextModel.load(dir);
    try {
      expect(tm.model.backend.name).toBe('cpu');
      expect(tm.load.backendRule).toBe('fewest bytes');
      const byName = new Map(tm.load.backends.map((c) => [c.name, c]));
      expect(byName.get('onnx')!.neededBytes!).toBeGreaterThan(2 * byName.get('cpu')!.neededBytes!);
      let text = '';
      for await (const chunk of tm.complete('hello', { maxTokens: 3, temperature: 0 })) text += chunk.text;
      expect(text.length).toBeGreaterThan(0);
    } finally {
      await tm.dispose();
    }
    // The source's own planned tensors are what was compared.
    const source = await openHfCheckpoint(dir);
    expect(source.tensors.some((t) => t.dtype === 'bfloat16' && t.use === 'backend')).toBe(true);
    await source.close();
  });

  it('a named list is taken in order', async () => {
    await import('@moe-runtime/backend-onnx');
    await import('@moe-runtime/backend-cpu');
    const tm = await TextModel.load(dir, { backend: ['onnx', 'cpu'] });
    try {
      expect(tm.model.backend.name).toBe('onnx');
      expect(tm.load.backends.map((c) => c.name)).toEqual(['onnx']);
    } finally {
      await tm.dispose();
    }
  });
});
