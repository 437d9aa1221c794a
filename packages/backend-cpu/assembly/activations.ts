// Pointwise activations applied after the first expert projection, on a thread's own columns,
// four lanes at a time. exp is a Cephes-style range reduction (x = n ln2 + r, |r| <= ln2/2)
// with a degree-6 polynomial: about 1 ulp, so float32 results match the float64 reference.

// @ts-ignore: decorator
@inline
export function vexp(x: v128): v128 {
  const xc = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  // 2^n: n + 127 shifted into the exponent field.
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

// @ts-ignore: decorator
@inline
function vsilu(x: v128): v128 {
  return f32x4.div(x, f32x4.add(f32x4.splat(1), vexp(f32x4.neg(x))));
}

// erf with absolute error below 1.2e-7 (the Numerical Recipes erfc fit core's reference uses).
// @ts-ignore: decorator
@inline
function verf(x: v128): v128 {
  const one = f32x4.splat(1);
  const z = f32x4.abs(x);
  const t = f32x4.div(one, f32x4.add(one, f32x4.mul(f32x4.splat(0.5), z)));
  let q = f32x4.splat(0.17087277);
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(-0.82215223));
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(1.48851587));
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(-1.13520398));
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(0.27886807));
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(-0.18628806));
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(0.09678418));
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(0.37409196));
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(1.00002368));
  q = f32x4.add(f32x4.mul(q, t), f32x4.splat(-1.26551223));
  const r = f32x4.mul(t, vexp(f32x4.sub(q, f32x4.mul(z, z))));
  const pos = f32x4.sub(one, r);
  // erf is odd: copy x's sign onto 1 - r.
  return v128.or(v128.and(pos, i32x4.splat(0x7fffffff)), v128.and(x, i32x4.splat(0x80000000)));
}

// @ts-ignore: decorator
@inline
function vgelu(x: v128): v128 {
  const half = f32x4.mul(f32x4.splat(0.5), x);
  return f32x4.add(half, f32x4.mul(half, verf(f32x4.mul(x, f32x4.splat(0.7071067811865476)))));
}

// gpt-oss's clamped SwiGLU of core's `clampedSwiglu`: (clamp(u, -7, 7) + 1) * g' * sigmoid(1.702 g'), g' = min(g, 7).
// @ts-ignore: decorator
@inline
function vclamped(g: v128, u: v128): v128 {
  const limit = f32x4.splat(7);
  const gc = f32x4.min(g, limit);
  const uc = f32x4.min(f32x4.max(u, f32x4.splat(-7)), limit);
  const glu = f32x4.div(gc, f32x4.add(f32x4.splat(1), vexp(f32x4.mul(gc, f32x4.splat(-1.702)))));
  return f32x4.mul(f32x4.add(uc, f32x4.splat(1)), glu);
}

/** One gated unit of 4 columns: silu(g) * u, or gpt-oss's clamped form. */
// @ts-ignore: decorator
@inline
function vglu(g: v128, u: v128, clamped: bool): v128 {
  return clamped ? vclamped(g, u) : f32x4.mul(vsilu(g), u);
}

/**
 * The gated activations: h holds, per row, panel pairs (16 gate columns, then 16 up columns);
 * writes out[i, 16q + j] = glu(gate, up) for the pairs q0..q1. Inlined into each caller, so
 * `clamped` is a constant there and the choice costs nothing in the loop.
 */
// @ts-ignore: decorator
@inline
function gatedPairs(h: usize, ldh: i32, m: i32, q0: i32, q1: i32, out: usize, ldo: i32, clamped: bool): void {
  for (let i = 0; i < m; i++) {
    const hr = h + ((<usize>i * <usize>ldh) << 2);
    const orow = out + ((<usize>i * <usize>ldo) << 2);
    for (let q = q0; q < q1; q++) {
      const g = hr + (<usize>q << 7);
      const o = orow + (<usize>q << 6);
      v128.store(o, vglu(v128.load(g), v128.load(g, 64), clamped));
      v128.store(o, vglu(v128.load(g, 16), v128.load(g, 80), clamped), 16);
      v128.store(o, vglu(v128.load(g, 32), v128.load(g, 96), clamped), 32);
      v128.store(o, vglu(v128.load(g, 48), v128.load(g, 112), clamped), 48);
    }
  }
}

/** SwiGLU, silu(gate) * up, on the panel pairs of {@link gatedPairs}'s layout. */
export function swiglu(h: usize, ldh: i32, m: i32, q0: i32, q1: i32, out: usize, ldo: i32): void {
  gatedPairs(h, ldh, m, q0, q1, out, ldo, false);
}

/** The clamped SwiGLU (gpt-oss) on the panel pairs of {@link gatedPairs}'s layout. */
export function clampedSwiglu(h: usize, ldh: i32, m: i32, q0: i32, q1: i32, out: usize, ldo: i32): void {
  gatedPairs(h, ldh, m, q0, q1, out, ldo, true);
}

/** GELU (exact erf) in place on columns c0..c1 (multiples of 4) of rows 0..m. */
export function geluCols(h: usize, ldh: i32, m: i32, c0: i32, c1: i32): void {
  for (let i = 0; i < m; i++) {
    const hr = h + ((<usize>i * <usize>ldh) << 2);
    for (let j = c0; j < c1; j += 4) {
      const p = hr + (<usize>j << 2);
      v128.store(p, vgelu(v128.load(p)));
    }
  }
}

/** ReLU in place on columns c0..c1 (multiples of 4) of rows 0..m. */
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
