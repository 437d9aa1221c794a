/** Number formatting shared by the terminal table, the comparison and the HTML report. */

/** Milliseconds with 3 significant-ish digits. */
export function fmtMs(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v < 1) return v.toFixed(3);
  if (v < 100) return v.toFixed(2);
  return v.toFixed(1);
}

/** A rate (tokens/s, GFLOP/s) with sensible precision. */
export function fmtRate(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v >= 1000) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** A ratio like 1.23x. */
export function fmtRatio(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}x` : '-';
}

/** An error figure in exponent notation. */
export function fmtErr(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return String(v);
  return v === 0 ? '0' : v.toExponential(1);
}

/** A share as a percentage. */
export function fmtPct(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(v === 1 ? 0 : 1)}%` : '-';
}

/** A signed percentage change, e.g. +12.3%. */
export function fmtChange(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;
}

/** Bytes in MiB (2^20), e.g. `201.3 MiB`. */
export function fmtMiB(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  const mib = bytes / 2 ** 20;
  return `${mib >= 100 ? Math.round(mib) : mib.toFixed(1)} MiB`;
}

/** A bandwidth share as a whole percentage, e.g. `87%`. */
export function fmtShare(v: number | undefined): string {
  return v !== undefined && Number.isFinite(v) ? `${Math.round(v * 100)}%` : '-';
}
