/**
 * onnxruntime's own contrib operator `com.microsoft.MoE` (CPU, float32) on the same weights:
 * an independent implementation of Mixtral-style routing and expert FFNs, used to
 * cross-check this backend and as the benchmark's baseline.
 *
 * Layout the CPU kernel reads (onnxruntime/contrib_ops/cpu/moe/moe_cpu.cc, moe_utils.cc):
 * - `router_probs` [T, E] takes raw logits; the kernel applies softmax, top-k, and divides by
 *   the top-k sum when `normalize_routing_weights` = 1;
 * - `fc1_experts_weights` [E, F1, D] in `[out, in]` per expert; for SwiGLU F1 = 2F with gate
 *   and up rows interleaved (row 2j = gate j, row 2j+1 = up j) and `swiglu_fusion` = 1 (the
 *   only SwiGLU format the CPU kernel accepts); `fc1_experts_bias` [E, F1] interleaved alike;
 * - `fc2_experts_weights` [E, D, F], `fc2_experts_bias` [E, D]; FC3 is not implemented on CPU;
 * - SwiGLU defaults `activation_alpha` 1, `activation_beta` 0, `swiglu_limit` inf give
 *   silu(gate) * up; its `gelu` is the tanh approximation (this runtime's GELU is exact erf);
 *   `activation_alpha` 1.702, `activation_beta` 1, `swiglu_limit` 7 give gpt-oss's clamped SwiGLU.
 */
import { CLAMPED_SWIGLU_ALPHA, CLAMPED_SWIGLU_LIMIT, ConfigError, isGatedKind, ShapeError, validateExpertGroup, type BackendOptions, type ExpertGroup, type HostTensor } from '@moe-runtime/core';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { OnnxGraphBuilder } from './onnx-graph.js';
import { resolveOnnxOptions, type OnnxBackendOptions } from './options.js';
import { createSession, float32Output, runSession } from './sessions.js';

/** Options of the `com.microsoft.MoE` graph. */
export interface MicrosoftMoEOptions {
  /** Experts per token. */
  readonly k: number;
  /** Divide the top-k probabilities by their sum (Mixtral). Default true. */
  readonly normalizeRoutingWeights?: boolean;
  /**
   * How gate/up rows are laid out in fc1. `interleaved` (default) is what the CPU kernel
   * reads; `chunked` (all gate rows, then all up rows) exists so tests can prove that a wrong
   * layout, which passes every shape check, is caught.
   */
  readonly fc1Layout?: 'interleaved' | 'chunked';
}

const ACTIVATION: Record<ExpertGroup['kind'], string> = { swiglu: 'swiglu', 'clamped-swiglu': 'swiglu', gelu: 'gelu', relu: 'relu' };

/** The fc1 sources of expert e: [weight, bias] pairs (gate then up for SwiGLU). */
function fc1Parts(group: ExpertGroup, e: number): [Float32Array, Float32Array | undefined][] {
  const w = group.experts[e];
  const pair = (m: HostTensor, b?: HostTensor): [Float32Array, Float32Array | undefined] => [m.toFloat32(), b?.toFloat32()];
  return isGatedKind(group.kind) ? [pair(w.gate!, w.gateBias), pair(w.up, w.upBias)] : [pair(w.up, w.upBias)];
}

/** Serialises a one-node graph `output = com.microsoft.MoE(input, router_probs, fc1, fc2, ...)`. */
export function buildMicrosoftMoEGraph(group: ExpertGroup, options: MicrosoftMoEOptions): Uint8Array {
  validateExpertGroup(group);
  const { hiddenSize: d, ffnSize: f } = group;
  const e = group.experts.length;
  const swiglu = isGatedKind(group.kind);
  const layout = options.fc1Layout ?? 'interleaved';
  const f1 = swiglu ? 2 * f : f;
  const hasBias = group.experts.some((x) => x.upBias || x.gateBias || x.downBias);
  const fc1 = new Float32Array(e * f1 * d);
  const fc1b = new Float32Array(e * f1);
  const fc2 = new Float32Array(e * d * f);
  const fc2b = new Float32Array(e * d);
  for (let j = 0; j < e; j++) {
    const parts = fc1Parts(group, j);
    // Row r of expert j's fc1: which part and which row of it.
    for (let r = 0; r < f1; r++) {
      const [p, row] = !swiglu ? [0, r] : layout === 'interleaved' ? [r & 1, r >> 1] : [r < f ? 0 : 1, r % f];
      const [w, b] = parts[p];
      fc1.set(w.subarray(row * d, (row + 1) * d), (j * f1 + r) * d);
      if (b) fc1b[j * f1 + r] = b[row];
    }
    fc2.set(group.experts[j].down.toFloat32(), j * d * f);
    const db = group.experts[j].downBias?.toFloat32();
    if (db) fc2b.set(db, j * d);
  }
  const g = new OnnxGraphBuilder('com_microsoft_moe');
  g.input('input', 'float32', ['tokens', d]);
  g.input('router_probs', 'float32', ['tokens', e]);
  g.initializer('fc1', { type: 'float32', dims: [e, f1, d], data: fc1 });
  g.initializer('fc2', { type: 'float32', dims: [e, d, f], data: fc2 });
  if (hasBias) {
    g.initializer('fc1_bias', { type: 'float32', dims: [e, f1], data: fc1b });
    g.initializer('fc2_bias', { type: 'float32', dims: [e, d], data: fc2b });
  }
  const inputs = ['input', 'router_probs', 'fc1', hasBias ? 'fc1_bias' : '', 'fc2', hasBias ? 'fc2_bias' : ''];
  const attrs = {
    k: { i: options.k },
    activation_type: { s: ACTIVATION[group.kind] },
    normalize_routing_weights: { i: options.normalizeRoutingWeights === false ? 0 : 1 },
    ...(swiglu ? { swiglu_fusion: { i: 1 } } : {}),
    ...(group.kind === 'clamped-swiglu' ? { activation_alpha: { f: CLAMPED_SWIGLU_ALPHA }, activation_beta: { f: 1 }, swiglu_limit: { f: CLAMPED_SWIGLU_LIMIT } } : {}),
  };
  g.node('MoE', inputs, ['output'], attrs, 'com.microsoft');
  g.output('output', 'float32', ['tokens', d]);
  return g.toModel();
}

/** A session running `com.microsoft.MoE` over one expert group. */
export class MicrosoftMoEOperator {
  private constructor(
    private readonly session: InferenceSession,
    readonly hiddenSize: number,
    readonly numExperts: number,
  ) {}

  /** Builds the graph and its session (CPU; `backendOptions` as for the `onnx` backend). */
  static async create(group: ExpertGroup, options: MicrosoftMoEOptions, backendOptions: BackendOptions | OnnxBackendOptions = {}): Promise<MicrosoftMoEOperator> {
    validateExpertGroup(group); // before k's bound reads group.experts
    if (!Number.isInteger(options?.k) || options.k < 1 || options.k > group.experts.length) {
      throw new ConfigError('k', `com.microsoft.MoE needs an integer in [1, ${group.experts.length}], got ${JSON.stringify(options.k)}`);
    }
    const session = await createSession('com.microsoft.MoE', buildMicrosoftMoEGraph(group, options), resolveOnnxOptions(backendOptions));
    return new MicrosoftMoEOperator(session, group.hiddenSize, group.experts.length);
  }

  /** y [T, D] from x [T, D] and raw router logits [T, E]. */
  async run(x: Float32Array, logits: Float32Array, numTokens: number): Promise<Float32Array> {
    const { hiddenSize: d, numExperts: e } = this;
    if (!Number.isInteger(numTokens) || numTokens < 0) throw new ShapeError(`com.microsoft.MoE: numTokens must be a non-negative integer, got ${numTokens}`);
    if (!(x instanceof Float32Array) || !(logits instanceof Float32Array)) throw new ShapeError('com.microsoft.MoE: x and logits must be Float32Arrays');
    if (x.length !== numTokens * d) throw new ShapeError(`com.microsoft.MoE: x has ${x.length} values, expected ${numTokens} x ${d}`);
    if (logits.length !== numTokens * e) throw new ShapeError(`com.microsoft.MoE: logits have ${logits.length} values, expected ${numTokens} x ${e}`);
    const out = await runSession('com.microsoft.MoE', this.session, {
      input: new Tensor('float32', x, [numTokens, d]),
      router_probs: new Tensor('float32', logits, [numTokens, e]),
    });
    return float32Output('com.microsoft.MoE output', out.output, numTokens * d);
  }

  /** Releases the session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
