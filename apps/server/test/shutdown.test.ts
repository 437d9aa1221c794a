/**
 * close() frees what the server started: every inference worker and the generation worker end
 * (counted as OS threads of this process), so an embedding process can exit and tests leave no
 * live handles behind.
 */
import { existsSync, readdirSync } from 'node:fs';
import { randomInput } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { post, rowsOf, smallConfig, startServer } from './helpers.js';

const D = 8;
const threads = (): number => readdirSync('/proc/self/task').length;

async function serveOnce(): Promise<{ during: number }> {
  const srv = await startServer({
    backend: ['cpu'],
    workers: 2,
    layers: [{ id: 'l', source: 'random', seed: 3, config: smallConfig(D, 4, 2, 12) }],
    models: [{ id: 'tiny', source: 'demo', modelType: 'mixtral', seed: 1 }],
  });
  try {
    const res = await post(`${srv.url}/v1/layers/l/forward`, { input: rowsOf(randomInput(2, D, 41).data, D) });
    expect(res.status).toBe(200);
    const gen = await post(`${srv.url}/v1/completions`, { model: 'tiny', prompt: 'hi', max_tokens: 2, temperature: 0 });
    expect(gen.status).toBe(200);
    return { during: threads() };
  } finally {
    await srv.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The thread count once it stops falling (exiting workers take a moment to be joined). */
async function settledThreads(target = 0): Promise<number> {
  let last = threads();
  for (let i = 0; i < 50 && last > target; i++) {
    await sleep(100);
    const now = threads();
    if (target === 0 && now === last) break;
    last = now;
  }
  return last;
}

const hasProc = existsSync('/proc/self/task');

describe.skipIf(!hasProc)(`shutdown${hasProc ? '' : ' (skipped: no /proc/self/task to count threads on this platform)'}`, () => {
  it('close() ends both inference workers and the generation worker', async () => {
    // A first cycle warms what stays for the life of the process (libuv's thread pool).
    await serveOnce();
    const baseline = await settledThreads();
    const { during } = await serveOnce();
    // 2 inference workers + 1 generation worker (each at least one thread).
    expect(during).toBeGreaterThanOrEqual(baseline + 3);
    expect(await settledThreads(baseline)).toBe(baseline);
  });
});
