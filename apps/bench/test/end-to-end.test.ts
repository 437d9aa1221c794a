import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bandwidthFor } from '../src/bandwidth.js';
import { main } from '../src/main.js';
import { RECORD_FIELDS, type BenchResults } from '../src/record.js';
import { parseScenario } from '../src/scenario.js';
import { passWeightBytes, workingSetBytes } from '../src/weight-traffic.js';
import { captureIO, tempDir, TINY, writeScenario } from './helpers/io.js';

describe('a tiny scenario end to end on every available backend', () => {
  it('writes a record per (backend, engine, T) with the promised fields, all cross-validated', async () => {
    const dir = writeScenario(tempDir(), TINY);
    const json = join(dir, 'out.json');
    const html = join(dir, 'out.html');
    const io = captureIO();
    const code = await main(['-d', dir, 'tiny', '--json', json, '--html', html, '--no-progress'], io);
    const results = JSON.parse(readFileSync(json, 'utf8')) as BenchResults;
    const layer = parseScenario(TINY).layer;
    const ran = [...new Set(results.records.map((r) => r.backend))];
    // Every registered backend either ran or is listed as skipped with its reason.
    for (const s of results.skipped) expect(s.reason.length).toBeGreaterThan(0);
    expect(ran.length).toBeGreaterThan(0);
    expect(code, io.out() + io.err()).toBe(0);
    expect(results.passed).toBe(true);
    expect(results.records).toHaveLength(ran.length * TINY.tokens.length);
    for (const r of results.records) {
      for (const f of RECORD_FIELDS) expect(r, `${r.backend} T=${r.tokens} lacks ${f}`).toHaveProperty(f);
      expect(r.passed, `${r.backend} T=${r.tokens}: ${r.failures.join('; ')}`).toBe(true);
      expect(r.rel_l2_err).toBeLessThanOrEqual(1e-5);
      expect(r.routing_agreement).toBe(1);
      expect(r.p50_ms).toBeGreaterThan(0);
      expect(r.dense_p50_ms).toBeGreaterThan(0);
      expect(r.ratio_vs_dense).toBeCloseTo(r.p50_ms / r.dense_p50_ms, 10);
      expect(r.tokens_per_s).toBeCloseTo((r.tokens * 1000) / r.p50_ms, 6);
      // warm-up (until every expert ran once) + repeats, MoE and dense: every output checked
      expect(r.warmup).toBeGreaterThanOrEqual(TINY.warmup);
      expect(r.warmup_expert_coverage).toBe(1);
      expect(r.outputs_checked).toBe(2 * ((r.warmup ?? NaN) + (r.repeats ?? 0)));
      expect(r.rows_checked).toBe(Math.min(r.tokens, TINY.referenceRows));
      // 3 MoE outputs, each on the 4-row sample shifted by one: all 7 rows of T=7 are covered
      expect(r.rows_covered).toBe(r.tokens);
      // weight traffic: the experts touched (mean over timed passes) plus router, as float32
      expect(r.weight_bytes).toBe(Math.round(passWeightBytes(layer, r.experts_touched ?? NaN)));
      expect(r.weight_gbps).toBeCloseTo((r.weight_bytes ?? NaN) / (r.p50_ms * 1e6), 6);
      const bw = bandwidthFor(results.bandwidth, r.threads)!;
      expect(r.bandwidth_share).toBeCloseTo((r.weight_gbps ?? NaN) / bw.medianGbps, 10);
      expect(r.dense_bandwidth_share).toBeGreaterThan(0);
      expect(r.repeat_drift).toBeLessThanOrEqual(1e-5);
    }
    expect(results.bandwidth!.figures.map((f) => f.threads).slice(0, 2)).toEqual([1, 2]);
    expect(results.scenarios[0].workingSetBytes).toBe(workingSetBytes(layer, 'float32'));
    expect(results.evictBytes).toBeGreaterThan(0);
    expect(io.out()).toMatch(/Read bandwidth measured in this run .*1 thread [\d.]+ GB\/s/);
    expect(results.machine.node).toBe(process.version);
    expect(results.machine.packages['@moe-runtime/core']).toBeDefined();
    expect(results.machine.packages['@moe-runtime/bench']).toBeDefined();
    expect(io.out()).toContain('p50 ms');
    expect(io.out()).toContain(`HTML report: ${html}`);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page).toContain('Cross-validation against the float64 reference');
    // self-contained: nothing is fetched at view time
    expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+href=|url\(http/);
  });
});
