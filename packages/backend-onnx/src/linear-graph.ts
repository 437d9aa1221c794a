/**
 * The ONNX graph of a linear layer: y [rows, out] = x [rows, in] W (+ b), with W stored as a
 * constant `[in, out]` initializer (pre-packed by MLAS, no transpose at run time), or q4_0 / q8_0
 * blocks through MatMulNBits.
 */
import type { LinearWeights } from '@moe-runtime/core';
import { OnnxGraphBuilder } from './onnx-graph.js';
import { matmulNode, type NBitsAccuracy } from './matmul-node.js';
import { packVector } from './weight-layout.js';

/** Input and output names of a linear graph. */
export const LINEAR_INPUT = 'x';
export const LINEAR_OUTPUT = 'y';

/** Serialises the graph of one linear layer. */
export function buildLinearGraph(weights: LinearWeights, accuracy: NBitsAccuracy): Uint8Array {
  const [out, inF] = weights.weight.shape;
  const g = new OnnxGraphBuilder('linear');
  g.input(LINEAR_INPUT, 'float32', ['rows', inF]);
  if (weights.bias) {
    matmulNode(g, 'w', LINEAR_INPUT, [weights.weight], 'mm', accuracy);
    g.node('Add', ['mm', g.floatConstant('b', packVector([weights.bias]))], [LINEAR_OUTPUT]);
  } else {
    matmulNode(g, 'w', LINEAR_INPUT, [weights.weight], LINEAR_OUTPUT, accuracy);
  }
  g.output(LINEAR_OUTPUT, 'float32', ['rows', out]);
  return g.toModel();
}
