/**
 * `--compare OLD.json`: the change of every case against an earlier results file, so a
 * performance regression (or a lost cross-validation pass) shows at a glance.
 */
import { readFileSync } from 'node:fs';
import Table from 'cli-table3';
import { ConfigError } from '@moe-runtime/core';
import type { Colors } from './colors.js';
import { fmtChange, fmtMs, fmtRatio } from './format.js';
import { RECORD_FIELDS, type BenchRecord, type BenchResults } from './record.js';

/** One case present in both files. */
export interface CaseChange {
  readonly key: string;
  readonly old: BenchRecord;
  readonly now: BenchRecord;
  /** Relative change of the median latency (positive = slower). */
  readonly p50Change: number;
  readonly verdict: 'regression' | 'improvement' | 'same';
}

/** The comparison of two runs. */
export interface Comparison {
  readonly changes: readonly CaseChange[];
  readonly onlyOld: readonly string[];
  readonly onlyNew: readonly string[];
  readonly regressions: number;
}

function keyOf(r: BenchRecord): string {
  return `${r.scenario} | ${r.backend_label ?? r.backend} | ${r.engine} | T=${r.tokens}`;
}

/** Reads a results file written by `--json`, checking it has records with the promised fields. */
export function readResults(file: string): BenchResults {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('compare', `cannot read results file ${file}: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) throw new ConfigError('compare', `${file} is not a moe-bench results file (expected a JSON object with a "records" array)`);
  const records = (value as { records?: unknown }).records;
  if (!Array.isArray(records)) throw new ConfigError('compare', `${file} is not a moe-bench results file (no "records" array)`);
  records.forEach((r, i) => {
    for (const f of RECORD_FIELDS) {
      if (!r || typeof r !== 'object' || !(f in r)) throw new ConfigError('compare', `${file}: records[${i}] lacks the field '${f}'`);
    }
  });
  // JSON has no NaN: numbers written as null come back as NaN.
  const fixed = records.map((r: Record<string, unknown>) => {
    const out: Record<string, unknown> = { ...r };
    for (const [k, v] of Object.entries(out)) if (v === null) out[k] = NaN;
    return out as unknown as BenchRecord;
  });
  return { ...(value as BenchResults), records: fixed };
}

/** Compares `now` with `old`; a p50 change beyond `threshold` (0.1 = 10%) is a regression/improvement. */
export function compareResults(old: BenchResults, now: BenchResults, threshold = 0.1): Comparison {
  const before = new Map(old.records.map((r) => [keyOf(r), r]));
  const after = new Map(now.records.map((r) => [keyOf(r), r]));
  const changes: CaseChange[] = [];
  for (const [key, r] of after) {
    const o = before.get(key);
    if (!o) continue;
    const p50Change = r.p50_ms / o.p50_ms - 1;
    const verdict = p50Change > threshold ? 'regression' : p50Change < -threshold ? 'improvement' : 'same';
    changes.push({ key, old: o, now: r, p50Change, verdict });
  }
  return {
    changes,
    onlyOld: [...before.keys()].filter((k) => !after.has(k)),
    onlyNew: [...after.keys()].filter((k) => !before.has(k)),
    regressions: changes.filter((c) => c.verdict === 'regression' || (c.old.passed && !c.now.passed)).length,
  };
}

/** Renders a comparison as a table. */
export function renderComparison(cmp: Comparison, c: Colors, oldLabel: string): string {
  const table = new Table({
    head: ['case', 'old p50', 'new p50', 'change', 'old MoE/dense', 'new MoE/dense', 'check'].map((h) => c.bold(h)),
    style: { head: [], border: [] },
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'left'],
  });
  for (const ch of cmp.changes) {
    const change = fmtChange(ch.p50Change);
    const painted = ch.verdict === 'regression' ? c.red(change) : ch.verdict === 'improvement' ? c.green(change) : change;
    const check = ch.now.passed ? (ch.old.passed ? 'pass' : c.green('pass (was FAIL)')) : c.red('FAIL');
    table.push([ch.key, fmtMs(ch.old.p50_ms), fmtMs(ch.now.p50_ms), painted, fmtRatio(ch.old.ratio_vs_dense), fmtRatio(ch.now.ratio_vs_dense), check]);
  }
  const lines = [c.bold(`Change against ${oldLabel}`), table.toString()];
  const listed = (keys: readonly string[], what: string, paint: (s: string) => string): void => {
    for (const k of keys.slice(0, 5)) lines.push(paint(`${what}: ${k}`));
    if (keys.length > 5) lines.push(paint(`${what}: ... and ${keys.length - 5} more`));
  };
  listed(cmp.onlyOld, `only in ${oldLabel}`, c.yellow);
  listed(cmp.onlyNew, 'new case', c.dim);
  lines.push(cmp.regressions ? c.red(`${cmp.regressions} regression(s)`) : c.green('no regression'));
  return lines.join('\n');
}
