/**
 * Plain TypeScript GEMM for the fallback engine: y `[m, n]` = a `[m, k]` w^T (+ bias), with w in
 * the `[n, k]` (PyTorch Linear) layout, so every output is a dot product of two contiguous rows.
 * A 4x4 register tile reads 8 values per 16 multiply-adds; V8 keeps the 16 sums in registers.
 */

function tile4x4(a: Float32Array, aOff: number, w: Float32Array, wOff: number, k: number, y: Float32Array, yOff: number, n: number, bias: Float32Array | undefined, col: number): void {
  let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
  let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
  const a0 = aOff, a1 = aOff + k, a2 = aOff + 2 * k, a3 = aOff + 3 * k;
  const w0 = wOff, w1 = wOff + k, w2 = wOff + 2 * k, w3 = wOff + 3 * k;
  for (let c = 0; c < k; c++) {
    const x0 = a[a0 + c], x1 = a[a1 + c], x2 = a[a2 + c], x3 = a[a3 + c];
    const v0 = w[w0 + c], v1 = w[w1 + c], v2 = w[w2 + c], v3 = w[w3 + c];
    s00 += x0 * v0; s01 += x0 * v1; s02 += x0 * v2; s03 += x0 * v3;
    s10 += x1 * v0; s11 += x1 * v1; s12 += x1 * v2; s13 += x1 * v3;
    s20 += x2 * v0; s21 += x2 * v1; s22 += x2 * v2; s23 += x2 * v3;
    s30 += x3 * v0; s31 += x3 * v1; s32 += x3 * v2; s33 += x3 * v3;
  }
  const b0 = bias ? bias[col] : 0, b1 = bias ? bias[col + 1] : 0, b2 = bias ? bias[col + 2] : 0, b3 = bias ? bias[col + 3] : 0;
  y[yOff] = s00 + b0; y[yOff + 1] = s01 + b1; y[yOff + 2] = s02 + b2; y[yOff + 3] = s03 + b3;
  yOff += n;
  y[yOff] = s10 + b0; y[yOff + 1] = s11 + b1; y[yOff + 2] = s12 + b2; y[yOff + 3] = s13 + b3;
  yOff += n;
  y[yOff] = s20 + b0; y[yOff + 1] = s21 + b1; y[yOff + 2] = s22 + b2; y[yOff + 3] = s23 + b3;
  yOff += n;
  y[yOff] = s30 + b0; y[yOff + 1] = s31 + b1; y[yOff + 2] = s32 + b2; y[yOff + 3] = s33 + b3;
}

function dot(a: Float32Array, aOff: number, w: Float32Array, wOff: number, k: number): number {
  let s0 = 0, s1 = 0;
  let c = 0;
  for (; c + 1 < k; c += 2) {
    s0 += a[aOff + c] * w[wOff + c];
    s1 += a[aOff + c + 1] * w[wOff + c + 1];
  }
  if (c < k) s0 += a[aOff + c] * w[wOff + c];
  return s0 + s1;
}

/** y `[m, n]` = a `[m, k]` w^T (+ bias), w `[n, k]`; y is overwritten. */
export function gemmTransB(a: Float32Array, m: number, k: number, w: Float32Array, n: number, bias: Float32Array | undefined, y: Float32Array): void {
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    for (let j = 0; j < n4; j += 4) tile4x4(a, i * k, w, j * k, k, y, i * n + j, n, bias, j);
  }
  // Edges: the rows below the last full tile, and the columns right of it.
  for (let i = 0; i < m; i++) {
    const jStart = i < m4 ? n4 : 0;
    for (let j = jStart; j < n; j++) y[i * n + j] = dot(a, i * k, w, j * k, k) + (bias ? bias[j] : 0);
  }
}
