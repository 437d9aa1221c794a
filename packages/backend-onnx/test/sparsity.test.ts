/**
 * An expert with no routed rows costs nothing: only routed experts' rows are computed; with
 * one session per expert only routed experts run, and under the default layout only the graphs
 * (of DEFAULT_EXPERTS_PER_GRAPH experts) that hold a routed expert run.
 */
import { sparseDispatch } from '@moe-runtime/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXPERTS_PER_GRAPH, OnnxBackend, type OnnxBackendOptions } from '../src/index.js';

const made: OnnxBackend[] = [];
const backend = async (options: OnnxBackendOptions = {}) => {
  const b = await OnnxBackend.create({ intraOpThreads: 1, ...options });
  made.push(b);
  return b;
};
afterAll(async () => Promise.all(made.map((b) => b.dispose())));

const G = DEFAULT_EXPERTS_PER_GRAPH;
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('sparsity on the onnx backend', () => {
  it('one session per expert runs only the routed experts, each over its own rows (E=16)', async () => {
    const r = await sparseDispatch(await backend({ expertGraph: 'per-expert' }), { numExperts: 16 });
    expect([r.launched, r.computedRows, r.relL2 < 1e-5]).toEqual([r.routed, r.planRows, true]);
  });

  it('the default runs only the graphs holding a routed expert (E=4G: experts 1, 4G-3, 4G-1 -> graphs 0 and 3)', async () => {
    const r = await sparseDispatch(await backend(), { numExperts: 4 * G });
    expect(r.routed).toEqual([1, 4 * G - 3, 4 * G - 1]);
    expect([r.computedRows, r.relL2 < 1e-5]).toEqual([r.planRows, true]);
    expect(r.launched).toEqual([...range(0, G), ...range(3 * G, 4 * G)]);
  });

  it('expertsPerGraph 2 narrows the graphs that run (negative control: the same plan with one grouped graph runs all experts)', async () => {
    const r = await sparseDispatch(await backend({ expertsPerGraph: 2 }), { numExperts: 4 * G });
    expect(r.launched).toEqual([0, 1, 4 * G - 4, 4 * G - 3, 4 * G - 2, 4 * G - 1]);
    const all = await sparseDispatch(await backend({ expertGraph: 'grouped' }), { numExperts: 4 * G });
    expect([all.launched, all.computedRows, all.relL2 < 1e-5]).toEqual([range(0, 4 * G), all.planRows, true]);
  });

  it('one grouped graph (the default up to G experts) feeds unrouted experts no rows, but runs their FFNs', async () => {
    const r = await sparseDispatch(await backend(), { numExperts: G });
    expect([r.computedRows, r.relL2 < 1e-5]).toEqual([r.planRows, true]);
    expect(r.launched).toEqual(range(0, G));
  });
});
