/**
 * Host-side moves between plain row-major `[rows, width]` data and the kernels' row-quad
 * layout (rows in groups of 4, element (4g+c, j) at `((g * width) + j) * 4 + c`). Padding rows
 * of the last group are zero and their results are never read.
 */

/** Groups of 4 rows needed for `rows` rows. */
export function quadGroups(rows: number): number {
  return Math.ceil(rows / 4);
}

/**
 * Gathers `count` rows into row-quad layout: row i of the result is source row
 * `index ? index[first + i] : first + i` of `src` (`[*, width]`).
 */
export function gatherQuads(src: Float32Array, width: number, first: number, count: number, index?: Int32Array): Float32Array {
  const out = new Float32Array(quadGroups(count) * width * 4);
  for (let i = 0; i < count; i++) {
    const row = index ? index[first + i] : first + i;
    const s = row * width;
    const base = (i >> 2) * width * 4 + (i & 3);
    for (let j = 0; j < width; j++) out[base + j * 4] = src[s + j];
  }
  return out;
}

/**
 * Writes a kernel's row-quad result (`[groups, chunkWidth, 4]`) for `count` rows into
 * `dst` rows `dstRow(i)` at columns `colStart ..` of a row-major `[*, dstWidth]` array.
 */
export function scatterQuads(
  quad: Float32Array,
  chunkWidth: number,
  count: number,
  dst: Float32Array,
  dstWidth: number,
  colStart: number,
  dstRow: (i: number) => number,
): void {
  for (let i = 0; i < count; i++) {
    const d = dstRow(i) * dstWidth + colStart;
    const base = (i >> 2) * chunkWidth * 4 + (i & 3);
    for (let j = 0; j < chunkWidth; j++) dst[d + j] = quad[base + j * 4];
  }
}

/** Copies a chunk's row-quad result into columns `colStart ..` of a wider row-quad array. */
export function placeQuadColumns(quad: Float32Array, chunkWidth: number, groups: number, dst: Float32Array, dstWidth: number, colStart: number): void {
  for (let g = 0; g < groups; g++) {
    dst.set(quad.subarray(g * chunkWidth * 4, (g + 1) * chunkWidth * 4), (g * dstWidth + colStart) * 4);
  }
}
