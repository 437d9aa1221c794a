import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerBackend, unregisterBackend, type Backend, type PreparedLinear } from '@moe-runtime/core';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import type { BenchResults } from '../src/record.js';
import { Workload } from '../src/workload.js';
import { parseScenario } from '../src/scenario.js';
import { captureIO, tempDir, TINY, writeScenario } from './helpers/io.js';
import { createTestBackend } from '@moe-runtime/core/testing';

/** Inputs each spy backend's linear layers saw, keyed by backend name: the first row of every call. */
const seen = new Map<string, { rows: number; out: number; first: number[] }[]>();

/** A correct double that records every input batch its linear layers (the routers) receive. */
function spy(name: string): Backend {
  const inner = createTestBackend({ name });
  return {
    ...inner,
    async linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array> {
      const list = seen.get(name) ?? [];
      list.push({ rows, out: layer.outFeatures, first: Array.from(x.subarray(0, layer.inFeatures)) });
      seen.set(name, list);
      return inner.linear(layer, x, rows);
    },
  };
}

for (const name of ['spy-a', 'spy-b']) registerBackend(name, { priority: -100, description: 'test spy', create: async () => spy(name) });
afterAll(() => ['spy-a', 'spy-b'].forEach((n) => unregisterBackend(n)));

describe('decode is measured cold: a fresh seeded input every pass', () => {
  it('feeds every warm-up and timed pass its own input, the same on every backend, and re-runs only the first timed one', async () => {
    const scenario = { ...TINY, tokens: [1], warmup: 2, repeats: 3, minRepeats: 3 };
    const dir = writeScenario(tempDir(), scenario);
    const json = join(dir, 'out.json');
    const io = captureIO();
    const code = await main(['-d', dir, 'tiny', '-b', 'spy-a,spy-b', '--json', json, '--no-progress', '--no-bandwidth'], io);
    expect(code, io.out() + io.err()).toBe(0);
    const results = JSON.parse(readFileSync(json, 'utf8')) as BenchResults;
    expect(results.records.every((r) => r.passed)).toBe(true);
    // The MoE router has E outputs, the dense router one: keep the MoE layer's calls.
    const moeInputs = (name: string): string[] => (seen.get(name) ?? []).filter((c) => c.out === TINY.layer.numExperts).map((c) => c.first.join(','));
    const a = moeInputs('spy-a');
    const [r] = results.records;
    const warm = r.warmup ?? NaN;
    expect(warm).toBeGreaterThanOrEqual(2);
    // warm-up passes + 3 timed + 1 re-run of the first timed input, all distinct but the re-run
    expect(a).toHaveLength(warm + 3 + 1);
    expect(new Set(a.slice(0, warm + 3)).size).toBe(warm + 3);
    expect(a[warm + 3]).toBe(a[warm]);
    expect(moeInputs('spy-b')).toEqual(a);
    // The dense equivalent sees the same input as the MoE layer in each pass.
    const dense = (seen.get('spy-a') ?? []).filter((c) => c.out === 1).map((c) => c.first.join(','));
    expect(dense).toEqual(a);
    expect(r.outputs_checked).toBe(2 * (warm + 3));
    expect(r.repeat_drift).toBe(0);
  });
});

describe('warm-up primes every expert', () => {
  it('goes on past the warm-up count until every routed expert ran once, so no first use is timed', async () => {
    const scenario = { ...TINY, layer: { ...TINY.layer, numExperts: 8, topK: 1 }, tokens: [1], warmup: 1, repeats: 2 };
    const dir = writeScenario(tempDir(), scenario);
    const json = join(dir, 'out.json');
    const code = await main(['-d', dir, 'tiny', '-b', 'spy-a', '--json', json, '--no-progress', '--no-bandwidth'], captureIO());
    expect(code).toBe(0);
    const [r] = (JSON.parse(readFileSync(json, 'utf8')) as BenchResults).records;
    // one token, one expert per pass: at least 8 passes to reach all 8
    expect(r.warmup).toBeGreaterThanOrEqual(8);
    expect(r.warmup_expert_coverage).toBe(1);
  });
});

describe('Workload passes', () => {
  const s = parseScenario(TINY);

  it('draws a distinct seeded input and token ids per (T, pass), reproducibly and once', () => {
    const w = new Workload(s);
    const p0 = w.pass(1, 0);
    const p1 = w.pass(1, 1);
    expect(Array.from(p0.x.data)).not.toEqual(Array.from(p1.x.data));
    expect(w.pass(1, 0)).toBe(p0);
    const again = new Workload(s).pass(1, 1);
    expect(Array.from(again.x.data)).toEqual(Array.from(p1.x.data));
    expect(Array.from(again.tokenIds)).toEqual(Array.from(p1.tokenIds));
    // T=7 pass 0 is not T=1 pass 0 extended: the streams do not share a prefix.
    expect(w.pass(7, 0).x.data[0]).not.toBe(p0.x.data[0]);
    const ids = new Set(Array.from({ length: 20 }, (_, i) => w.pass(1, i).tokenIds[0]));
    expect(ids.size).toBeGreaterThan(15);
  });

  it('routes fresh single tokens over many experts, not one', () => {
    const wide = parseScenario({ ...TINY, layer: { ...TINY.layer, numExperts: 8, topK: 1 } });
    const w = new Workload(wide);
    const experts = new Set(Array.from({ length: 40 }, (_, i) => firstExpert(w.pass(1, i).moe.plan.expertOffsets)));
    expect(experts.size).toBeGreaterThanOrEqual(5);
  });
});

/** The expert of a one-row plan: the e whose offsets range holds row 0. */
function firstExpert(offsets: ArrayLike<number>): number {
  let e = 0;
  while (offsets[e + 1] <= 0) e++;
  return e;
}
