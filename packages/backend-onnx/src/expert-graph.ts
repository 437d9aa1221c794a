/**
 * The ONNX graph of an expert group: one input per expert (that expert's routed rows,
 * gathered on the host, `[n_e, D]`, possibly 0 rows) and one output per expert (`[n_e, D]`).
 * Each expert's FFN reads its weights from constant initializers, so onnxruntime pre-packs
 * them once at session creation:
 *
 *   swiglu: h = x [D, 2F](gate|up) (+b); g, u = Split(h); a = g * Sigmoid(g) * u; y = a [F, D] (+b)
 *   clamped-swiglu (gpt-oss): g, u as swiglu; g' = Min(g, 7); u' = Clip(u, -7, 7);
 *           a = (u' + 1) * g' * Sigmoid(1.702 g'); y as swiglu
 *   gelu:   y = Gelu(x [D, F] (+b)) [F, D] (+b)      (exact erf GELU, opset 20+)
 *   relu:   y = Relu(x [D, F] (+b)) [F, D] (+b)
 */
import { CLAMPED_SWIGLU_ALPHA, CLAMPED_SWIGLU_LIMIT, HostTensor, isGatedKind, ShapeError, type ExpertGroup } from '@moe-runtime/core';
import { OnnxGraphBuilder } from './onnx-graph.js';
import { matmulNode, type NBitsAccuracy } from './matmul-node.js';
import { nbitsBytes, nbitsOf } from './nbits-layout.js';
import { packVector } from './weight-layout.js';

/** Graph input name of expert e's rows. */
export function expertInputName(e: number): string {
  return `x${e}`;
}

/** Graph output name of expert e's result rows. */
export function expertOutputName(e: number): string {
  return `y${e}`;
}


/** x W^T (+ b) with the `[out, in]` matrices fused column-wise (a missing bias part is 0). */
function linear(g: OnnxGraphBuilder, prefix: string, x: string, weights: readonly HostTensor[], biases: readonly (HostTensor | undefined)[], out: string, accuracy: NBitsAccuracy): string {
  const hasBias = biases.some((b) => b !== undefined);
  const mm = hasBias ? `${prefix}_mm` : out;
  matmulNode(g, prefix, x, weights, mm, accuracy);
  if (!hasBias) return out;
  const parts = biases.map((b, i) => b ?? HostTensor.float32([weights[i].shape[0]]));
  g.node('Add', [mm, g.floatConstant(`${prefix}_b`, packVector(parts))], [out]);
  return out;
}

/** A float32 scalar initializer. */
function scalar(g: OnnxGraphBuilder, name: string, v: number): string {
  return g.floatConstant(name, { type: 'float32', dims: [], data: Float32Array.of(v) });
}

/** gpt-oss's clamped SwiGLU (core's `clampedSwiglu`) on the fused [gate | up] columns `h`. */
function clampedSwiglu(g: OnnxGraphBuilder, prefix: string, h: string, out: string): void {
  const limit = scalar(g, `${prefix}_limit`, CLAMPED_SWIGLU_LIMIT);
  g.node('Split', [h], [`${prefix}_gate`, `${prefix}_up`], { axis: { i: 1 }, num_outputs: { i: 2 } });
  g.node('Min', [`${prefix}_gate`, limit], [`${prefix}_gc`]);
  g.node('Clip', [`${prefix}_up`, scalar(g, `${prefix}_neglimit`, -CLAMPED_SWIGLU_LIMIT), limit], [`${prefix}_uc`]);
  g.node('Mul', [`${prefix}_gc`, scalar(g, `${prefix}_alpha`, CLAMPED_SWIGLU_ALPHA)], [`${prefix}_ag`]);
  g.node('Sigmoid', [`${prefix}_ag`], [`${prefix}_sig`]);
  g.node('Mul', [`${prefix}_gc`, `${prefix}_sig`], [`${prefix}_glu`]);
  g.node('Add', [`${prefix}_uc`, scalar(g, `${prefix}_one`, 1)], [`${prefix}_u1`]);
  g.node('Mul', [`${prefix}_u1`, `${prefix}_glu`], [out]);
}

function activation(g: OnnxGraphBuilder, kind: ExpertGroup['kind'], prefix: string, h: string): string {
  const out = `${prefix}_act`;
  switch (kind) {
    case 'swiglu': {
      g.node('Split', [h], [`${prefix}_gate`, `${prefix}_up`], { axis: { i: 1 }, num_outputs: { i: 2 } });
      g.node('Sigmoid', [`${prefix}_gate`], [`${prefix}_sig`]);
      g.node('Mul', [`${prefix}_gate`, `${prefix}_sig`], [`${prefix}_silu`]);
      g.node('Mul', [`${prefix}_silu`, `${prefix}_up`], [out]);
      return out;
    }
    case 'clamped-swiglu':
      clampedSwiglu(g, prefix, h, out);
      return out;
    case 'gelu':
      g.node('Gelu', [h], [out], { approximate: { s: 'none' } });
      return out;
    case 'relu':
      g.node('Relu', [h], [out]);
      return out;
  }
}

/** Serialises the graph computing `experts` (indices into `group.experts`) side by side. */
export function buildExpertGraph(group: ExpertGroup, experts: readonly number[], accuracy: NBitsAccuracy): Uint8Array {
  const g = new OnnxGraphBuilder(`moe_${group.kind}_experts`);
  const d = group.hiddenSize;
  for (const e of experts) {
    const w = group.experts[e];
    const x = expertInputName(e);
    g.input(x, 'float32', [`n${e}`, d]);
    const gated = isGatedKind(group.kind);
    const first = gated ? [w.gate!, w.up] : [w.up];
    const firstBias = gated ? [w.gateBias, w.upBias] : [w.upBias];
    const h = linear(g, `e${e}_fc1`, x, first, firstBias, `e${e}_h`, accuracy);
    const a = activation(g, group.kind, `e${e}`, h);
    linear(g, `e${e}_fc2`, a, [w.down], [w.downBias], expertOutputName(e), accuracy);
    g.output(expertOutputName(e), 'float32', [`n${e}`, d]);
  }
  return g.toModel();
}

/** Bytes a tensor takes in a graph: float16 2 per value, q4_0 / q8_0 as MatMulNBits inputs, everything else decoded to 4. */
function graphBytes(t: HostTensor): number {
  const bits = nbitsOf(t.dtype);
  if (bits !== undefined) return nbitsBytes(bits, t.shape[0], t.shape[1]);
  return t.size * (t.dtype === 'float16' ? 2 : 4);
}

/** Bytes expert e's weights take in a graph. */
export function expertGraphBytes(group: ExpertGroup, e: number): number {
  const w = group.experts[e];
  const tensors = [w.gate, w.up, w.down, w.gateBias, w.upBias, w.downBias].filter((t): t is HostTensor => t !== undefined);
  return tensors.reduce((s, t) => s + graphBytes(t), 0);
}

/**
 * Splits experts 0..E-1 into runs of at most `maxExperts` consecutive experts whose weights fit
 * `maxBytes` per graph. Throws a ShapeError when a single expert does not fit.
 */
export function chunkExperts(group: ExpertGroup, maxBytes: number, maxExperts = Infinity): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  for (let e = 0; e < group.experts.length; e++) {
    const b = expertGraphBytes(group, e);
    if (b > maxBytes) {
      throw new ShapeError(`expert ${e} holds ${b} bytes of weights, more than one ONNX graph may hold (backend.options.maxGraphBytes = ${maxBytes})`);
    }
    if (current.length && (bytes + b > maxBytes || current.length >= maxExperts)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(e);
    bytes += b;
  }
  if (current.length) chunks.push(current);
  return chunks;
}
