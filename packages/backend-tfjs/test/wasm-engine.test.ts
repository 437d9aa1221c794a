/** Starting tfjs-backend-wasm in Node: binaries from the package's dist/, SIMD, one thread, no leftover process handlers. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TfjsBackend, wasmBinaryFolder } from '../src/index.js';

describe('the wasm engine in Node', () => {
  it('finds its .wasm binaries in the package dist folder', () => {
    const folder = wasmBinaryFolder();
    expect(folder).toMatch(/@tensorflow[\\/]tfjs-backend-wasm[\\/]dist[\\/]$/);
    expect(existsSync(join(folder, 'tfjs-backend-wasm-simd.wasm'))).toBe(true);
  });

  it('starts the SIMD build on one thread and leaves process-wide error handlers as they were', async () => {
    const events = ['uncaughtException', 'unhandledRejection'] as const;
    const before = events.map((ev) => process.listenerCount(ev));
    const backend = await TfjsBackend.create({ engine: 'wasm' });
    try {
      expect(events.map((ev) => process.listenerCount(ev))).toEqual(before);
      expect(backend.engine).toBe('wasm (XNNPACK, SIMD, 1 thread)');
      expect(backend.threads).toBe(1);
    } finally {
      await backend.dispose();
    }
  });
});
