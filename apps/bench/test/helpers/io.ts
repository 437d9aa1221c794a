/** In-memory streams for calling `main` in-process. */
import { Writable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir as trackedTempDir } from '@moe-runtime/core/testing';
import type { MainIO } from '../../src/main.js';

/** A MainIO whose output is collected in strings (not a TTY: no colours, no progress bar). */
export function captureIO(): MainIO & { out(): string; err(): string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        append(chunk.toString());
        cb();
      },
    });
  return {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    env: { NO_COLOR: '1' },
    out: () => out,
    err: () => err,
  };
}

/** A fresh temporary folder, removed when the test file ends (test/setup-temp-dirs.ts). */
export function tempDir(): string {
  return trackedTempDir('moe-bench-test-');
}

/** A tiny scenario that runs in well under a second per backend. */
export const TINY = {
  name: 'tiny',
  layer: {
    hiddenSize: 32,
    numExperts: 4,
    topK: 2,
    expert: { kind: 'swiglu', ffnSize: 48 },
    router: { name: 'topk-softmax' },
  },
  tokens: [1, 7],
  seed: 11,
  warmup: 1,
  repeats: 2,
  referenceRows: 4,
  budgetSeconds: 5,
};

/** Writes `scenario` as `<dir>/<name>.json` and returns the folder. */
export function writeScenario(dir: string, scenario: object, name = (scenario as { name?: string }).name ?? 'scenario'): string {
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(scenario, null, 2));
  return dir;
}
