/** An expert with no routed rows costs nothing: only the routed experts' FFNs are dispatched (expertWork hook). */
import { sparseDispatch } from '@moe-runtime/core/testing';
import { describe, expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';

describe('sparsity on the tfjs wasm engine', () => {
  it('dispatches only experts with rows, each over its own rows', async () => {
    const backend = await TfjsBackend.create({ engine: 'wasm' });
    try {
      const r = await sparseDispatch(backend, { numExperts: 16, kind: 'gelu' });
      expect([r.launched, r.computedRows, r.relL2 < 1e-5]).toEqual([r.routed, r.planRows, true]);
    } finally {
      await backend.dispose();
    }
  });
});
