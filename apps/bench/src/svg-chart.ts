/**
 * Small inline-SVG charts for the HTML report (no library, no network at view time): a line
 * chart on log-log axes (latency vs tokens) and a grouped bar chart (MoE/dense ratio per T).
 */

/** One line of a line chart. */
export interface Series {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

/** Colours per series index (colour-blind friendly, Okabe-Ito). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];

const W = 560;
const H = 320;
// The legend sits under the plot (one row per series), so long engine names fit.
const M = { left: 64, right: 16, top: 34, bottom: 46 };
const LEGEND_ROW = 18;

/** Escapes text for HTML and SVG. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

function fmtTick(v: number): string {
  if (v >= 1000) return `${+(v / 1000).toPrecision(3)}k`;
  if (v >= 1) return String(+v.toPrecision(3));
  return String(+v.toPrecision(2));
}

/** Tick values for a log axis between lo and hi: 1, 2, 5 x powers of ten. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** p;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out.length >= 2 ? out : [lo, hi];
}

function legend(names: readonly string[]): string {
  return names
    .map((n, i) => {
      const y = H + 8 + i * LEGEND_ROW;
      const x = M.left;
      return `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${x + 18}" y="${y + 1}" font-size="12">${esc(n)}</text>`;
    })
    .join('');
}

function frame(title: string, xLabel: string, yLabel: string, body: string, legendRows = 0): string {
  const cx = M.left + (W - M.left - M.right) / 2;
  const cy = M.top + (H - M.top - M.bottom) / 2;
  const height = H + (legendRows ? legendRows * LEGEND_ROW + 8 : 0);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" font-family="system-ui, sans-serif" role="img" aria-label="${esc(title)}">` +
    `<rect width="${W}" height="${height}" fill="#fff"/>` +
    `<text x="${M.left}" y="20" font-size="14" font-weight="600">${esc(title)}</text>` +
    `<text x="${cx}" y="${H - 8}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text x="14" y="${cy}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${cy})">${esc(yLabel)}</text>` +
    body +
    `</svg>`
  );
}

/** 1, 2 or 5 times a power of ten, at least `raw`: a readable tick step. */
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/** A line chart with logarithmic x and y axes (points with non-positive values are left out). */
export function logLogChart(title: string, xLabel: string, yLabel: string, series: readonly Series[]): string {
  const pts = series.flatMap((s) => s.points).filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.y));
  if (pts.length === 0) return frame(title, xLabel, yLabel, `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text>`);
  let [x0, x1] = [Math.min(...pts.map((p) => p.x)), Math.max(...pts.map((p) => p.x))];
  let [y0, y1] = [Math.min(...pts.map((p) => p.y)), Math.max(...pts.map((p) => p.y))];
  if (x0 === x1) [x0, x1] = [x0 / 2, x1 * 2];
  [y0, y1] = [y0 / 1.5, y1 * 1.5];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number): number => M.left + ((Math.log(x) - Math.log(x0)) / (Math.log(x1) - Math.log(x0))) * pw;
  const sy = (y: number): number => M.top + ph - ((Math.log(y) - Math.log(y0)) / (Math.log(y1) - Math.log(y0))) * ph;
  const xs = [...new Set(pts.map((p) => p.x))].sort((a, b) => a - b);
  let body = `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`;
  for (const t of logTicks(y0, y1)) {
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/><text x="${M.left - 6}" y="${sy(t) + 4}" font-size="11" text-anchor="end">${fmtTick(t)}</text>`;
  }
  for (const t of xs) {
    body += `<line x1="${sx(t)}" x2="${sx(t)}" y1="${M.top}" y2="${M.top + ph}" stroke="#e5e5e5"/><text x="${sx(t)}" y="${M.top + ph + 16}" font-size="11" text-anchor="middle">${fmtTick(t)}</text>`;
  }
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const ok = s.points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (ok.length > 1) body += `<polyline fill="none" stroke="${color}" stroke-width="2" points="${ok.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`;
    for (const p of ok) body += `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${s.name}: T=${p.x}, ${p.y.toPrecision(4)}`)}</title></circle>`;
  });
  return frame(title, xLabel, yLabel, body + legend(series.map((s) => s.name)), series.length);
}

/** A grouped bar chart: one group per category, one bar per series; a dashed line at `reference`. */
export function groupedBarChart(
  title: string,
  xLabel: string,
  yLabel: string,
  categories: readonly string[],
  series: readonly { readonly name: string; readonly values: readonly number[] }[],
  reference?: number,
): string {
  const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && v > 0);
  if (all.length === 0 || categories.length === 0) return frame(title, xLabel, yLabel, `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text>`);
  const step = niceStep((Math.max(...all, reference ?? 0) * 1.1) / 5);
  const top = step * Math.ceil((Math.max(...all, reference ?? 0) * 1.1) / step);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sy = (v: number): number => M.top + ph - (v / top) * ph;
  const groupW = pw / categories.length;
  const barW = Math.min(28, (groupW * 0.8) / Math.max(1, series.length));
  let body = `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`;
  for (let i = 0; i * step <= top * 1.0001; i++) {
    const v = step * i;
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(v)}" y2="${sy(v)}" stroke="#e5e5e5"/><text x="${M.left - 6}" y="${sy(v) + 4}" font-size="11" text-anchor="end">${fmtTick(v)}</text>`;
  }
  categories.forEach((cat, g) => {
    const gx = M.left + g * groupW + (groupW - barW * series.length) / 2;
    body += `<text x="${M.left + g * groupW + groupW / 2}" y="${M.top + ph + 16}" font-size="11" text-anchor="middle">${esc(cat)}</text>`;
    series.forEach((s, i) => {
      const v = s.values[g];
      if (!Number.isFinite(v) || v <= 0) return;
      body += `<rect x="${(gx + i * barW).toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(M.top + ph - sy(v)).toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}"><title>${esc(`${s.name} ${cat}: ${v.toFixed(3)}`)}</title></rect>`;
    });
  });
  if (reference !== undefined) {
    body += `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(reference)}" y2="${sy(reference)}" stroke="#333" stroke-dasharray="5 4"/>`;
  }
  return frame(title, xLabel, yLabel, body + legend(series.map((s) => s.name)), series.length);
}
