import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { disposeAllBackends, getBackend, listBackends } from '@moe-runtime/core';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDisposeResolve } from '@moe-runtime/core/testing';
import { createCpuBackend } from '../src/index.js';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('registration and engine choice', () => {
  afterAll(() => disposeAllBackends());

  it("registers as 'cpu' with priority 10", () => {
    expect(listBackends().find((b) => b.name === 'cpu')?.priority).toBe(10);
  });

  it("picks a WebAssembly engine by default and reports it in 'engine'", async () => {
    const backend = await getBackend('cpu');
    expect(backend.name).toBe('cpu');
    expect(backend.engine).toMatch(/^wasm-(relaxed-)?simd x\d+$/);
    expect(backend.engine.endsWith(`x${backend.threads}`)).toBe(true);
  });

  it("reports 'js' for the plain TypeScript engine", async () => {
    const backend = await createCpuBackend({ simd: 'none', threads: 4 });
    expect(backend.engine).toBe('js');
    expect(backend.threads).toBe(1);
    await backend.dispose();
  });

  it('fails typed after dispose', async () => {
    const backend = await createCpuBackend({ threads: 2 });
    await backend.dispose();
    await expect(backend.prepareLinear({ weight: undefined as never })).rejects.toThrow(/disposed/);
  });

  it('resolve, dispose, resolve gives a fresh backend that works (the registry evicts on dispose)', async () => {
    const r = await resolveDisposeResolve('cpu');
    expect([r.fresh, r.name, r.relL2 < 1e-5]).toEqual([true, 'cpu', true]);
  });
});

describe('worker threads do not keep the process alive', () => {
  const script = (dispose: boolean) => `
    import { createCpuBackend } from ${JSON.stringify(dist)};
    import { HostTensor } from '@moe-runtime/core';
    const b = await createCpuBackend({ threads: 2 });
    const l = await b.prepareLinear({ weight: HostTensor.float32([64, 64], new Float32Array(4096).fill(1)) });
    const y = await b.linear(l, new Float32Array(64 * 64).fill(1), 64);
    if (y[0] !== 64) process.exit(3);
    ${dispose ? 'await b.dispose();' : ''}
    console.log(b.engine);
  `;
  for (const dispose of [true, false]) {
    it(`exits by itself ${dispose ? 'after dispose()' : 'without dispose()'}`, () => {
      expect(existsSync(dist), 'dist/index.js is missing: build the package before its tests').toBe(true);
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script(dispose)], { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 20_000, encoding: 'utf8' });
      expect(run.error).toBeUndefined();
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/wasm-(relaxed-)?simd x2/);
    });
  }
});
