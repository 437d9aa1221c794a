/**
 * Host-side moves between plain row-major `[rows, width]` data and the kernels' lane layout:
 * rows in groups of L lanes (L = 4 for the row-quad kernels, 1 for the single-row kernels),
 * element (row i, column j) at `((floor(i / L) * width) + j) * L + i % L`. With L = 1 this is
 * plain row-major. Padding rows of the last group are zero and their results are never read.
 */

/** Lanes per group: 4 (row quads) or 1 (plain rows). */
export type Lanes = 1 | 4;

/** Groups of `lanes` rows needed for `rows` rows. */
export function laneGroups(rows: number, lanes: Lanes): number {
  return Math.ceil(rows / lanes);
}

/**
 * Gathers `count` rows into lane layout: row i of the result is source row
 * `index ? index[first + i] : first + i` of `src` (`[*, width]`).
 */
export function gatherLanes(src: Float32Array, width: number, first: number, count: number, lanes: Lanes, index?: Int32Array): Float32Array {
  const out = new Float32Array(laneGroups(count, lanes) * width * lanes);
  for (let i = 0; i < count; i++) {
    const row = index ? index[first + i] : first + i;
    const s = row * width;
    if (lanes === 1) {
      out.set(src.subarray(s, s + width), i * width);
      continue;
    }
    const base = (i >> 2) * width * 4 + (i & 3);
    for (let j = 0; j < width; j++) out[base + j * 4] = src[s + j];
  }
  return out;
}

/**
 * Writes a kernel's lane-layout result (`[groups, chunkWidth, lanes]`) for `count` rows into
 * rows `dstRow(i)`, columns `colStart ..` of a row-major `[*, dstWidth]` array.
 */
export function scatterLanes(
  result: Float32Array,
  chunkWidth: number,
  count: number,
  lanes: Lanes,
  dst: Float32Array,
  dstWidth: number,
  colStart: number,
  dstRow: (i: number) => number,
): void {
  for (let i = 0; i < count; i++) {
    const d = dstRow(i) * dstWidth + colStart;
    if (lanes === 1) {
      dst.set(result.subarray(i * chunkWidth, (i + 1) * chunkWidth), d);
      continue;
    }
    const base = (i >> 2) * chunkWidth * 4 + (i & 3);
    for (let j = 0; j < chunkWidth; j++) dst[d + j] = result[base + j * 4];
  }
}

/** Copies a chunk's lane-layout result into columns `colStart ..` of a wider lane-layout array. */
export function placeLaneColumns(result: Float32Array, chunkWidth: number, groups: number, lanes: Lanes, dst: Float32Array, dstWidth: number, colStart: number): void {
  const span = chunkWidth * lanes;
  for (let g = 0; g < groups; g++) dst.set(result.subarray(g * span, (g + 1) * span), (g * dstWidth + colStart) * lanes);
}
