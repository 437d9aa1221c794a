// Kernel entry point: a batch of GEMM descriptors, each split by columns across threads.
// The calling thread and every worker call runBatch with their own thread index, on one
// shared memory; the descriptors are read-only while a batch runs.
import { gemm, gemv, gemv2 } from './gemm';
import { geluCols, reluCols, swiglu } from './activations';

export { gemm, gemv, gemv2 } from './gemm';

/** Descriptor layout: 12 i32 fields (48 bytes). */
const DESC_BYTES: usize = 48;
/** Epilogue kinds. */
const PLAIN = 0;
const SWIGLU = 1;
const GELU = 2;
const RELU = 3;

/**
 * Runs thread tid's share of `count` descriptors at `desc`. Fields: kind, a, lda, m, k, b,
 * panels, bias, c, ldc, out, ldo. SwiGLU descriptors split by panel pairs (gate + up) so the
 * activation of a thread's columns needs only what that thread computed.
 */
export function runBatch(desc: usize, count: i32, tid: i32, nthreads: i32, kc: i32): void {
  for (let d = 0; d < count; d++) {
    const p = desc + <usize>d * DESC_BYTES;
    const kind = load<i32>(p);
    const a = load<u32>(p, 4);
    const lda = load<i32>(p, 8);
    const m = load<i32>(p, 12);
    const k = load<i32>(p, 16);
    const b = load<u32>(p, 20);
    const panels = load<i32>(p, 24);
    const bias = load<u32>(p, 28);
    const c = load<u32>(p, 32);
    const ldc = load<i32>(p, 36);
    const unit = kind == SWIGLU ? 2 : 1;
    const units = panels / unit;
    const u0 = <i32>((<i64>units * tid) / nthreads);
    const u1 = <i32>((<i64>units * (tid + 1)) / nthreads);
    if (u0 >= u1 || m == 0) continue;
    const p0 = u0 * unit;
    const p1 = u1 * unit;
    if (m == 1) gemv2(a, k, b, p0, p1, bias, c);
    else gemm(a, lda, m, k, b, p0, p1, bias, c, ldc, kc);
    if (kind == SWIGLU) swiglu(c, ldc, m, u0, u1, load<u32>(p, 40), load<i32>(p, 44));
    else if (kind == GELU) geluCols(c, ldc, m, p0 << 4, p1 << 4);
    else if (kind == RELU) reluCols(c, ldc, m, p0 << 4, p1 << 4);
  }
}
