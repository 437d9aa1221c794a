import { disposeAllBackends, getBackend, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/index.js';
import { itPassesLayerCases } from './layer-cases.js';

for (const [simd, threads] of [
  ['relaxed', 2],
  ['simd', 1],
  ['simd', 3],
] as const) {
  describe(`WebAssembly engine (simd: '${simd}', threads: ${threads})`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await getBackend({ name: 'cpu', options: { simd, threads } });
    });
    afterAll(() => disposeAllBackends());
    it('reports what runs', () => {
      expect(backend.engine).toBe(`wasm-${simd === 'relaxed' ? 'relaxed-simd' : 'simd'} x${threads}`);
      expect(backend.threads).toBe(threads);
    });
    itPassesLayerCases(() => backend, 2000 + threads);
  });
}
