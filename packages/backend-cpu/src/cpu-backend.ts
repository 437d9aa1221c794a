/**
 * The CPU backend: input validation and handle ownership around a compute engine (WebAssembly
 * SIMD on worker threads, or plain TypeScript). Every call computes synchronously on the
 * calling thread (helped by the workers), so concurrent calls are serialised by construction.
 */
import {
  checkRoutingPlan,
  BackendError,
  ShapeError,
  type Backend,
  type ExpertWorkCounter,
  type ExpertGroup,
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
  private disposed = false;

  constructor(private readonly compute: Engine) {
    this.engine = compute.description;
    this.threads = compute.threads;
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
      throw new BackendError(`${what} was not prepared by this 'cpu' backend; prepare it with this backend's ${what === 'layer' ? 'prepareLinear' : 'prepareExperts'}`);
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

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.compute.dispose();
  }
}
