import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareResults, readResults, renderComparison } from '../src/compare.js';
import { colorsFor } from '../src/colors.js';
import { renderHtml } from '../src/html-report.js';
import { renderMarkdown } from '../src/markdown.js';
import { toJson } from '../src/main.js';
import type { BenchRecord, BenchResults } from '../src/record.js';
import { quantile, summarize } from '../src/stats.js';
import { parseBackendSpec } from '../src/backends.js';
import { tempDir } from './helpers/io.js';

function record(patch: Partial<BenchRecord>): BenchRecord {
  return {
    scenario: 's',
    backend: 'cpu',
    engine: 'e',
    tokens: 16,
    p50_ms: 10,
    p95_ms: 12,
    tokens_per_s: 1600,
    gflops: 5,
    dense_p50_ms: 9,
    ratio_vs_dense: 10 / 9,
    rel_l2_err: 1e-7,
    max_abs_err: 1e-6,
    routing_agreement: 1,
    near_ties: 0,
    passed: true,
    backend_label: 'cpu',
    weight_dtype: 'float32',
    failures: [],
    ...patch,
  };
}

function results(records: BenchRecord[]): BenchResults {
  return {
    schema: 'moe-bench/1',
    createdAt: '2026-11-23T00:00:00Z',
    durationS: 1,
    machine: { cpuModel: 'cpu', cores: 2, availableParallelism: 2, totalMemoryGb: 1, platform: 'linux', node: 'v20', loadAverageAtStart: 0, packages: {} },
    loadAverageAtEnd: 0,
    scenarios: [],
    skipped: [{ backend: 'gpujs', reason: 'no adapter' }],
    records,
    passed: records.every((r) => r.passed),
  };
}

const plain = colorsFor({ isTTY: false }, {});

describe('--compare', () => {
  it('flags a slower case as a regression and a faster one as an improvement', () => {
    const old = results([record({}), record({ tokens: 1, p50_ms: 2 }), record({ tokens: 256 })]);
    const now = results([record({ p50_ms: 13 }), record({ tokens: 1, p50_ms: 1.5 }), record({ tokens: 64 })]);
    const cmp = compareResults(old, now, 0.1);
    expect(cmp.changes.map((c) => [c.now.tokens, c.verdict])).toEqual([
      [16, 'regression'],
      [1, 'improvement'],
    ]);
    expect(cmp.changes[0].p50Change).toBeCloseTo(0.3, 10);
    expect(cmp.regressions).toBe(1);
    expect(cmp.onlyOld).toEqual(['s | cpu | e | T=256']);
    expect(cmp.onlyNew).toEqual(['s | cpu | e | T=64']);
    const text = renderComparison(cmp, plain, 'old.json');
    expect(text).toContain('+30.0%');
    expect(text).toContain('-25.0%');
    expect(text).toContain('1 regression(s)');
  });

  it('counts a case that stopped passing as a regression; reads files written by --json', () => {
    const file = join(tempDir(), 'old.json');
    writeFileSync(file, toJson(results([record({})])));
    const old = readResults(file);
    const cmp = compareResults(old, results([record({ passed: false })]));
    expect(cmp.regressions).toBe(1);
    const bad = join(tempDir(), 'bad.json');
    writeFileSync(bad, JSON.stringify({ records: [{ scenario: 's' }] }));
    expect(() => readResults(bad)).toThrow(/records\[0\] lacks the field 'backend'/);
  });

  it('writes NaN as null and reads it back as NaN', () => {
    const file = join(tempDir(), 'nan.json');
    writeFileSync(file, toJson(results([record({ p50_ms: NaN, passed: false })])));
    expect(readResults(file).records[0].p50_ms).toBeNaN();
  });
});

describe('HTML report', () => {
  it('is self-contained, with charts and the cross-validation table; failures in red', () => {
    const html = renderHtml(results([record({ tokens: 1 }), record({}), record({ backend: 'onnx', backend_label: 'onnx', passed: false, failures: ['moe: relative L2 error 1e-3 exceeds 1e-5'] })]));
    expect(html.match(/<svg/g)?.length).toBe(2);
    expect(html).toContain('<polyline');
    expect(html).toContain('Cross-validation against the float64 reference');
    expect(html).toContain('class="fail"');
    expect(html).toContain('relative L2 error 1e-3 exceeds 1e-5');
    expect(html).toContain('no adapter');
    expect(html).not.toMatch(/<script|<link|@import|url\(/);
  });
});

describe('Markdown summary', () => {
  it('pivots backends into columns and marks failures', () => {
    const md = renderMarkdown(results([record({ tokens: 1, p50_ms: 2 }), record({}), record({ backend: 'onnx', backend_label: 'onnx', engine: 'ort', passed: false })]));
    expect(md).toContain('| scenario | T | cpu | onnx |');
    expect(md).toContain('| s | 1 | 2.00 (1.11x) | - |');
    expect(md).toContain('| s | 16 | 10.00 (1.11x) | 10.00 (1.11x) **FAIL** |');
    expect(md).toContain('Engines: cpu = e; onnx = ort.');
    expect(md).toContain('2 of 3 cases passed');
  });
});

describe('helpers', () => {
  it('summarizes timings with interpolated quantiles', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    const s = summarize([5, 1, 3, 2, 4]);
    expect(s).toMatchObject({ count: 5, p50: 3, min: 1, max: 5, mean: 3 });
    expect(s.p95).toBeCloseTo(4.8, 10);
    expect(summarize([]).p50).toBeNaN();
  });

  it('parses backend specs with options', () => {
    expect(parseBackendSpec('cpu')).toBe('cpu');
    expect(parseBackendSpec('tfjs:engine=cpu')).toEqual({ name: 'tfjs', options: { engine: 'cpu' } });
    expect(parseBackendSpec('cpu:threads=1:kernel=js')).toEqual({ name: 'cpu', options: { threads: 1, kernel: 'js' } });
    expect(() => parseBackendSpec('cpu:threads')).toThrow(/key=value/);
  });
});
