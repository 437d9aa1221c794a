import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import '@moe-runtime/backend-cpu';
import { BackendUnavailableError, ConfigError, createRouter, disposeAllBackends, getRouterDefinition, loadBackendPackage } from '@moe-runtime/core';
import { formatResult, loadBackend, registerTopPRouter, runExample } from '../src/index.js';

afterAll(() => disposeAllBackends());

const route = (options: Record<string, unknown>, probs: number[][], topK = 3) => {
  registerTopPRouter();
  const e = probs[0].length;
  const d = createRouter({ name: 'top-p', options }, { numExperts: e, topK, params: {} }).route({
    logits: Float64Array.from(probs.flat().map(Math.log)),
    numTokens: probs.length,
    numExperts: e,
  });
  return probs.map((_, t) =>
    [...d.token.keys()]
      .filter((a) => d.token[a] === t)
      .map((a) => `${d.expert[a]}:${d.weight[a].toFixed(3)}`)
      .join(' '),
  );
};

describe('the top-p router (user code)', () => {
  it('takes the fewest experts covering topP, renormalised, by hand', () => {
    // token 0: .7 alone covers .6 -> one expert, weight 1; token 1: .4 + .3 = .7 >= .6 -> two
    // experts .4/.7, .3/.7; token 2: exact tie .25 x 4, capped at 3 experts, lower ids first.
    expect(route({ topP: 0.6 }, [[0.7, 0.1, 0.1, 0.1], [0.1, 0.4, 0.2, 0.3], [0.25, 0.25, 0.25, 0.25]])).toEqual([
      '0:1.000',
      '1:0.571 3:0.429',
      '0:0.333 1:0.333 2:0.333',
    ]);
    expect(route({ topP: 1, maxExperts: 1 }, [[0.1, 0.4, 0.2, 0.3]])).toEqual(['1:1.000']);
  });

  it('is registered with a description and validates its options', () => {
    registerTopPRouter();
    expect(getRouterDefinition('top-p').description).toMatch(/nucleus/);
    expect(() => route({ topP: 1.5 }, [[0.5, 0.5]])).toThrow(/router\.options\.topP/);
    expect(() => route({ topP: 0.5, maxExperts: 3 }, [[0.5, 0.5]])).toThrow(ConfigError);
    expect(() => route({ p: 0.5 }, [[0.5, 0.5]])).toThrow(/router\.options\.p: unknown option/);
  });
});

describe('the example end to end', () => {
  it('runs a top-p layer on the cpu backend and matches the float64 reference', async () => {
    const r = await runExample('cpu', 32);
    expect(r.backend).toBe('cpu');
    expect(r.check.failures).toEqual([]);
    expect(r.check.passed).toBe(true);
    expect(r.stats.numTokens).toBe(32);
    // a variable number of experts per token, between 1 and topK, really happens here
    const counts = r.expertsPerToken.flatMap((c, n) => (c ? [n] : []));
    expect(counts.length).toBeGreaterThan(1);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...counts)).toBeLessThanOrEqual(4);
    expect(r.expertsPerToken.reduce((s, c) => s + c, 0)).toBe(32);
    expect(formatResult(r)).toMatch(/PASS/);
  });

  // The same example, unchanged, on every other backend package it depends on. Skipped only
  // where the package is not installed; one that is installed but fails to load or to start
  // fails the test with its reason.
  it.for(['gpujs', 'onnx', 'tfjs'])('runs unchanged on backend %s (skipped only when its package is not installed)', async (name, { skip }) => {
    const load = await loadBackendPackage(name, (specifier) => import(specifier));
    if (load.status === 'absent') skip(load.reason);
    const r = await runExample(name, 16);
    expect(r.backend).toBe(name);
    expect(r.check.failures).toEqual([]);
    expect(r.check.routingAgreement).toBe(1);
  });

  it('names the registered backends when asked for one that does not exist', async () => {
    const err = await runExample('no-such-backend', 4).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/no-such-backend \(unknown backend 'no-such-backend'; registered: .*'cpu'/);
  });

  const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  // The test task builds the package first (turbo.json), so a missing dist/main.js is a failure.
  it('runs as a program (`pnpm start`) and prints the stats and the check', async () => {
    expect(existsSync(main), `${main} is missing: build the package first`).toBe(true);
    const { stdout } = await promisify(execFile)(process.execPath, [main, 'cpu'], { timeout: 60_000 });
    expect(stdout).toMatch(/backend cpu/);
    expect(stdout).toMatch(/tokens per expert \[/);
    expect(stdout).toMatch(/float64 reference: rel-L2 .* PASS/);
  });
});

describe('loading a backend package by name', () => {
  it('reports a package that exists but fails to load, instead of calling the backend unknown', async () => {
    const broken = async (): Promise<unknown> => {
      throw new Error('libonnxruntime.so.1: cannot open shared object file');
    };
    const err = await loadBackend('onnx', broken).catch((e: unknown) => e);
    // a BackendUnavailableError with the real reason (the per-backend tests above then fail, not skip)
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/onnx \(@moe-runtime\/backend-onnx failed to load: libonnxruntime\.so\.1/);
    const missing = async (): Promise<unknown> => {
      throw Object.assign(new Error("Cannot find package '@moe-runtime/backend-tfjs' imported from /app/x.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    };
    await expect(loadBackend('tfjs', missing)).resolves.toBeUndefined();
    await expect(loadBackend('no-such-backend')).resolves.toBeUndefined();
  });
});
