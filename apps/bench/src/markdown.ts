/**
 * `--markdown FILE`: the Markdown summary for READMEs: the whole run, one row per (scenario, T)
 * and one column per backend with `p50 ms (MoE/dense)`, the worst cross-validation figures,
 * then the decode (T=1) weight traffic against the read bandwidth measured in the run.
 */
import { fmtErr, fmtMiB, fmtMs, fmtRatio } from './format.js';
import { bandwidthSentence, decodeMarkdown } from './memory-figures.js';
import type { BenchRecord, BenchResults } from './record.js';

function label(r: BenchRecord): string {
  return r.backend_label ?? r.backend;
}

/** Renders the summary. */
export function renderMarkdown(results: BenchResults): string {
  const columns = [...new Set(results.records.map(label))];
  const rows = [...new Map(results.records.map((r) => [`${r.scenario}\u0000${r.tokens}`, r])).values()];
  const lines = [
    `| scenario | T | ${columns.join(' | ')} |`,
    `|---|--:|${columns.map(() => '--:').join('|')}|`,
  ];
  for (const { scenario, tokens } of rows) {
    const cells = columns.map((c) => {
      const r = results.records.find((x) => x.scenario === scenario && x.tokens === tokens && label(x) === c);
      if (!r) return '-';
      return `${fmtMs(r.p50_ms)} (${fmtRatio(r.ratio_vs_dense)})${r.passed ? '' : ' **FAIL**'}`;
    });
    lines.push(`| ${scenario} | ${tokens} | ${cells.join(' | ')} |`);
  }
  const worstRel = Math.max(...results.records.map((r) => r.rel_l2_err));
  const minAgree = Math.min(...results.records.map((r) => r.routing_agreement));
  const ties = results.records.reduce((n, r) => n + r.near_ties, 0);
  const passed = results.records.filter((r) => r.passed).length;
  const m = results.machine;
  const engines = columns.map((c) => `${c} = ${[...new Set(results.records.filter((r) => label(r) === c).map((r) => r.engine))].join(', ')}`);
  lines.push(
    '',
    `Engines: ${engines.join('; ')}.`,
    '',
    `Cells: median latency of the MoE layer in ms (MoE / dense-equivalent latency, same backend, same run). ` +
      `Cross-validation against the float64 reference: ${passed} of ${results.records.length} cases passed; ` +
      `worst relative L2 error ${fmtErr(worstRel)}, lowest routing agreement ${(minAgree * 100).toFixed(1)}%, ${ties} near-tie(s). ` +
      `${m.cpuModel}, ${m.cores} cores, Node ${m.node}, ${results.createdAt.slice(0, 10)}; load average ${m.loadAverageAtStart} at start` +
      `${results.loadAverageAtEnd !== undefined ? ` / ${results.loadAverageAtEnd} at end` : ''} (shared machine: times are rough).`,
  );
  const decode = decodeMarkdown(results);
  if (decode.length) {
    const llc = m.lastLevelCacheBytes;
    lines.push(
      '',
      'Decode (T=1) weight traffic: weight GB/s of a pass (the routed experts it touched, the shared experts and the router, counted as float32) ' +
        'and its share of the read bandwidth at the backend\'s thread count; working set: every weight a one-token pass can touch, in the storage dtype.',
      '',
      ...decode,
      '',
      `${bandwidthSentence(results)} Every timed call reads a fresh seeded input and follows a read of ${fmtMiB(results.evictBytes ?? NaN)} that evicts the ` +
        `${llc ? `${fmtMiB(llc)} ` : ''}last-level cache.`,
    );
  }
  return `${lines.join('\n')}\n`;
}
