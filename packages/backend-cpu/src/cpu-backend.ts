/**
 * The CPU backend: input validation and handle ownership around a compute engine (WebAssembly
 * SIMD on worker threads, or plain TypeScript). Every call computes synchronously on the
 * calling thread (helped by the workers), so concurrent calls are serialised by construction.
 * Attention runs in the engine (KV caches in WebAssembly memory) where it has its own, else in
 * core's host attention (the TypeScript engine).
 */
import {
  checkAttendCall,
  checkCopyKvPrefix,
  checkRoutingPlan,
  checkStorable,
  createHostKvCache,
  hostAttend,
  hostCopyKvPrefix,
  validateKvCacheSpec,
  BackendError,
  ShapeError,
  type Backend,
  type BackendMemory,
  type DType,
  type ExpertWorkCounter,
  type AttentionLayerSpec,
  type AttentionSegment,
  type ExpertGroup,
  type KvCache,
  type KvCacheSpec,
  type LinearWeights,
  type PreparedExperts,
  type PreparedLinear,
  type RoutingPlan,
} from '@moe-runtime/core';
import type { Engine } from './engine.js';
import { CpuPreparedExperts, CpuPreparedLinear } from './handles.js';
import { expertGroupData, linearData } from './prepare-checks.js';

function checkInput(what: string, x: unknown, expected: number): Float32Array {
  if (!(x instanceof Float32Array)) throw new ShapeError(`${what} must be a Float32Array, got ${(x as object)?.constructor?.name ?? typeof x}`);
  if (x.length !== expected) throw new ShapeError(`${what} has ${x.length} values, expected ${expected}`);
  return x;
}

/** The `cpu` backend. Create it with {@link createCpuBackend} or `getBackend('cpu')`. */
export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly engine: string;
  readonly threads: number;
  /**
   * Memory accounting: what a weight costs once prepared (the WebAssembly engine keeps every
   * format as stored, packing only float32 into panels padded to 16 outputs; the TypeScript
   * engine holds float32), and what is held now. No ceiling of its own: the WebAssembly
   * engine adds memories as weights need them, so only the machine limits it.
   */
  readonly memory: BackendMemory;
  private disposed = false;

  constructor(private readonly compute: Engine) {
    this.engine = compute.description;
    this.threads = compute.threads;
    this.memory = {
      residentBytesFor: (dtype: DType, shape: readonly number[]) => compute.residentBytesFor(dtype, shape),
      limitBytes: undefined,
      get residentBytes() {
        return compute.residentBytes;
      },
    };
  }

  /** Test hook: the expert GEMMs dispatched (see core's ExpertWorkCounter). */
  get expertWork(): ExpertWorkCounter {
    return this.compute.expertWork;
  }

  private alive(): void {
    if (this.disposed) throw new BackendError("the 'cpu' backend has been disposed");
  }

  private own<T>(handle: unknown, cls: abstract new (...args: never[]) => T, what: string): T {
    if (!(handle instanceof cls) || (handle as { owner: object }).owner !== this) {
      throw new BackendError(`${what} was not prepared by this 'cpu' backend; prepare it with this backend's ${(cls as unknown) === CpuPreparedLinear ? 'prepareLinear' : 'prepareExperts'}`);
    }
    return handle;
  }

  async prepareLinear(weights: LinearWeights): Promise<PreparedLinear> {
    this.alive();
    const data = linearData(weights);
    return new CpuPreparedLinear(this, this.compute.prepareLinear(data), data.inFeatures, data.outFeatures);
  }

  async linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array> {
    this.alive();
    const handle = this.own(layer, CpuPreparedLinear, 'layer');
    if (!Number.isInteger(rows) || rows < 0) throw new ShapeError(`rows is ${rows}, expected a non-negative integer`);
    checkInput('x', x, rows * handle.inFeatures);
    return this.compute.linear(handle.use('layer'), x, rows);
  }

  /** See `Backend.linearMany`: every layer and input checked before any runs; one kernel batch per memory. */
  async linearMany(layers: readonly PreparedLinear[], xs: readonly Float32Array[], rows: number): Promise<Float32Array[]> {
    this.alive();
    if (layers.length !== xs.length) throw new ShapeError(`linearMany: ${layers.length} layers but ${xs.length} inputs; expected one input per layer`);
    if (!Number.isInteger(rows) || rows < 0) throw new ShapeError(`rows is ${rows}, expected a non-negative integer`);
    const handles = layers.map((l, i) => {
      const handle = this.own(l, CpuPreparedLinear, `layers[${i}]`);
      checkInput(`xs[${i}]`, xs[i], rows * handle.inFeatures);
      return handle;
    });
    return this.compute.linearMany(handles.map((h, i) => h.use(`layers[${i}]`)), xs, rows);
  }

  async prepareExperts(group: ExpertGroup): Promise<PreparedExperts> {
    this.alive();
    const data = expertGroupData(group);
    return new CpuPreparedExperts(this, this.compute.prepareExperts(data), data.kind, data.numExperts, data.hiddenSize, data.ffnSize);
  }

  async runExperts(experts: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
    this.alive();
    const handle = this.own(experts, CpuPreparedExperts, 'experts');
    checkRoutingPlan(plan, handle.numExperts);
    checkInput('x', x, plan.numTokens * handle.hiddenSize);
    return this.compute.runExperts(handle.use('experts'), x, plan);
  }

  /**
   * A KV cache for one sequence, allocated for its whole capacity: in a WebAssembly memory of
   * this backend (the WebAssembly engine), or a host cache (the TypeScript engine). ConfigError
   * naming the field for a bad spec; BackendError when the memory cannot be had.
   */
  createKvCache(spec: KvCacheSpec): KvCache {
    this.alive();
    validateKvCacheSpec(spec);
    return this.compute.attention ? this.compute.attention.createKvCache(spec) : createHostKvCache(spec);
  }

  /** See `Backend.attend`: checked by core's checkAttendCall first, then run by the engine. */
  async attend(layer: number, spec: AttentionLayerSpec, segments: readonly AttentionSegment[], q: Float32Array, k: Float32Array, v: Float32Array): Promise<Float32Array> {
    this.alive();
    const attention = this.compute.attention;
    if (!attention) return hostAttend(layer, spec, segments, q, k, v);
    const shape = checkAttendCall(layer, spec, segments, q, k, v);
    segments.forEach((s, i) => this.ownCache(s.cache, `attend: segments[${i}].cache`));
    const { numKvHeads, keyDim, valueDim, format } = shape.cache;
    checkStorable(format, k, 'attend: k', numKvHeads * keyDim);
    checkStorable(format, v, 'attend: v', numKvHeads * valueDim);
    return attention.attend(layer, spec, segments, q, k, v);
  }

  /** See `Backend.copyKvPrefix` (core's checkCopyKvPrefix first). */
  async copyKvPrefix(src: KvCache, dst: KvCache, positions: number): Promise<void> {
    this.alive();
    const attention = this.compute.attention;
    if (!attention) return hostCopyKvPrefix(src, dst, positions);
    this.ownCache(src, 'copyKvPrefix: the source');
    this.ownCache(dst, 'copyKvPrefix: the destination');
    checkCopyKvPrefix(src, dst, positions);
    attention.copyKvPrefix(src, dst, positions);
  }

  private ownCache(cache: KvCache, what: string): void {
    if (!this.compute.attention?.owns(cache)) throw new BackendError(`${what} was not created by this 'cpu' backend (createKvCache); a cache belongs to the backend that made it`);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.compute.dispose();
  }
}
