import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerBackend, unregisterBackend } from '@moe-runtime/core';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKEND_PACKAGES } from '@moe-runtime/core';
import { registerTestBackend } from '@moe-runtime/core/testing';
import { loadBackends } from '../src/backends.js';
import { main } from '../src/main.js';
import type { BenchResults } from '../src/record.js';
import { captureIO, tempDir, TINY, writeScenario } from './helpers/io.js';

const cleanup = [registerTestBackend('naive-ok')];
registerBackend('no-driver', { priority: -200, create: async () => Promise.reject(new Error('no driver on this machine')) });
cleanup.push(() => void unregisterBackend('no-driver'));
afterAll(() => cleanup.forEach((f) => f()));

describe('backend discovery', () => {
  it("imports every package of core's backend map (the harness depends on all of them) and records a name without one", async () => {
    const loads = await loadBackends([...Object.keys(BACKEND_PACKAGES), 'does-not-exist']);
    expect(loads.map((l) => [l.pkg, l.status])).toEqual([...Object.values(BACKEND_PACKAGES).map((p) => [p, 'loaded']), [undefined, 'absent']]);
    expect(loads[4].reason).toMatch(/no package registers backend 'does-not-exist'/);
  });

  it('skips a backend that fails to initialise, with its reason, and runs the others', async () => {
    const dir = writeScenario(tempDir(), TINY);
    const json = join(dir, 'out.json');
    const io = captureIO();
    const code = await main(['-d', dir, 'tiny', '-b', 'no-driver,naive-ok', '--json', json], io);
    const results = JSON.parse(readFileSync(json, 'utf8')) as BenchResults;
    expect(code).toBe(0);
    expect(results.skipped).toContainEqual({ backend: 'no-driver', reason: 'failed to initialise: no driver on this machine' });
    expect(results.records.map((r) => r.backend)).toEqual(['naive-ok', 'naive-ok']);
    expect(io.out()).toContain('skipped no-driver: failed to initialise: no driver on this machine');
  });

  it('exits 1 when no backend could run', async () => {
    const dir = writeScenario(tempDir(), TINY);
    const io = captureIO();
    expect(await main(['-d', dir, 'tiny', '-b', 'no-driver'], io)).toBe(1);
    expect(io.out()).toContain('nothing ran: no backend initialised');
  });
});
