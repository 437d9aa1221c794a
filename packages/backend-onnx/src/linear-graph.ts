/**
 * The ONNX graph of a linear layer: y [rows, out] = x [rows, in] W (+ b), with W stored as a
 * constant `[in, out]` initializer (pre-packed by MLAS, no transpose at run time).
 */
import type { LinearWeights } from '@moe-runtime/core';
import { OnnxGraphBuilder } from './onnx-graph.js';
import { packColumns, packVector } from './weight-layout.js';

/** Input and output names of a linear graph. */
export const LINEAR_INPUT = 'x';
export const LINEAR_OUTPUT = 'y';

/** Serialises the graph of one linear layer. */
export function buildLinearGraph(weights: LinearWeights): Uint8Array {
  const [out, inF] = weights.weight.shape;
  const g = new OnnxGraphBuilder('linear');
  g.input(LINEAR_INPUT, 'float32', ['rows', inF]);
  const w = g.floatConstant('w', packColumns([weights.weight]));
  if (weights.bias) {
    g.node('MatMul', [LINEAR_INPUT, w], ['mm']);
    g.node('Add', ['mm', g.floatConstant('b', packVector([weights.bias]))], [LINEAR_OUTPUT]);
  } else {
    g.node('MatMul', [LINEAR_INPUT, w], [LINEAR_OUTPUT]);
  }
  g.output(LINEAR_OUTPUT, 'float32', ['rows', out]);
  return g.toModel();
}
