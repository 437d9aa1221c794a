/** An expert with no routed rows costs nothing: only the routed experts' GEMMs are dispatched (expertWork hook). */
import { sparseDispatch } from '@moe-runtime/core/testing';
import { describe, expect, it } from 'vitest';
import { createCpuBackend, type SimdMode } from '../src/index.js';

describe('sparsity on the cpu engines', () => {
  for (const [simd, threads] of [['none', 1], ['simd', 2], ['relaxed', 2]] as [SimdMode, number][]) {
    it(`dispatches only experts with rows, each over its own rows (simd: '${simd}', threads: ${threads})`, async () => {
      const backend = await createCpuBackend({ simd, threads });
      try {
        const r = await sparseDispatch(backend, { numExperts: 16 });
        expect([r.launched, r.computedRows, r.relL2 < 1e-5]).toEqual([r.routed, r.planRows, true]);
      } finally {
        await backend.dispose();
      }
    });
  }
});
