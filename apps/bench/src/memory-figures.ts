/**
 * The memory side of a run, in words and tables shared by the terminal, Markdown and HTML
 * outputs: the read bandwidth measured in the run, each decode scenario's working set against
 * the last-level cache, and decode weight GB/s as a share of the bandwidth.
 */
import { fmtMiB, fmtRate, fmtShare } from './format.js';
import type { BenchRecord, BenchResults } from './record.js';

/** One sentence: the read bandwidth per thread count, or why there is none. */
export function bandwidthSentence(results: BenchResults): string {
  const m = results.bandwidth;
  if (!m?.figures.length) return 'Read bandwidth: not measured in this run.';
  const figures = m.figures.map((f) => `${f.threads} thread${f.threads > 1 ? 's' : ''} ${fmtRate(f.medianGbps)} GB/s (best ${fmtRate(f.bestGbps)})`);
  return `Read bandwidth measured in this run (streaming-read kernel over ${fmtMiB(m.bufferBytes)}, median of ${m.figures[0].reps} reads): ${figures.join(', ')}.`;
}

/** A decode scenario's working set and how it compares with the last-level cache. */
export interface WorkingSetLine {
  readonly scenario: string;
  readonly bytes: number;
  /** bytes / last-level cache, when the cache size is known. */
  readonly cacheMultiple?: number;
  /** True when the working set would fit in the last-level cache (decode would measure the cache). */
  readonly fitsInCache: boolean;
}

/** The working sets of the scenarios that ran at T=1. */
export function decodeWorkingSets(results: BenchResults): WorkingSetLine[] {
  const llc = results.machine.lastLevelCacheBytes;
  const decoded = new Set(results.records.filter((r) => r.tokens === 1).map((r) => r.scenario));
  return results.scenarios
    .filter((s) => decoded.has(s.name) && s.workingSetBytes !== undefined)
    .map((s) => ({
      scenario: s.name,
      bytes: s.workingSetBytes,
      cacheMultiple: llc ? s.workingSetBytes / llc : undefined,
      fitsInCache: llc !== undefined && s.workingSetBytes <= llc,
    }));
}

/** `352 MiB (11x the 32.0 MiB last-level cache)`. */
export function fmtWorkingSet(line: WorkingSetLine, llc: number | undefined): string {
  return `${fmtMiB(line.bytes)}${line.cacheMultiple !== undefined && llc ? ` (${line.cacheMultiple.toFixed(1)}x the ${fmtMiB(llc)} last-level cache)` : ''}`;
}

function label(r: BenchRecord): string {
  return r.backend_label ?? r.backend;
}

/** `24.1 GB/s (93%)`: a decode record's weight GB/s and its share of the measured bandwidth. */
export function fmtDecodeCell(r: BenchRecord): string {
  return `${fmtRate(r.weight_gbps ?? NaN)} (${fmtShare(r.bandwidth_share)})`;
}

/**
 * The decode (T=1) table in Markdown: per scenario, its working set, then per backend the MoE
 * layer's weight GB/s and share of the bandwidth, and the dense equivalent's.
 */
export function decodeMarkdown(results: BenchResults): string[] {
  const decode = results.records.filter((r) => r.tokens === 1);
  if (!decode.length) return [];
  const columns = [...new Set(decode.map(label))];
  const llc = results.machine.lastLevelCacheBytes;
  const lines = [
    `| scenario | working set | ${columns.map((c) => `${c} MoE | ${c} dense`).join(' | ')} |`,
    `|---|--:|${columns.map(() => '--:|--:').join('|')}|`,
  ];
  for (const ws of decodeWorkingSets(results)) {
    const cells = columns.map((c) => {
      const r = decode.find((x) => x.scenario === ws.scenario && label(x) === c);
      return r ? `${fmtDecodeCell(r)} | ${fmtRate(r.dense_weight_gbps ?? NaN)} (${fmtShare(r.dense_bandwidth_share)})` : '- | -';
    });
    lines.push(`| ${ws.scenario} | ${fmtWorkingSet(ws, llc)} | ${cells.join(' | ')} |`);
  }
  return lines;
}

/** Warnings for decode scenarios whose working set fits in the last-level cache. */
export function cacheWarnings(results: BenchResults): string[] {
  const llc = results.machine.lastLevelCacheBytes;
  return decodeWorkingSets(results)
    .filter((w) => w.fitsInCache)
    .map((w) => `warning: ${w.scenario}: every weight a one-token pass can touch (${fmtMiB(w.bytes)}) fits in the ${fmtMiB(llc ?? NaN)} last-level cache: its T=1 figures are memory figures only because the cache is evicted before every timed call`);
}
