/**
 * `x W^T` for `[out, in]` weight matrices fused column-wise, as graph nodes: a float MatMul on an
 * `[in, sum(out)]` initializer (float32, float16 cast in the graph, every other format decoded to
 * float32 at prepare), or `com.microsoft.MatMulNBits` on the stored q4_0 / q8_0 blocks repacked
 * (see nbits-layout.ts). Matrices of mixed kinds get one node each and a Concat.
 */
import type { HostTensor } from '@moe-runtime/core';
import type { OnnxGraphBuilder } from './onnx-graph.js';
import { NBITS_BLOCK, nbitsOf, repackNBits } from './nbits-layout.js';
import { packColumns } from './weight-layout.js';

/**
 * MatMulNBits' `accuracy_level` per code width: 0 computes on float32 activations, 4 quantizes
 * activations to int8 blocks (as llama.cpp does). onnxruntime 1.30's CPU kernel has a fast path
 * for 8-bit codes only at level 4.
 */
export interface NBitsAccuracy {
  readonly 4: 0 | 4;
  readonly 8: 0 | 4;
}

/** Whether all matrices go through one MatMulNBits node (one shared q4_0 / q8_0 format). */
function oneNBits(weights: readonly HostTensor[]): boolean {
  return nbitsOf(weights[0].dtype) !== undefined && weights.every((w) => w.dtype === weights[0].dtype);
}

function nbitsNode(g: OnnxGraphBuilder, name: string, x: string, weights: readonly HostTensor[], out: string, accuracy: NBitsAccuracy): void {
  const w = repackNBits(weights);
  const blocks = w.k / NBITS_BLOCK;
  g.initializer(`${name}_q`, { type: 'uint8', dims: [w.n, blocks, (NBITS_BLOCK * w.bits) / 8], data: w.codes });
  g.initializer(`${name}_s`, { type: 'float32', dims: [w.n * blocks], data: w.scales });
  const inputs = [x, `${name}_q`, `${name}_s`];
  if (w.zeroPoints) {
    g.initializer(`${name}_z`, { type: 'uint8', dims: [w.n * blocks], data: w.zeroPoints });
    inputs.push(`${name}_z`);
  }
  const attributes = { K: { i: w.k }, N: { i: w.n }, bits: { i: w.bits }, block_size: { i: NBITS_BLOCK }, accuracy_level: { i: accuracy[w.bits] } };
  g.node('MatMulNBits', inputs, [out], attributes, 'com.microsoft');
}

/** Adds `out = x [W_0 | W_1 | ...]^T` to `g`; initializers are named from `name`. */
export function matmulNode(g: OnnxGraphBuilder, name: string, x: string, weights: readonly HostTensor[], out: string, accuracy: NBitsAccuracy): void {
  if (oneNBits(weights)) return nbitsNode(g, name, x, weights, out, accuracy);
  const anyNBits = weights.some((w) => nbitsOf(w.dtype) !== undefined);
  if (!anyNBits || weights.length === 1) {
    g.node('MatMul', [x, g.floatConstant(`${name}_w`, packColumns(weights))], [out]);
    return;
  }
  const parts = weights.map((w, i) => {
    matmulNode(g, `${name}_${i}`, x, [w], `${name}_${i}_y`, accuracy);
    return `${name}_${i}_y`;
  });
  g.node('Concat', parts, [out], { axis: { i: 1 } });
}
