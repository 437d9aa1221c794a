/**
 * Laying weights out for the kernels, once per layer: a PyTorch `[n, k]` matrix W becomes
 * B = W^T in 16-column panels (panel q: for each k, the 16 values W[16q .. 16q+16, k]).
 * Panels may be interleaved (`first`, `step`), which is how SwiGLU's gate and up projections
 * share one panel set: gate panel q at 2q, up panel q at 2q+1, so x is read once for both.
 */

/** Panels needed for n columns. */
export function panelsOf(n: number): number {
  return Math.ceil(n / 16);
}

/**
 * Writes W `[n, k]` into the panel buffer at float index `dst` (panel stride `kPad * 16`);
 * rows k..kPad of B and columns past n are zero.
 */
export function packPanels(view: Float32Array, dst: number, w: Float32Array, n: number, k: number, kPad = k, first = 0, step = 1): void {
  const panels = panelsOf(n);
  const panelFloats = kPad * 16;
  for (let q = 0; q < panels; q++) {
    const base = dst + (first + q * step) * panelFloats;
    view.fill(0, base, base + panelFloats);
    const cols = Math.min(16, n - q * 16);
    for (let j = 0; j < cols; j++) {
      const src = (q * 16 + j) * k;
      for (let kk = 0, o = base + j; kk < k; kk++, o += 16) view[o] = w[src + kk];
    }
  }
}

/** Writes a bias `[n]` (or zeros) in the same panel order as {@link packPanels}. */
export function packBias(view: Float32Array, dst: number, b: Float32Array | undefined, n: number, first = 0, step = 1): void {
  const panels = panelsOf(n);
  for (let q = 0; q < panels; q++) {
    const base = dst + (first + q * step) * 16;
    view.fill(0, base, base + 16);
    if (!b) continue;
    const cols = Math.min(16, n - q * 16);
    for (let j = 0; j < cols; j++) view[base + j] = b[q * 16 + j];
  }
}
