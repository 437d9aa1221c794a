/**
 * The `onnx` backend: onnxruntime-node sessions over graphs written in TypeScript.
 *
 * - `prepareLinear`: a MatMul (+Add) graph, weight as an `[in, out]` initializer.
 * - `prepareExperts`: one graph per expert group with every expert's FFN side by side and the
 *   weights as constant initializers (pre-packed once by MLAS); `runExperts` gathers each
 *   expert's routed rows on the host, makes one `session.run` per call, and combines the
 *   per-expert outputs in TypeScript in the plan's per-token row order.
 * - `createKvCache` / `attend` / `copyKvPrefix`: KV caches onnxruntime reads in place and a
 *   MatMul/Softmax attention graph (onnx-attention.ts).
 *
 * `session.run` is synchronous inside onnxruntime-node: it blocks the event loop while it
 * computes (a server runs inference in worker threads).
 */
import {
  isBlockFormat,
  ResidentBytes,
  checkRoutingPlan,
  BackendError,
  combineRows,
  ExpertWorkCounter,
  errorMessage,
  gatherExpertRows,
  HostTensor,
  ShapeError,
  type AttentionLayerSpec,
  type AttentionSegment,
  type Backend,
  type BackendOptions,
  type KvCache,
  type KvCacheSpec,
  type ExpertGroup,
  type LinearWeights,
  type PreparedExperts,
  type PreparedLinear,
  type RoutingPlan,
  validateExpertGroup,
  validateLinearWeights,
} from '@moe-runtime/core';
import { Tensor } from 'onnxruntime-node';
import { buildExpertGraph, chunkExperts, expertInputName, expertOutputName } from './expert-graph.js';
import type { NBitsAccuracy } from './matmul-node.js';
import { OnnxAttention } from './onnx-attention.js';
import { buildLinearGraph, LINEAR_INPUT, LINEAR_OUTPUT } from './linear-graph.js';
import { resolveOnnxOptions, type OnnxBackendOptions, type ResolvedOnnxOptions } from './options.js';
import { OnnxPreparedExperts, OnnxPreparedLinear, type ExpertSession, type Releasable } from './prepared.js';
import { checkProviders, createSession, float32Output, ORT_VERSION, runSession } from './sessions.js';

/** The most experts one graph of a group holds under these options. */
function expertsPerGraph(options: ResolvedOnnxOptions): number {
  switch (options.expertGraph) {
    case 'grouped':
      return Infinity;
    case 'per-expert':
      return 1;
    case 'auto':
      return options.expertsPerGraph;
  }
}

/** A Backend on onnxruntime-node. Create it with {@link OnnxBackend.create}. */
export class OnnxBackend implements Backend {
  readonly name = 'onnx';
  readonly engine: string;
  readonly threads: number;
  /** The validated options this backend runs with. */
  readonly options: ResolvedOnnxOptions;
  private readonly live = new Set<Releasable>();
  private disposed = false;
  /**
   * Resident bytes as this backend holds weights: float32, float16 (cast in the graph, which
   * onnxruntime folds to float32 at session creation) and bfloat16 as float32 initializers with
   * MLAS's pre-packed copy beside them; q4_0 and q8_0 as MatMulNBits inputs (4 or 8 bits per
   * code, a float32 scale per 32) with MLAS's packed copy; the other block formats decoded to
   * float32 at prepare. Measured with core/testing's resident probe: 6.7 bytes per value for
   * f32, f16 and bf16, 0.88-1.63 for q4_0, 7.5-8.2 for the decoded block formats (22M values,
   * 2026-12-02); on 2026-12-03 f16 6.3 and f32 7.1-7.8 at 101M values, so floats count 8. q8_0
   * settles only at model scale (2026-12-03): 3.8 at 22M values, 1.97-2.12 at 101M, 1.87 at
   * 201M, 1.83-1.85 at 403M, 1.86 at the peak of a whole OLMoE-1B-7B Q8_0: the buffers
   * onnxruntime frees after packing (about 50 MB, kept by the C heap for reuse) weigh on small
   * groups. Counted at 1.9, the model-scale figure with a margin.
   */
  readonly memory = new ResidentBytes((dtype) => (dtype === 'q4_0' ? 1.5 : dtype === 'q8_0' ? 1.9 : isBlockFormat(dtype) ? 9 : 8));
  /** Test hook: the expert subgraphs `runExperts` ran (see core's ExpertWorkCounter). */
  readonly expertWork = new ExpertWorkCounter();

  /** MatMulNBits' accuracy_level per code width (see OnnxBackendOptions.int8Activations). */
  private readonly accuracy: NBitsAccuracy;
  /** KV caches and the attention sessions (see onnx-attention.ts). */
  private readonly attention: OnnxAttention;

  private constructor(options: ResolvedOnnxOptions) {
    this.options = options;
    this.accuracy = { 4: options.int8Activations ? 4 : 0, 8: 4 };
    this.threads = options.intraOpThreads;
    this.engine = `onnxruntime-node ${ORT_VERSION} (${options.executionProviders.join(', ')})`;
    this.attention = new OnnxAttention(options, this.memory);
  }

  /**
   * Validates the options (ConfigError naming `backend.options.<key>`), checks that the
   * requested execution providers are installed (BackendError with the install flag
   * otherwise) and proves them with a one-op session.
   */
  static async create(options: BackendOptions | OnnxBackendOptions = {}): Promise<OnnxBackend> {
    const resolved = resolveOnnxOptions(options);
    checkProviders(resolved);
    const backend = new OnnxBackend(resolved);
    if (resolved.executionProviders.includes('cuda')) {
      // Loading the CUDA provider can still fail (driver, cuDNN): find out now, not mid-layer.
      const probe = await backend.prepareLinear({ weight: HostTensor.float32([1, 1], new Float32Array([1])) });
      probe.dispose();
    }
    return backend;
  }

  private alive(): void {
    if (this.disposed) throw new BackendError("the 'onnx' backend has been disposed");
  }

  /** Keeps a new handle for dispose(); one finished after dispose() began is released at once. */
  private track<H extends OnnxPreparedLinear | OnnxPreparedExperts>(handle: H): H {
    if (this.disposed) {
      handle.dispose();
      throw new BackendError("the 'onnx' backend was disposed while this layer was being prepared");
    }
    this.live.add(handle);
    return handle;
  }

  private forget = (h: Releasable): void => {
    this.live.delete(h);
  };

  async prepareLinear(weights: LinearWeights): Promise<PreparedLinear> {
    this.alive();
    validateLinearWeights(weights);
    const [out, inF] = weights.weight.shape;
    const session = await createSession(`a linear layer [${out}, ${inF}]`, buildLinearGraph(weights, this.accuracy), this.options);
    return this.memory.track(this.track(new OnnxPreparedLinear(this, inF, out, session, this.forget)), this.memory.linearBytes(weights));
  }

  async linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array> {
    this.alive();
    if (!(layer instanceof OnnxPreparedLinear) || layer.owner !== this) {
      throw new BackendError("linear(): this layer handle was not prepared by this 'onnx' backend instance");
    }
    if (!Number.isInteger(rows) || rows < 0) throw new ShapeError(`linear(): rows must be a non-negative integer, got ${rows}`);
    if (!(x instanceof Float32Array)) throw new ShapeError(`linear(): x must be a Float32Array, got ${(x as object)?.constructor?.name ?? typeof x}`);
    if (x.length !== rows * layer.inFeatures) {
      throw new ShapeError(`linear(): x has ${x?.length} values, expected rows x in = ${rows} x ${layer.inFeatures}`);
    }
    return layer.using(async (session) => {
      const result = await runSession('a linear layer', session, { [LINEAR_INPUT]: new Tensor('float32', x, [rows, layer.inFeatures]) });
      return float32Output('linear output', result[LINEAR_OUTPUT], rows * layer.outFeatures);
    });
  }

  async prepareExperts(group: ExpertGroup): Promise<PreparedExperts> {
    this.alive();
    validateExpertGroup(group);
    const graphs = chunkExperts(group, this.options.maxGraphBytes, expertsPerGraph(this.options));
    const sessions: ExpertSession[] = [];
    try {
      for (const experts of graphs) {
        const what = `${experts.length} ${group.kind} expert(s) [D=${group.hiddenSize}, F=${group.ffnSize}]`;
        sessions.push({ session: await createSession(what, buildExpertGraph(group, experts, this.accuracy), this.options), experts });
      }
    } catch (err) {
      // The creation error is the one to report; a failed release must not become unhandled.
      for (const s of sessions) s.session.release().catch(() => undefined);
      throw err;
    }
    const handle = this.track(new OnnxPreparedExperts(this, group.kind, group.experts.length, group.hiddenSize, group.ffnSize, sessions, this.forget));
    return this.memory.track(handle, this.memory.groupBytes(group));
  }

  async runExperts(experts: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
    this.alive();
    if (!(experts instanceof OnnxPreparedExperts) || experts.owner !== this) {
      throw new BackendError("runExperts(): this expert group handle was not prepared by this 'onnx' backend instance");
    }
    const d = experts.hiddenSize;
    checkRoutingPlan(plan, experts.numExperts);
    if (!(x instanceof Float32Array)) throw new ShapeError(`runExperts(): x must be a Float32Array, got ${(x as object)?.constructor?.name ?? typeof x}`);
    if (x.length !== plan.numTokens * d) {
      throw new ShapeError(`runExperts(): x has ${x?.length} values, expected numTokens x hiddenSize = ${plan.numTokens} x ${d}`);
    }
    return experts.using((sessions) => this.runGroup(sessions, x, plan, d));
  }

  /** One `session.run` per session whose experts got rows, then the host combine. */
  private async runGroup(sessions: readonly ExpertSession[], x: Float32Array, plan: RoutingPlan, d: number): Promise<Float32Array> {
    const outputs: (Float32Array | undefined)[] = new Array(plan.numExperts);
    for (const { session, experts: ids } of sessions) {
      const feeds: Record<string, Tensor> = {};
      let rows = 0;
      for (const e of ids) {
        const n = plan.tokensPerExpert[e];
        rows += n;
        feeds[expertInputName(e)] = new Tensor('float32', gatherExpertRows(x, d, plan, e), [n, d]);
      }
      // A session whose experts got no rows has nothing to compute (a group split over
      // several graphs: `expertsPerGraph`, the per-expert layout, or `maxGraphBytes`).
      if (rows === 0 && sessions.length > 1) continue;
      // Every expert of the graph runs, those with 0 rows too.
      for (const e of ids) this.expertWork.record(e, plan.tokensPerExpert[e]);
      const result = await runSession(`${ids.length} expert(s)`, session, feeds);
      for (const e of ids) outputs[e] = float32Output(`expert ${e} output`, result[expertOutputName(e)], plan.tokensPerExpert[e] * d);
    }
    return combineRows(plan, d, outputs);
  }

  /**
   * A KV cache for one sequence, allocated for its whole capacity (rounded up to whole blocks of
   * 256 positions): float32 and float16 caches as buffers onnxruntime reads in place, q8_0 (and
   * the head sizes of `hostFallbackReason`) as core's host cache, whose attention runs on the
   * host. ConfigError naming the field for a bad spec; BackendError when the memory cannot be had.
   */
  createKvCache(spec: KvCacheSpec): KvCache {
    this.alive();
    return this.attention.createKvCache(spec);
  }

  /** See `Backend.attend`: core's checkAttendCall first, then the MatMul/Softmax attention graph (or the host for a fallback cache). */
  async attend(layer: number, spec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Promise<Float32Array> {
    this.alive();
    return this.attention.attend(layer, spec, segments, q, k, v);
  }

  /** See `Backend.copyKvPrefix` (core's checkCopyKvPrefix first). */
  async copyKvPrefix(src: KvCache, dst: KvCache, positions: number): Promise<void> {
    this.alive();
    return this.attention.copyKvPrefix(src, dst, positions);
  }

  /** Releases every session this backend still holds, and resolves once they are released. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    const handles = [...this.live];
    for (const h of handles) h.dispose();
    this.disposed = true;
    await this.attention.dispose();
    const failed = (await Promise.all(handles.map((h) => h.released))).find((r) => r !== undefined);
    if (failed !== undefined) throw new BackendError(`onnxruntime failed to release a session: ${errorMessage(failed)}`, { cause: failed });
  }
}
