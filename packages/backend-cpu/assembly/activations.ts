// Pointwise activations applied after the first expert projection, on a thread's own columns.

// @ts-ignore: decorator
@inline
function silu(x: f32): f32 {
  return x / (<f32>1 + Mathf.exp(-x));
}

// erf with absolute error below 1.2e-7 (the Numerical Recipes erfc fit core's reference uses).
// @ts-ignore: decorator
@inline
function erf(x: f32): f32 {
  const z = Mathf.abs(x);
  const t: f32 = <f32>1 / (<f32>1 + <f32>0.5 * z);
  const poly: f32 =
    -<f32>1.26551223 +
    t * (<f32>1.00002368 + t * (<f32>0.37409196 + t * (<f32>0.09678418 + t * (<f32>-0.18628806 +
    t * (<f32>0.27886807 + t * (<f32>-1.13520398 + t * (<f32>1.48851587 + t * (<f32>-0.82215223 + t * <f32>0.17087277))))))));
  const r = t * Mathf.exp(-z * z + poly);
  return x >= 0 ? <f32>1 - r : r - <f32>1;
}

// @ts-ignore: decorator
@inline
function gelu(x: f32): f32 {
  return <f32>0.5 * x * (<f32>1 + erf(x * <f32>0.7071067811865476));
}

/**
 * SwiGLU: h holds, per row, panel pairs (16 gate columns, then 16 up columns); writes
 * out[i, 16q + j] = silu(gate) * up for the pairs q0..q1.
 */
export function swiglu(h: usize, ldh: i32, m: i32, q0: i32, q1: i32, out: usize, ldo: i32): void {
  for (let i = 0; i < m; i++) {
    const hr = h + ((<usize>i * <usize>ldh) << 2);
    const orow = out + ((<usize>i * <usize>ldo) << 2);
    for (let q = q0; q < q1; q++) {
      const g = hr + (<usize>q << 7);
      const o = orow + (<usize>q << 6);
      for (let j = 0; j < 16; j++) {
        const off = <usize>j << 2;
        store<f32>(o + off, silu(load<f32>(g + off)) * load<f32>(g + off, 64));
      }
    }
  }
}

/** GELU (exact erf) in place on columns c0..c1 of rows 0..m. */
export function geluCols(h: usize, ldh: i32, m: i32, c0: i32, c1: i32): void {
  for (let i = 0; i < m; i++) {
    const hr = h + ((<usize>i * <usize>ldh) << 2);
    for (let j = c0; j < c1; j++) {
      const p = hr + (<usize>j << 2);
      store<f32>(p, gelu(load<f32>(p)));
    }
  }
}

/** ReLU in place on columns c0..c1 of rows 0..m. */
export function reluCols(h: usize, ldh: i32, m: i32, c0: i32, c1: i32): void {
  const zero = f32x4.splat(0);
  for (let i = 0; i < m; i++) {
    const hr = h + ((<usize>i * <usize>ldh) << 2);
    for (let j = c0; j < c1; j += 4) {
      const p = hr + (<usize>j << 2);
      v128.store(p, f32x4.max(v128.load(p), zero));
    }
  }
}
