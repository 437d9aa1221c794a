/**
 * `--html FILE`: a self-contained report (inline CSS and SVG, no script, nothing fetched at
 * view time) with, per scenario, latency vs tokens per backend and MoE/dense ratios, then the
 * cross-validation table, skipped backends and the machine facts.
 */
import { fmtErr, fmtMiB, fmtMs, fmtPct, fmtRate, fmtRatio, fmtShare } from './format.js';
import { bandwidthSentence, cacheWarnings, decodeWorkingSets, fmtWorkingSet } from './memory-figures.js';
import type { BenchRecord, BenchResults } from './record.js';
import { esc, groupedBarChart, logLogChart } from './svg-chart.js';

const CSS = `
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1400px;color:#1a1a1a;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #d5d5d5;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td.l,th.l{text-align:left}
tr.fail td{background:#fde8e8;color:#a40000}
.pass{color:#0a7a2f;font-weight:600}.fail{color:#c00000;font-weight:700}
.banner{padding:8px 12px;border-radius:4px;margin:12px 0;font-weight:600}
.banner.ok{background:#e6f4ea;color:#0a5c24}.banner.bad{background:#fde8e8;color:#a40000}
.charts{display:flex;flex-wrap:wrap;gap:16px}.scroll{overflow-x:auto}.muted{color:#666;font-size:13px}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
`;

function cell(v: string, left = false): string {
  return `<td${left ? ' class="l"' : ''}>${esc(v)}</td>`;
}

function head(names: readonly string[], leftCount: number): string {
  return `<tr>${names.map((n, i) => `<th${i < leftCount ? ' class="l"' : ''}>${esc(n)}</th>`).join('')}</tr>`;
}

function check(r: BenchRecord): string {
  return r.passed ? '<td class="l pass">pass</td>' : '<td class="l fail">FAIL</td>';
}

function perfTable(records: readonly BenchRecord[]): string {
  const rows = records.map(
    (r) =>
      `<tr${r.passed ? '' : ' class="fail"'}>${cell(r.backend_label, true)}${cell(r.engine, true)}${cell(String(r.tokens))}${cell(fmtMs(r.p50_ms))}${cell(fmtMs(r.p95_ms))}` +
      `${cell(`${fmtMs(r.min_ms ?? NaN)} / ${fmtMs(r.max_ms ?? NaN)}`)}${cell(fmtRate(r.tokens_per_s))}${cell(fmtRate(r.gflops))}${cell(fmtMs(r.dense_p50_ms))}` +
      `${cell(fmtRatio(r.ratio_vs_dense))}${cell(fmtRate(r.weight_gbps ?? NaN))}${cell(fmtShare(r.bandwidth_share))}${cell(fmtRate(r.dense_weight_gbps ?? NaN))}${cell(fmtShare(r.dense_bandwidth_share))}${cell(r.peak_rss_mb !== undefined ? `${Math.round(r.peak_rss_mb)}` : '-')}${check(r)}</tr>`,
  );
  return `<div class="scroll"><table>${head(['backend', 'engine', 'T', 'p50 ms', 'p95 ms', 'min / max ms', 'tokens/s', 'GFLOP/s', 'dense p50 ms', 'MoE/dense', 'weight GB/s', '% of read bw', 'dense GB/s', 'dense % bw', 'peak RSS MiB', 'check'], 2)}${rows.join('')}</table></div>`;
}

function crossValidationTable(records: readonly BenchRecord[]): string {
  const rows = records.map(
    (r) =>
      `<tr${r.passed ? '' : ' class="fail"'}>${cell(r.scenario, true)}${cell(r.backend_label, true)}${cell(r.engine, true)}${cell(String(r.tokens))}${cell(r.weight_dtype, true)}` +
      `${cell(fmtErr(r.rel_l2_err))}${cell(fmtErr(r.max_abs_err))}${cell(fmtErr(r.dense_rel_l2_err ?? NaN))}${cell(fmtErr(r.repeat_drift ?? NaN))}` +
      `${cell(fmtPct(r.routing_agreement))}${cell(String(r.near_ties))}${cell(r.rows_checked !== undefined ? `${r.rows_checked} per output, ${r.rows_covered ?? r.rows_checked} of ${r.tokens} in all` : '-')}${cell(String(r.outputs_checked ?? '-'))}` +
      `${check(r)}${cell(r.failures.join('; '), true)}</tr>`,
  );
  return `<div class="scroll"><table>${head(['scenario', 'backend', 'engine', 'T', 'weights', 'rel L2', 'max abs', 'dense rel L2', 'repeat drift', 'routing agreement', 'near-ties', 'rows vs float64', 'outputs checked', 'check', 'failures'], 3)}${rows.join('')}</table></div>`;
}

function scenarioSection(results: BenchResults, name: string): string {
  const s = results.scenarios.find((x) => x.name === name);
  const records = results.records.filter((r) => r.scenario === name);
  const labels = [...new Set(records.map((r) => `${r.backend_label} (${r.engine})`))];
  const of = (label: string): BenchRecord[] => records.filter((r) => `${r.backend_label} (${r.engine})` === label);
  const latency = logLogChart(
    `${name}: MoE latency (p50) vs tokens`,
    'tokens per batch (T)',
    'ms (log)',
    labels.map((l) => ({ name: l, points: of(l).map((r) => ({ x: r.tokens, y: r.p50_ms })) })),
  );
  const tokens = [...new Set(records.map((r) => r.tokens))].sort((a, b) => a - b);
  const ratio = groupedBarChart(
    `${name}: MoE / dense-equivalent latency`,
    'tokens per batch (T); dashed line = 1 (MoE costs what its active parameters cost)',
    'ratio',
    tokens.map((t) => `T=${t}`),
    labels.map((l) => ({ name: l, values: tokens.map((t) => of(l).find((r) => r.tokens === t)?.ratio_vs_dense ?? NaN) })),
    1,
  );
  const ws = decodeWorkingSets(results).find((w) => w.scenario === name);
  const working = ws ? `; decode working set ${esc(fmtWorkingSet(ws, results.machine.lastLevelCacheBytes))}` : '';
  const layer = s
    ? `<p class="muted">${esc(s.description ?? '')}<br><code>${esc(s.shape ?? JSON.stringify(s.layer))}</code>; seed ${s.seed}, ${s.warmup} warm-up + up to ${s.repeats} repeats, ${s.referenceRows} reference rows, tolerance rel-L2 &le; ${s.maxRelL2}${working}</p>`
    : '';
  return `<h2>${esc(name)}</h2>${layer}<div class="charts">${latency}${ratio}</div>${perfTable(records)}`;
}

function machineTable(results: BenchResults): string {
  const m = results.machine;
  const rows: [string, string][] = [
    ['CPU', `${m.cpuModel} (${m.cores} cores, ${m.availableParallelism} usable)`],
    ['memory', `${m.totalMemoryGb} GiB`],
    ['platform', m.platform],
    ['Node', m.node],
    [
      'load average (1 min) at start / end',
      `${m.loadAverageAtStart} / ${results.loadAverageAtEnd ?? '-'}${Math.max(m.loadAverageAtStart, results.loadAverageAtEnd ?? 0) > m.cores * 0.5 ? ' (machine shared with other work: absolute times are rough; MoE/dense ratios are timed in one run)' : ''}`,
    ],
    ['last-level cache', m.lastLevelCacheBytes ? fmtMiB(m.lastLevelCacheBytes) : 'unknown'],
    ['read bandwidth', bandwidthSentence(results)],
    ['cache eviction', results.evictBytes ? `${fmtMiB(results.evictBytes)} read before every timed call` : '-'],
    ['git commit', m.gitCommit ?? '-'],
    ...Object.entries(m.packages).map(([k, v]): [string, string] => [k, v]),
  ];
  return `<table>${rows.map(([k, v]) => `<tr>${cell(k, true)}${cell(v, true)}</tr>`).join('')}</table>`;
}

/** Renders the whole report. */
export function renderHtml(results: BenchResults): string {
  const names = [...new Set(results.records.map((r) => r.scenario))];
  const failed = results.records.filter((r) => !r.passed).length;
  const banner = results.passed
    ? `<div class="banner ok">All ${results.records.length} cases passed cross-validation against the float64 reference.</div>`
    : `<div class="banner bad">${failed || 'No'} case(s) failed cross-validation${results.records.length ? '' : ' (nothing ran)'}.</div>`;
  const skipped = results.skipped.length
    ? `<h2>Skipped backends</h2><table>${head(['backend', 'reason'], 2)}${results.skipped.map((s) => `<tr>${cell(s.backend, true)}${cell(s.reason, true)}</tr>`).join('')}</table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>moe-bench report ${esc(results.createdAt)}</title><style>${CSS}</style></head>
<body>
<h1>moe-runtime cross-backend benchmark</h1>
<p class="muted">${esc(results.createdAt)}, ${results.durationS} s, ${esc(results.machine.cpuModel)}, Node ${esc(results.machine.node)}</p>
${banner}
<p class="muted">${esc(bandwidthSentence(results))} Weight GB/s: bytes of the weights a pass reads (routed experts touched, shared experts, router; float32) over its p50; its share of the read bandwidth at the backend's thread count.</p>
${cacheWarnings(results).map((w) => `<p class="fail">${esc(w)}</p>`).join('')}
${names.map((n) => scenarioSection(results, n)).join('\n')}
<h2>Cross-validation against the float64 reference</h2>
<p class="muted">Every output (warm-up and timed, MoE and dense) is checked: routing of all T tokens against the reference routing (near-ties counted apart), values of up to the scenario's reference rows per output (evenly spaced, shifted by one row per further output) against float64, and a re-run of the first timed input against its first output on all rows (repeat drift). Every pass has its own fresh seeded input. Figures are the worst over all outputs.</p>
${crossValidationTable(results.records)}
${skipped}
<h2>Machine</h2>
${machineTable(results)}
</body></html>
`;
}
