import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import type { BenchResults } from '../src/record.js';
import { captureIO, tempDir, TINY, writeScenario } from './helpers/io.js';
import { registerTestBackend } from '@moe-runtime/core/testing';

// Test doubles registered only in this test: a correct one, one that scales its outputs by
// 1e-3, and one that permutes the router logits (so it routes tokens to other experts).
const cleanup = [
  registerTestBackend('naive'),
  registerTestBackend('perturbed', { faults: { perturb: 1e-3 } }),
  registerTestBackend('misrouting', { faults: { reverseLogits: true } }),
  // T=7 with referenceRows 4: the first output is checked on rows 0, 2, 4, 6 only.
  registerTestBackend('nan-row', { faults: { nanRow: 5 } }),
  registerTestBackend('right-on-sample', { faults: { wrongRows: [1, 3, 5] } }),
];
afterAll(() => cleanup.forEach((f) => f()));

async function runOn(backend: string): Promise<{ code: number; results: BenchResults; out: string }> {
  const dir = writeScenario(tempDir(), TINY);
  const json = join(dir, 'out.json');
  const io = captureIO();
  const code = await main(['-d', dir, 'tiny', '-b', backend, '--json', json, '--no-progress', '--no-bandwidth'], io);
  return { code, results: JSON.parse(readFileSync(json, 'utf8')) as BenchResults, out: io.out() };
}

describe('cross-validation catches a broken backend', () => {
  it('passes the correct double (so the failures below are the faults, not the harness)', async () => {
    const { code, results } = await runOn('naive');
    expect(code).toBe(0);
    expect(results.records.every((r) => r.passed)).toBe(true);
  });

  it('fails a backend whose outputs are off by 0.1%, whatever its speed, and exits non-zero', async () => {
    const { code, results, out } = await runOn('perturbed');
    expect(code).toBe(1);
    expect(results.passed).toBe(false);
    for (const r of results.records) {
      expect(r.passed).toBe(false);
      expect(r.rel_l2_err).toBeGreaterThan(1e-4);
      expect(Number.isFinite(r.p50_ms)).toBe(true);
      expect(r.failures.join(' ')).toMatch(/relative L2 error .* exceeds/);
    }
    expect(out).toMatch(/FAIL/);
    expect(out).toMatch(/FAILED tiny perturbed T=1: moe: relative L2 error/);
    expect(out).toMatch(/case\(s\) FAILED cross-validation/);
  });

  it('fails a backend that routes tokens to other experts', async () => {
    const { code, results } = await runOn('misrouting');
    expect(code).toBe(1);
    const t7 = results.records.find((r) => r.tokens === 7)!;
    expect(t7.passed).toBe(false);
    expect(t7.routing_agreement).toBeLessThan(1);
    expect(t7.failures.join(' ')).toMatch(/routing differs/);
  });

  it('fails the whole run when one of several backends is broken', async () => {
    const { code, results } = await runOn('naive,perturbed');
    expect(code).toBe(1);
    expect(results.records.filter((r) => r.passed).map((r) => r.backend)).toEqual(['naive', 'naive']);
  });

  it('fails a backend that writes NaN into a row outside the first sample', async () => {
    const { code, results } = await runOn('nan-row');
    expect(code).toBe(1);
    const t7 = results.records.find((r) => r.tokens === 7)!;
    expect(t7.passed).toBe(false);
    expect(t7.failures.join(' ')).toMatch(/non-finite/);
    expect(results.records.find((r) => r.tokens === 1)!.passed).toBe(true);
  });

  it('fails a backend that is right only on the rows of the first sample', async () => {
    const { code, results } = await runOn('right-on-sample');
    expect(code).toBe(1);
    const t7 = results.records.find((r) => r.tokens === 7)!;
    expect(t7.passed).toBe(false);
    expect(t7.rel_l2_err).toBeGreaterThan(1e-3);
    expect(t7.failures.join(' ')).toMatch(/moe: relative L2 error .* exceeds/);
  });
});

describe('huge counts in a scenario stay within its time budget', () => {
  it('stops a warm-up of 1e9 passes on the budget and records the passes run', async () => {
    const dir = writeScenario(tempDir(), { ...TINY, tokens: [1], warmup: 1e9, repeats: 1e9, minRepeats: 1, budgetSeconds: 0.2 });
    const json = join(dir, 'out.json');
    const io = captureIO();
    const t0 = performance.now();
    const code = await main(['-d', dir, 'tiny', '-b', 'naive', '--json', json, '--no-progress', '--no-bandwidth'], io);
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(code, io.out() + io.err()).toBe(0);
    const [r] = (JSON.parse(readFileSync(json, 'utf8')) as BenchResults).records;
    expect(r.passed).toBe(true);
    expect(r.warmup).toBeGreaterThanOrEqual(1);
    expect(r.warmup).toBeLessThan(1e9);
    expect(r.outputs_checked).toBe(2 * ((r.warmup ?? 0) + (r.repeats ?? 0)));
  });
});
