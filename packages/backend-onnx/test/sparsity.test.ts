/**
 * An expert with no routed rows costs nothing: only routed experts' rows are computed, and
 * (past AUTO_GROUPED_MAX_EXPERTS under the default layout) only routed experts are run at all.
 */
import { sparseDispatch } from '@moe-runtime/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTO_GROUPED_MAX_EXPERTS, OnnxBackend } from '../src/index.js';

const made: OnnxBackend[] = [];
const backend = async (expertGraph?: 'grouped' | 'per-expert') => {
  const b = await OnnxBackend.create({ intraOpThreads: 1, expertGraph });
  made.push(b);
  return b;
};
afterAll(async () => Promise.all(made.map((b) => b.dispose())));

describe('sparsity on the onnx backend', () => {
  it.each([undefined, 'per-expert'] as const)('runs only the routed experts, each over its own rows (layout %s, E=16)', async (layout) => {
    const r = await sparseDispatch(await backend(layout), { numExperts: 2 * AUTO_GROUPED_MAX_EXPERTS });
    expect([r.launched, r.computedRows, r.relL2 < 1e-5]).toEqual([r.routed, r.planRows, true]);
  });

  it('the grouped graph (the default up to 8 experts) feeds unrouted experts no rows, but runs their subgraphs', async () => {
    const r = await sparseDispatch(await backend('grouped'), { numExperts: AUTO_GROUPED_MAX_EXPERTS });
    expect([r.computedRows, r.relL2 < 1e-5]).toEqual([r.planRows, true]);
    expect(r.launched).toEqual([...Array(AUTO_GROUPED_MAX_EXPERTS).keys()]);
  });
});
