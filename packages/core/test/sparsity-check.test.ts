/** The sparsity check every backend runs (testing's sparseDispatch), on the test double: it passes, and it can fail. */
import { describe, expect, it } from 'vitest';
import { ExpertWorkCounter, type Backend, type PreparedExperts, type RoutingPlan } from '../src/index.js';
import { createTestBackend, sparseDispatch } from '../src/testing/index.js';

describe('sparseDispatch', () => {
  it('sees only the routed experts dispatched, with their rows, on a backend that skips empty experts', async () => {
    const r = await sparseDispatch(createTestBackend(), { numExperts: 8 });
    expect(r.routed.length).toBeLessThan(8);
    expect(r.launched).toEqual(r.routed);
    expect(r.computedRows).toEqual(r.planRows);
    expect(r.relL2).toBeLessThan(1e-6);
  });

  it('catches a backend that computes every expert and masks', async () => {
    const inner = createTestBackend();
    const work = new ExpertWorkCounter();
    const masking: Backend = {
      ...inner,
      expertWork: work,
      async runExperts(experts: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
        for (let e = 0; e < plan.numExperts; e++) work.record(e, plan.numTokens); // every expert over every token
        return inner.runExperts(experts, x, plan);
      },
    };
    const r = await sparseDispatch(masking, { numExperts: 8 });
    expect(r.launched).not.toEqual(r.routed);
    expect(r.computedRows).not.toEqual(r.planRows);
  });

  it('refuses a backend without the hook', async () => {
    await expect(sparseDispatch({ ...createTestBackend(), expertWork: undefined })).rejects.toThrow(/no expertWork test hook/);
  });
});
