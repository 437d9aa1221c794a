import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { parseScenario } from '../src/scenario.js';
import { defaultScenarioDir, loadScenarioFile, parseScenarioText, ScenarioFileError, scenarioFilesIn } from '../src/scenario-files.js';
import { captureIO, tempDir, TINY, writeScenario } from './helpers/io.js';

/** The field a ConfigError names when `value` is parsed. */
function fieldOf(value: unknown, knownBackends?: string[]): string {
  try {
    parseScenario(value, { knownBackends });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).field;
  }
  throw new Error('expected a ConfigError');
}

const withLayer = (patch: Record<string, unknown>): unknown => ({ ...TINY, layer: { ...TINY.layer, ...patch } });
const withRouter = (router: unknown): unknown => ({ ...TINY, layer: { ...TINY.layer, router } });

describe('scenario validation', () => {
  it('accepts a valid scenario and fills defaults', () => {
    const s = parseScenario({ name: 'x', layer: TINY.layer, tokens: [1, 4], seed: 3 });
    expect(s).toMatchObject({ name: 'x', weightDtype: 'float32', warmup: 1, repeats: 5, minRepeats: 3, referenceRows: 16, large: false });
    expect(s.tolerance).toEqual({ maxRelL2: 1e-5, tieTolerance: 1e-4 });
    // Half weights are decoded exactly and computed in float32: the same bound as float32 weights.
    expect(parseScenario({ ...TINY, weightDtype: 'bfloat16' }).tolerance.maxRelL2).toBe(1e-5);
    expect(parseScenario({ ...TINY, weightDtype: 'float16' }).tolerance.maxRelL2).toBe(1e-5);
  });

  it('names a missing field', () => {
    const { tokens: _t, ...noTokens } = TINY;
    expect(fieldOf(noTokens)).toBe('tokens');
    const { layer: _l, ...noLayer } = TINY;
    expect(fieldOf(noLayer)).toBe('layer');
    const { seed: _s, ...noSeed } = TINY;
    expect(fieldOf(noSeed)).toBe('seed');
    const { topK: _k, ...layer } = TINY.layer;
    expect(fieldOf({ ...TINY, layer })).toBe('layer.topK');
  });

  it('names a malformed field', () => {
    expect(fieldOf({ ...TINY, tokens: [1, 0] })).toBe('tokens[1]');
    expect(fieldOf({ ...TINY, tokens: 'many' })).toBe('tokens');
    expect(fieldOf({ ...TINY, repeats: 1.5 })).toBe('repeats');
    expect(fieldOf({ ...TINY, weightDtype: 'int8' })).toBe('weightDtype');
    expect(fieldOf({ ...TINY, tolerance: { maxRelL2: -1 } })).toBe('tolerance.maxRelL2');
    expect(fieldOf(withLayer({ topK: 9 }))).toBe('layer.topK');
    expect(fieldOf(withLayer({ expert: { kind: 'tanh', ffnSize: 8 } }))).toBe('layer.expert.kind');
    expect(fieldOf(withLayer({ sharedExperts: { ffnSize: 0 } }))).toBe('layer.sharedExperts.ffnSize');
    expect(fieldOf({ ...TINY, tokenz: [1] })).toBe('tokenz');
    expect(fieldOf(withLayer({ expert: { kind: 'relu', ffnSize: 8, size: 3 } }))).toBe('layer.expert.size');
    expect(fieldOf([TINY])).toBe('scenario');
  });

  it('rejects an unknown router, naming it and the registered ones', () => {
    try {
      parseScenario(withRouter({ name: 'no-such-router' }));
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).field).toBe('layer.router.name');
      expect((err as Error).message).toContain("'no-such-router'");
      expect((err as Error).message).toContain('topk-softmax');
    }
  });

  it("validates router options through the router's factory", () => {
    expect(fieldOf(withRouter({ name: 'topk-softmax', options: { renormalise: true } }))).toBe('layer.router.options.renormalise');
    expect(fieldOf(withRouter({ name: 'switch', options: { capacityFactor: -1 } }))).toBe('layer.router.options.capacityFactor');
    // switch routes each token to one expert: the factory rejects k = 2
    expect(fieldOf(withRouter({ name: 'switch' }))).toBe('layer.topK');
    const deepseek = { ...TINY, layer: { ...TINY.layer, numExperts: 8, router: { name: 'sigmoid-group-topk', options: { nGroup: 3, topkGroup: 1 } } } };
    expect(fieldOf(deepseek)).toMatch(/^layer\.router\.options\.nGroup$/);
  });

  it('rejects an unknown backend when the registry is known', () => {
    expect(fieldOf({ ...TINY, backends: ['cpu', 'quantum'] }, ['cpu', 'onnx'])).toBe('backends[1]');
    expect(fieldOf({ ...TINY, backends: [{ name: 'cpu', options: 3 }] }, ['cpu'])).toBe('backends[0].options');
    expect(parseScenario({ ...TINY, backends: ['cpu', { name: 'tfjs', options: { engine: 'cpu' } }] }, { knownBackends: ['cpu', 'tfjs'] }).backends).toEqual([
      'cpu',
      { name: 'tfjs', options: { engine: 'cpu' } },
    ]);
  });

  it('names the file and the field; malformed JSON fails at once', () => {
    expect(() => parseScenarioText('bad.json', '{ "name": "x", ')).toThrow(/bad\.json: \(json\): invalid JSON/);
    try {
      parseScenarioText('s.json', JSON.stringify({ ...TINY, seed: -1 }));
      throw new Error('expected a ScenarioFileError');
    } catch (err) {
      expect(err).toBeInstanceOf(ScenarioFileError);
      expect((err as ScenarioFileError).field).toBe('seed');
      expect((err as Error).message).toMatch(/^s\.json: seed: expected an integer >= 0/);
    }
  });

  it('ships valid scenarios, including the requested ones', () => {
    const files = scenarioFilesIn(defaultScenarioDir());
    const scenarios = files.map((f) => loadScenarioFile(f));
    const names = scenarios.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['mixtral-mini', 'switch', 'deepseek-mini', 'qwen-moe-mini', 'mixtral-8x7b-layer']));
    for (const [i, s] of scenarios.entries()) expect(s.name).toBe(basename(files[i], '.json'));
    expect(scenarios.find((s) => s.name === 'mixtral-8x7b-layer')?.large).toBe(true);
    expect(scenarios.filter((s) => s.large).map((s) => s.name)).toEqual(['mixtral-8x7b-layer']);
  });
});

describe('the CLI on an invalid scenario', () => {
  it('exits 2 with a message naming the file and field, before running anything', async () => {
    const dir = writeScenario(tempDir(), { ...TINY, layer: { ...TINY.layer, router: { name: 'topk-softmax', options: { k: 3 } } } });
    const io = captureIO();
    const code = await main(['-d', dir, 'tiny', '--no-progress'], io);
    expect(code).toBe(2);
    expect(io.err()).toContain(`${join(dir, 'tiny.json')}: layer.router.options.k: unknown option`);
    expect(io.out()).toBe('');
  });

  it('exits 2 on malformed JSON, an unknown scenario and an unknown backend', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'broken.json'), '{"name": "broken", "layer": ');
    let io = captureIO();
    expect(await main(['-d', dir, 'broken'], io)).toBe(2);
    expect(io.err()).toContain('broken.json: (json): invalid JSON');
    io = captureIO();
    expect(await main(['-d', dir, 'nope'], io)).toBe(2);
    expect(io.err()).toContain("unknown scenario 'nope'");
    writeScenario(dir, TINY);
    io = captureIO();
    expect(await main(['-d', dir, 'tiny', '-b', 'warp-drive'], io)).toBe(2);
    expect(io.err()).toContain("backends[0]: unknown backend 'warp-drive'");
    io = captureIO();
    expect(await main(['-d', dir, 'tiny', '--compare', join(dir, 'missing.json')], io)).toBe(2);
    expect(io.err()).toContain('cannot read results file');
    expect(io.out()).toBe('');
    io = captureIO();
    expect(await main(['-d', dir, 'tiny', '--repeats', 'lots'], io)).toBe(2);
    expect(io.err()).toContain('repeats');
  });
});

describe('the CLI refuses what would hang or crash later', () => {
  it('exits 2 naming the field when a scenario cannot fit in memory (a typo like hiddenSize 1e9 or T=1e12)', async () => {
    const dir = writeScenario(tempDir(), { ...TINY, layer: { ...TINY.layer, hiddenSize: 1e9 } });
    let io = captureIO();
    expect(await main(['-d', dir, 'tiny', '-b', 'cpu', '--no-progress'], io)).toBe(2);
    expect(io.err()).toMatch(/moe-bench: layer: scenario 'tiny' needs about [\d.e+]+ GiB for its layer \(hiddenSize 1000000000, ffnSize 48, 4 experts\); this machine has [\d.]+ GiB: expected a smaller layer/);
    expect(io.out()).toBe('');
    writeScenario(dir, TINY);
    io = captureIO();
    expect(await main(['-d', dir, 'tiny', '-b', 'cpu', '-t', '1000000000000', '--no-progress'], io)).toBe(2);
    expect(io.err()).toMatch(/moe-bench: tokens: scenario 'tiny' needs about .* GiB for T=1000000000000 tokens of hiddenSize 32; .*expected a smaller tokens/);
    expect(io.out()).toBe('');
  });

  it('exits 2 on repeated token counts, an empty backend list and a results file that is not an object', async () => {
    const dir = writeScenario(tempDir(), TINY);
    let io = captureIO();
    expect(await main(['-d', dir, 'tiny', '-t', '1,4,1'], io)).toBe(2);
    expect(io.err()).toContain("expected distinct token counts, got '1,4,1'");
    io = captureIO();
    expect(await main(['-d', dir, 'tiny', '-b', ' , '], io)).toBe(2);
    expect(io.err()).toContain("expected at least one backend name, got ' , '");
    writeFileSync(join(dir, 'null.json'), 'null');
    io = captureIO();
    expect(await main(['-d', dir, 'tiny', '--compare', join(dir, 'null.json')], io)).toBe(2);
    expect(io.err()).toContain('null.json is not a moe-bench results file (expected a JSON object with a "records" array)');
    expect(io.out()).toBe('');
  });

  it('exits 2 before running when an output file cannot be written, naming the flag', async () => {
    const dir = writeScenario(tempDir(), TINY);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    let io = captureIO();
    expect(await main(['-d', dir, 'tiny', '--json', join(file, 'out.json')], io)).toBe(2);
    expect(io.err()).toContain(`moe-bench: json: cannot write ${join(file, 'out.json')}: ${file} is a file, not a folder`);
    expect(io.out()).toBe('');
    io = captureIO();
    expect(await main(['-d', dir, 'tiny', '--html', dir], io)).toBe(2);
    expect(io.err()).toContain(`moe-bench: html: ${dir} is a folder; expected a file path`);
    expect(io.out()).toBe('');
  });
});
