/**
 * The `tfjs` backend: MoE expert groups and linear layers on TensorFlow.js.
 *
 * Weights are uploaded once per layer, transposed to `[in, out]` so every matMul is a plain
 * 2-D one (XNNPACK's fast path on wasm). A forward pass gathers each expert's routed rows on
 * the host into one contiguous block, runs that expert's FFN on exactly those rows, reads the
 * concatenated outputs back once and combines them per token on the host. Every tfjs op of a
 * pass runs synchronously inside one `tf.tidy`, so intermediates are freed even when an op
 * throws; only the final read is awaited, and its tensor is disposed in a `finally`.
 */
import {
  checkRoutingPlan,
  BackendError,
  MoeError,
  ShapeError,
  errorMessage,
  type Backend,
  type ExpertGroup,
  type LinearWeights,
  type PreparedExperts,
  type PreparedLinear,
  type RoutingPlan,
  ResidentBytes,
  combineRows,
  ExpertWorkCounter,
  gatherRows,
  maxExpertRows,
  validateExpertGroup,
  validateLinearWeights,
} from '@moe-runtime/core';
import { assertActiveEngine, claimEngine, heldEngine, releaseEngine } from './engine-lock.js';
import { startBestEngine, type StartedEngine } from './engine-loader.js';
import type { TfjsEngine } from './engine-name.js';
import { expertForward, expertTensorList, project, type ExpertTensors } from './expert-ffn.js';
import { toInOut } from './layout.js';
import { estimateActivationBytes, estimateExpertBytes, estimateLinearBytes, wasmHeap } from './memory-budget.js';
import { parseTfjsOptions, WASM_HEAP_LIMIT_BYTES, type TfjsBackendOptions } from './options.js';
import { TfjsExperts, TfjsLinear } from './prepared.js';
import { tf, type Tensor, type Tensor2D } from './tf.js';

/** Reads a tensor's float32 data and disposes it, on success and on failure. */
async function readAndDispose(t: Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** Disposes whatever tensors were made before a failure. */
function disposeAll(tensors: readonly (Tensor | undefined)[]): void {
  for (const t of tensors) t?.dispose();
}

/** A Backend running on one tfjs engine, fixed when it is created. */
export class TfjsBackend implements Backend {
  readonly name = 'tfjs';
  /** What runs, e.g. `wasm (XNNPACK, SIMD, 1 thread)` or `tensorflow (CUDA, tfjs-node-gpu)`. */
  readonly engine: string;
  readonly threads?: number;
  /** The tfjs engine this instance holds. */
  readonly tfjsEngine: TfjsEngine;
  private readonly heapLimit: number;
  /**
   * Resident bytes: every format is decoded to float32 at prepare and XNNPACK keeps a packed
   * copy after the first matMul, so 8 bytes per value (see memory-budget.ts; measured with
   * core/testing's resident probe, 22M values, 2026-12-02: 7.5-7.9 after a forward pass, for
   * f32, f16 and q8_0). The wasm engine's heap is its ceiling.
   */
  readonly memory: ResidentBytes;
  private readonly live = new Set<TfjsLinear | TfjsExperts>();
  private disposed = false;
  /** Test hook: the expert FFNs `runExperts` dispatched (see core's ExpertWorkCounter). */
  readonly expertWork = new ExpertWorkCounter();

  private constructor(started: StartedEngine, heapLimit: number) {
    this.tfjsEngine = started.engine;
    this.engine = started.description;
    this.threads = started.threads;
    this.heapLimit = started.engine === 'wasm' ? heapLimit : Infinity;
    this.memory = new ResidentBytes(() => 8, Number.isFinite(this.heapLimit) ? this.heapLimit : undefined);
  }

  /**
   * Starts the requested engine (or the best available, or the one live instances already
   * hold) and returns a backend bound to it.
   */
  static async create(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
    const opts = parseTfjsOptions(options);
    const requested = opts.engine ?? heldEngine();
    // Claim first, so a conflicting engine is refused before tf.setBackend switches anything.
    if (requested) claimEngine(requested);
    let started: StartedEngine;
    try {
      started = await startBestEngine(requested);
    } catch (err) {
      if (requested) releaseEngine();
      throw err;
    }
    if (!requested) claimEngine(started.engine);
    return new TfjsBackend(started, opts.wasmHeapLimitBytes ?? WASM_HEAP_LIMIT_BYTES);
  }

  async prepareLinear(weights: LinearWeights): Promise<PreparedLinear> {
    this.ensureUsable();
    validateLinearWeights(weights);
    const [out, inp] = weights.weight.shape;
    const bytes = estimateLinearBytes(weights);
    this.reserve(`a linear layer [${out}, ${inp}]`, bytes);
    let w: Tensor2D | undefined;
    try {
      w = tf.tensor2d(toInOut(weights.weight), [inp, out]);
      const b = weights.bias ? tf.tensor1d(weights.bias.toFloat32().slice()) : undefined;
      const layer: TfjsLinear = new TfjsLinear(this, inp, out, w, b, () => this.forget(layer, bytes));
      this.live.add(layer);
      return this.memory.track(layer, this.memory.linearBytes(weights));
    } catch (err) {
      w?.dispose();
      this.release(bytes);
      throw this.wrap('prepareLinear', err);
    }
  }

  async linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array> {
    this.ensureUsable();
    const l = this.own(layer, TfjsLinear, 'linear');
    if (!Number.isInteger(rows) || rows < 0) throw new ShapeError(`linear: rows must be a non-negative integer, got ${rows}`);
    if (!(x instanceof Float32Array)) throw new ShapeError(`linear: x must be a Float32Array, got ${(x as object)?.constructor?.name ?? typeof x}`);
    if (x.length !== rows * l.inFeatures) {
      throw new ShapeError(`linear: x has ${x?.length} elements, expected rows x in = ${rows} x ${l.inFeatures} = ${rows * l.inFeatures}`);
    }
    if (rows === 0) return new Float32Array(0);
    try {
      const y = tf.tidy(() => project(tf.tensor2d(x, [rows, l.inFeatures]), l.weight, l.bias));
      return await readAndDispose(y);
    } catch (err) {
      throw this.wrap('linear', err);
    }
  }

  async prepareExperts(group: ExpertGroup): Promise<PreparedExperts> {
    this.ensureUsable();
    validateExpertGroup(group);
    const { kind, hiddenSize: d, ffnSize: f } = group;
    const bytes = estimateExpertBytes(group);
    this.reserve(`an expert group (${group.experts.length} x ${kind}, D=${d}, F=${f})`, bytes);
    const made: ExpertTensors[] = [];
    try {
      for (const e of group.experts) made.push(uploadExpert(e, d, f));
    } catch (err) {
      for (const e of made) disposeAll(expertTensorList(e));
      this.release(bytes);
      throw this.wrap('prepareExperts', err);
    }
    const prepared: TfjsExperts = new TfjsExperts(this, kind, d, f, made, () => this.forget(prepared, bytes));
    this.live.add(prepared);
    return this.memory.track(prepared, this.memory.groupBytes(group));
  }

  async runExperts(experts: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
    this.ensureUsable();
    const h = this.own(experts, TfjsExperts, 'runExperts');
    const d = h.hiddenSize;
    checkPlan(h, x, plan);
    const rows = plan.rowToken.length;
    if (rows === 0) return new Float32Array(plan.numTokens * d);
    if (this.tfjsEngine === 'wasm') {
      wasmHeap.check(`a forward pass over ${rows} routed rows`, estimateActivationBytes(rows, maxExpertRows(plan), d, h.ffnSize), this.heapLimit);
    }
    const grouped = gatherRows(x, d, plan);
    try {
      const out = tf.tidy(() => {
        const parts: Tensor2D[] = [];
        for (let e = 0; e < h.numExperts; e++) {
          const start = plan.expertOffsets[e];
          const n = plan.expertOffsets[e + 1] - start;
          if (n === 0) continue; // only routed experts run
          this.expertWork.record(e, n);
          const xe = tf.tensor2d(grouped.subarray(start * d, (start + n) * d), [n, d]);
          parts.push(expertForward(h.kind, h.experts[e], xe));
        }
        return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
      });
      return combineRows(plan, d, await readAndDispose(out));
    } catch (err) {
      throw this.wrap('runExperts', err);
    }
  }

  /** Frees every layer this backend prepared and releases its hold on the tfjs engine. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    for (const p of [...this.live]) p.dispose();
    this.disposed = true;
    releaseEngine();
  }

  private ensureUsable(): void {
    if (this.disposed) throw new BackendError("this 'tfjs' backend has been disposed");
    assertActiveEngine(this.tfjsEngine);
  }

  private own<T extends TfjsLinear | TfjsExperts>(handle: unknown, type: abstract new (...args: never[]) => T, what: string): T {
    if (!(handle instanceof type) || handle.owner !== this) {
      throw new BackendError(`${what}: the handle was not prepared by this 'tfjs' backend instance; prepare it on this backend`);
    }
    if (handle.disposed) throw new BackendError(`${what}: the handle has been disposed`);
    return handle;
  }

  private reserve(what: string, bytes: number): void {
    if (this.tfjsEngine === 'wasm') wasmHeap.reserve(what, bytes, this.heapLimit);
  }

  private release(bytes: number): void {
    if (this.tfjsEngine === 'wasm') wasmHeap.release(bytes);
  }

  private forget(handle: TfjsLinear | TfjsExperts, bytes: number): void {
    this.live.delete(handle);
    this.release(bytes);
  }

  /** Our own typed errors pass through; a tfjs failure becomes a BackendError naming the engine. */
  private wrap(what: string, err: unknown): Error {
    if (err instanceof MoeError) return err;
    return new BackendError(`tfjs '${this.tfjsEngine}' engine failed in ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

function uploadExpert(e: ExpertGroup['experts'][number], d: number, f: number): ExpertTensors {
  const made: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => (made.push(t), t);
  try {
    return {
      gate: e.gate ? keep(tf.tensor2d(toInOut(e.gate), [d, f])) : undefined,
      up: keep(tf.tensor2d(toInOut(e.up), [d, f])),
      down: keep(tf.tensor2d(toInOut(e.down), [f, d])),
      gateBias: e.gateBias ? keep(tf.tensor1d(e.gateBias.toFloat32().slice())) : undefined,
      upBias: e.upBias ? keep(tf.tensor1d(e.upBias.toFloat32().slice())) : undefined,
      downBias: e.downBias ? keep(tf.tensor1d(e.downBias.toFloat32().slice())) : undefined,
    };
  } catch (err) {
    disposeAll(made);
    throw err;
  }
}

/** Throws a ShapeError unless `x` and `plan` match the prepared experts. */
function checkPlan(h: TfjsExperts, x: Float32Array, plan: RoutingPlan): void {
  checkRoutingPlan(plan, h.numExperts);
  if (!(x instanceof Float32Array)) throw new ShapeError(`runExperts: x must be a Float32Array, got ${(x as object)?.constructor?.name ?? typeof x}`);
  const expected = plan.numTokens * h.hiddenSize;
  if (x.length !== expected) {
    throw new ShapeError(`runExperts: x has ${x.length} elements, expected numTokens x hiddenSize = ${plan.numTokens} x ${h.hiddenSize} = ${expected}`);
  }
}
