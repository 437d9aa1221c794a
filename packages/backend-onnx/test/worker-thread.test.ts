/**
 * `session.run` blocks the thread it runs on, so servers run inference in worker threads:
 * the backend must load and compute inside workers (one after another, and while the main
 * thread holds its own sessions).
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { OnnxBackend } from '../src/index.js';

const built = existsSync(new URL('../dist/index.js', import.meta.url));

function runWorker(seed: number): Promise<{ relL2: number; passed: boolean; engine: string }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./worker-fixture.mjs', import.meta.url), { workerData: { seed } });
    w.once('message', (m) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

describe('worker threads (the worker imports the built package: turbo builds it before the tests)', () => {
  it('two workers in turn, with a live backend on the main thread, all agree with the reference', async () => {
    expect(built, 'dist/index.js is missing: build the package before its tests').toBe(true);
    const main = await OnnxBackend.create({ intraOpThreads: 1 });
    try {
      for (const seed of [3, 4]) {
        const r = await runWorker(seed);
        expect(r.passed).toBe(true);
        expect(r.relL2).toBeLessThan(1e-5);
        expect(r.engine).toMatch(/^onnxruntime-node .* \(cpu\)$/);
      }
    } finally {
      await main.dispose();
    }
  });
});
