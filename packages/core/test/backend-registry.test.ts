import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BackendUnavailableError,
  ConfigError,
  createRuntime,
  disposeAllBackends,
  getBackend,
  listBackends,
  hasBackendInstance,
  registerBackend,
  resolveBackend,
  UnknownNameError,
  unregisterBackend,
  type Backend,
} from '../src/index.js';
import { createTestBackend } from '../src/testing/index.js';

const registered: string[] = [];
function register(name: string, priority: number, create: (options: Readonly<Record<string, unknown>>) => Promise<Backend>): void {
  registerBackend(name, { priority, description: `${name} test backend`, create });
  registered.push(name);
}

afterEach(async () => {
  await disposeAllBackends();
  for (const name of registered.splice(0)) unregisterBackend(name);
});

describe('backend registry', () => {
  it('lists backends by priority, highest first (name breaks ties)', () => {
    register('low', 1, async () => createTestBackend({ name: 'low' }));
    register('high', 10, async () => createTestBackend({ name: 'high' }));
    register('mid-b', 5, async () => createTestBackend({ name: 'mid-b' }));
    register('mid-a', 5, async () => createTestBackend({ name: 'mid-a' }));
    expect(listBackends().map((b) => b.name)).toEqual(['high', 'mid-a', 'mid-b', 'low']);
    expect(listBackends()[0].description).toBe('high test backend');
  });

  it('resolves the highest-priority backend when none is named', async () => {
    register('low', 1, async () => createTestBackend({ name: 'low' }));
    register('high', 10, async () => createTestBackend({ name: 'high' }));
    expect((await resolveBackend()).name).toBe('high');
  });

  it('initialises lazily, once per name and option set (key order does not matter)', async () => {
    const create = vi.fn(async (options: Readonly<Record<string, unknown>>) => createTestBackend({ name: `lazy-${JSON.stringify(options)}` }));
    register('lazy', 1, create);
    expect(create).not.toHaveBeenCalled();
    const [a, b] = await Promise.all([getBackend('lazy'), getBackend({ name: 'lazy' })]);
    expect(a).toBe(b);
    expect(create).toHaveBeenCalledTimes(1);
    const c = await getBackend({ name: 'lazy', options: { threads: 2, mode: 'x' } });
    const d = await getBackend({ name: 'lazy', options: { mode: 'x', threads: 2 } });
    expect(c).toBe(d);
    expect(c).not.toBe(a);
    expect(create).toHaveBeenCalledTimes(2);
    expect(create).toHaveBeenLastCalledWith({ threads: 2, mode: 'x' });
  });

  it('does not cache a failed initialisation', async () => {
    let calls = 0;
    register('flaky', 1, async () => {
      if (++calls === 1) throw new Error('driver not loaded');
      return createTestBackend({ name: 'flaky' });
    });
    await expect(getBackend('flaky')).rejects.toThrow('driver not loaded');
    expect((await getBackend('flaky')).name).toBe('flaky');
    expect(calls).toBe(2);
  });

  it('falls back along the preference list', async () => {
    register('broken', 100, async () => {
      throw new Error('no GPU here');
    });
    register('good', 1, async () => createTestBackend({ name: 'good' }));
    expect((await resolveBackend(['broken', 'good'])).name).toBe('good');
    expect((await resolveBackend()).name).toBe('good'); // by priority: broken first, then good
  });

  it('throws one BackendUnavailableError listing every attempt with its reason', async () => {
    register('broken-a', 2, async () => {
      throw new Error('no GPU here');
    });
    register('broken-b', 1, async () => {
      throw new ConfigError('backend.options.threads', 'expected a positive integer, got 0');
    });
    let err: unknown;
    try {
      await resolveBackend(['broken-a', 'missing', { name: 'broken-b', options: { threads: 0 } }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const attempts = (err as BackendUnavailableError).attempts;
    expect(attempts.map((a) => a.name)).toEqual(['broken-a', 'missing', 'broken-b']);
    expect(attempts[0].reason).toBe('no GPU here');
    expect(attempts[1].reason).toMatch(/unknown backend 'missing'; registered: 'broken-a', 'broken-b'/);
    expect(attempts[2].reason).toMatch(/backend\.options\.threads/);
    expect((err as Error).message).toMatch(/tried: broken-a \(no GPU here\); missing \(unknown backend/);
    expect((err as BackendUnavailableError).code).toBe('E_BACKEND_UNAVAILABLE');
  });

  it('reports an empty registry', async () => {
    await expect(resolveBackend()).rejects.toThrow(/none registered/);
  });

  it('throws UnknownNameError for an unregistered name', async () => {
    register('only', 1, async () => createTestBackend({ name: 'only' }));
    await expect(getBackend('nope')).rejects.toThrow(UnknownNameError);
    await expect(getBackend('nope')).rejects.toThrow(/unknown backend 'nope'; registered: 'only'/);
  });

  it('validates registrations and choices', async () => {
    expect(() => registerBackend('', { priority: 1, create: async () => createTestBackend() })).toThrow(ConfigError);
    expect(() => registerBackend('x', { priority: NaN, create: async () => createTestBackend() })).toThrow(/backend\.priority/);
    await expect(getBackend({} as { name: string })).rejects.toThrow(/expected a backend name or \{ name, options \}/);
    // Options passed as a second argument (as a JavaScript caller might) are refused, not dropped.
    register('opts', 1, async () => createTestBackend({ name: 'opts' }));
    const loose = getBackend as unknown as (choice: string, options: object) => Promise<Backend>;
    await expect(loose('opts', { threads: 1 })).rejects.toThrow(/getBackend takes one argument; pass options as \{ name: "opts", options/);
    await expect(loose('opts', { threads: 1 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('says whether an instance with these options exists (hasBackendInstance)', async () => {
    register('probe', 1, async () => createTestBackend({ name: 'probe' }));
    expect(hasBackendInstance('probe')).toBe(false);
    const b = await getBackend('probe');
    expect(hasBackendInstance('probe')).toBe(true);
    expect(hasBackendInstance({ name: 'probe', options: { threads: 2 } })).toBe(false);
    expect(hasBackendInstance('unregistered')).toBe(false);
    await b.dispose();
    expect(hasBackendInstance('probe')).toBe(false);
  });

  it('disposes initialised instances', async () => {
    const backend = createTestBackend({ name: 'disposable' });
    const dispose = vi.spyOn(backend, 'dispose');
    register('disposable', 1, async () => backend);
    await getBackend('disposable');
    await disposeAllBackends();
    expect(dispose).toHaveBeenCalledTimes(1);
  });

  it('createRuntime resolves a backend and builds layers on it', async () => {
    register('rt', 1, async () => createTestBackend({ name: 'rt' }));
    const runtime = await createRuntime({ backend: ['missing', 'rt'] });
    expect(runtime.backend.name).toBe('rt');
    await expect(createRuntime({ backend: 'missing' })).rejects.toThrow(BackendUnavailableError);
  });
});

describe('disposing a registry instance', () => {
  it('evicts it: resolve, dispose, resolve gives a fresh instance', async () => {
    const create = vi.fn(async () => createTestBackend({ name: 'evicting' }));
    register('evicting', 1, create);
    const first = await resolveBackend('evicting');
    await first.dispose();
    const second = await resolveBackend('evicting');
    expect(second).not.toBe(first);
    expect(create).toHaveBeenCalledTimes(2);
    expect(await resolveBackend('evicting')).toBe(second);
  });

  it('leaves a newer instance cached when an old one is disposed again', async () => {
    register('twice', 1, async () => createTestBackend({ name: 'twice' }));
    const first = await getBackend('twice');
    await first.dispose();
    const second = await getBackend('twice');
    await first.dispose();
    expect(await getBackend('twice')).toBe(second);
  });

  it('still runs the backend own dispose', async () => {
    const backend = createTestBackend({ name: 'own-dispose' });
    const dispose = vi.spyOn(backend, 'dispose');
    register('own-dispose', 1, async () => backend);
    await (await getBackend('own-dispose')).dispose();
    expect(dispose).toHaveBeenCalledTimes(1);
  });
});
