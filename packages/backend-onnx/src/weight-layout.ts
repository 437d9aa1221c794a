/**
 * Host-side re-layout of weights into graph initializers, done once at prepare time.
 *
 * - Matrices arrive `[out, in]` (PyTorch Linear) and become `[in, out]`, so the graph's MatMul
 *   needs no transpose and MLAS pre-packs the constant B operand.
 * - float16 stays float16 in the initializer (half the model bytes); the graph casts it to
 *   float32 and constant folding turns the cast into a float32 initializer: float32 compute.
 * - bfloat16 is widened to float32 here: onnxruntime has no bfloat16 MatMul on CPU and bf16
 *   tensors cannot cross the JS boundary.
 */
import type { HostTensor } from '@moe-runtime/core';
import type { InitializerData } from './onnx-graph.js';

/** The initializer element type a set of tensors packs into. */
function packedType(tensors: readonly HostTensor[]): 'float16' | 'float32' {
  return tensors.every((t) => t.dtype === 'float16') ? 'float16' : 'float32';
}

function rawValues(t: HostTensor, type: 'float16' | 'float32'): Float32Array | Uint16Array {
  return type === 'float16' ? (t.data as Uint16Array) : t.toFloat32();
}

/**
 * Transposes `[out_i, in]` matrices and places them side by side: `[in, sum(out_i)]`, the
 * columns of matrix 0 first. One matrix gives its plain transpose.
 */
export function packColumns(matrices: readonly HostTensor[]): InitializerData {
  const type = packedType(matrices);
  const inF = matrices[0].shape[1];
  const width = matrices.reduce((s, m) => s + m.shape[0], 0);
  const out = type === 'float16' ? new Uint16Array(inF * width) : new Float32Array(inF * width);
  let col = 0;
  for (const m of matrices) {
    const rows = m.shape[0];
    const src = rawValues(m, type);
    // Row-blocked so both the read and the write stream through cache lines.
    const B = 64;
    for (let r0 = 0; r0 < rows; r0 += B) {
      const r1 = Math.min(rows, r0 + B);
      for (let c = 0; c < inF; c++) {
        const dst = c * width + col;
        for (let r = r0; r < r1; r++) out[dst + r] = src[r * inF + c];
      }
    }
    col += rows;
  }
  return { type, dims: [inF, width], data: out };
}

/** Concatenates vectors (biases) into one `[sum(n_i)]` initializer. */
export function packVector(vectors: readonly HostTensor[]): InitializerData {
  const type = packedType(vectors);
  const n = vectors.reduce((s, v) => s + v.size, 0);
  const out = type === 'float16' ? new Uint16Array(n) : new Float32Array(n);
  let o = 0;
  for (const v of vectors) {
    out.set(rawValues(v, type), o);
    o += v.size;
  }
  return { type, dims: [n], data: out };
}
