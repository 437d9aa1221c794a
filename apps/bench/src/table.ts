/** The terminal table of a run (cli-table3), failures in red whatever the speed. */
import Table from 'cli-table3';
import type { Colors } from './colors.js';
import { fmtErr, fmtMs, fmtPct, fmtRate, fmtRatio, fmtShare } from './format.js';
import { bandwidthSentence, cacheWarnings } from './memory-figures.js';
import type { BenchRecord, BenchResults } from './record.js';

const HEAD = ['scenario', 'backend', 'engine', 'T', 'p50 ms', 'p95 ms', 'tok/s', 'GFLOP/s', 'dense p50', 'MoE/dense', 'GB/s', '% bw', 'rel L2', 'max abs', 'routing', 'check'];

function row(r: BenchRecord, c: Colors): string[] {
  const check = r.passed ? c.green('pass') : c.red(c.bold('FAIL'));
  const paint = (s: string): string => (r.passed ? s : c.red(s));
  const routing = `${fmtPct(r.routing_agreement)}${r.near_ties ? ` (${r.near_ties} tie${r.near_ties > 1 ? 's' : ''})` : ''}`;
  return [
    r.scenario,
    r.backend_label,
    r.engine,
    String(r.tokens),
    fmtMs(r.p50_ms),
    fmtMs(r.p95_ms),
    fmtRate(r.tokens_per_s),
    fmtRate(r.gflops),
    fmtMs(r.dense_p50_ms),
    fmtRatio(r.ratio_vs_dense),
    fmtRate(r.weight_gbps ?? NaN),
    fmtShare(r.bandwidth_share),
    paint(fmtErr(r.rel_l2_err)),
    paint(fmtErr(r.max_abs_err)),
    paint(routing),
    check,
  ];
}

/** Renders the results table, the read bandwidth, then the skipped backends and every failure. */
export function renderTable(results: BenchResults, c: Colors): string {
  const table = new Table({
    head: HEAD.map((h) => c.bold(h)),
    style: { head: [], border: [] },
    colAligns: ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
  });
  for (const r of results.records) table.push(row(r, c));
  const lines = [table.toString(), bandwidthSentence(results)];
  for (const w of cacheWarnings(results)) lines.push(c.yellow(w));
  for (const s of results.skipped) lines.push(c.yellow(`skipped ${s.backend}: ${s.reason}`));
  for (const r of results.records.filter((x) => !x.passed)) {
    lines.push(c.red(`FAILED ${r.scenario} ${r.backend_label} T=${r.tokens}: ${r.failures.join('; ')}`));
  }
  return lines.join('\n');
}
