/**
 * The gpu.js backend: router projections and the grouped expert FFN as gpu.js kernels, in
 * one of its modes (webgpu, headlessgl, webasm, cpu).
 *
 * Per expert e with rows in the plan, its rows (tokens gathered by `plan.rowToken`) run
 * through two kernels: the first layer over `[rows_e, F]` (SwiGLU: gate and up fused), then
 * the down projection over `[rows_e, D]`. Only routed rows are computed. The weighted combine
 * (a few multiply-adds per row) runs on the host in the plan's per-token order.
 */
import {
  checkRoutingPlan,
  combineRows,
  ExpertWorkCounter,
  BackendError,
  isGatedKind,
  ShapeError,
  type Backend,
  type ExpertGroup,
  type ExpertWeights,
  type LinearWeights,
  type PreparedExperts,
  type PreparedLinear,
  type RoutingPlan,
  ResidentBytes,
  validateExpertGroup,
  validateLinearWeights,
} from '@moe-runtime/core';
import type { ArgumentType, GpuInstance, GpuJsMode, KernelThis } from './gpujs-types.js';
import { loadGpuJs } from './gpujs-loader.js';
import {
  copyKernel,
  clampedGlu,
  clampedSwigluQuadKernel,
  clampedSwigluRowKernel,
  geluErf,
  geluQuadKernel,
  geluRowKernel,
  linearQuadKernel,
  linearRowKernel,
  reluQuadKernel,
  reluRowKernel,
  silu,
  swigluQuadKernel,
  swigluRowKernel,
} from './kernel-sources.js';
import { chooseMode, probeMode, type ModeProbe } from './mode-probe.js';
import { parseOptions, type GpuJsBackendOptions } from './options.js';
import { packGated, packLinear, type HostChunk, type WeightChunk } from './packed-weights.js';
import { GpuJsExperts, GpuJsLinear, type PackedExpert } from './prepared.js';
import { gatherLanes, laneGroups, placeLaneColumns, scatterLanes, type Lanes } from './row-quads.js';
import { SerialQueue } from './serial-queue.js';
import { TypedKernel, type KernelSpec } from './typed-kernel.js';

type QuadKind = 'linear' | 'swiglu' | 'clamped-swiglu' | 'gelu' | 'relu';

type Source = (this: KernelThis, x: Float32Array, w: Float32Array, b: Float32Array) => number[] | number;

const SOURCES: Record<Lanes, Record<QuadKind, Source>> = {
  4: { linear: linearQuadKernel, swiglu: swigluQuadKernel, 'clamped-swiglu': clampedSwigluQuadKernel, gelu: geluQuadKernel, relu: reluQuadKernel },
  1: { linear: linearRowKernel, swiglu: swigluRowKernel, 'clamped-swiglu': clampedSwigluRowKernel, gelu: geluRowKernel, relu: reluRowKernel },
};

/**
 * Single-row kernels for 1-2 rows (decode), row quads from 3 rows: measured here (D=1024,
 * F=3584), one row through the quad kernel costs 1.3-2x the single-row kernel in every mode,
 * three rows cost about half as much through the quad kernel.
 */
function lanesFor(rows: number): Lanes {
  return rows >= 3 ? 4 : 1;
}

/** Rows per kernel call so that `4 * groups * width` floats fit the binding limit; a multiple of 4. */
function rowBlock(width: number, maxBytes: number, what: string): number {
  const groups = Math.floor(maxBytes / (16 * width));
  if (groups < 1) throw new ShapeError(`${what}: 4 rows of ${width} floats exceed the binding limit of ${maxBytes} bytes`);
  return groups * 4;
}

function float32Of(t: { toFloat32(): Float32Array } | undefined): Float32Array | undefined {
  return t ? t.toFloat32() : undefined;
}

/** The gpu.js backend (see the module comment). Create it with {@link createGpuJsBackend}. */
export class GpuJsBackend implements Backend {
  readonly name = 'gpujs';
  readonly engine: string;
  /** The gpu.js mode every kernel runs in (checked after each call). */
  readonly mode: GpuJsMode;
  /** Largest kernel argument in bytes; weights and row blocks are split to fit. */
  readonly maxBindingBytes: number;
  private readonly gpu: GpuInstance;
  private readonly asyncMode: boolean;
  private readonly kernels = new Map<string, TypedKernel>();
  private readonly queue = new SerialQueue();
  private disposed = false;
  /**
   * Resident bytes: every format is decoded to float32 and packed into kernel arguments once,
   * so about 4 bytes per value plus packing slack. Measured with core/testing's resident probe
   * (22M values, 2026-12-02): 4.2-4.5 bytes per value after a forward pass for f32, f16 and
   * q8_0 in one run, 6.4 for q8_0 in another (the decoded copies' pages are not always given
   * back to the OS): counted as 5 for float32, 7 for formats decoded at prepare.
   */
  readonly memory = new ResidentBytes((dtype) => (dtype === 'float32' ? 5 : 7));
  /** Test hook: the expert kernels `runExperts` launched (see core's ExpertWorkCounter). */
  readonly expertWork = new ExpertWorkCounter();
  /** Handles not yet disposed: dispose() frees their device buffers / textures before the device. */
  private readonly live = new Set<GpuJsLinear | GpuJsExperts>();
  private readonly forget = (releaseBuffers: () => void, h: GpuJsLinear | GpuJsExperts): void => {
    this.live.delete(h);
    // Calls accepted before dispose() are still queued and read these buffers: release behind
    // them. dispose() is synchronous, so a failing delete has no caller to report to.
    this.queue.run(async () => releaseBuffers()).catch(() => undefined);
  };

  private constructor(probe: ModeProbe, gpu: GpuInstance, options: GpuJsBackendOptions) {
    this.mode = probe.mode;
    this.gpu = gpu;
    this.asyncMode = probe.mode === 'webasm' && options.threads === true;
    this.engine = probe.engine + (this.asyncMode ? ', worker threads' : '');
    this.maxBindingBytes = Math.min(probe.maxBindingBytes, options.maxBindingBytes ?? Infinity);
  }

  /** Creates the backend in the requested (or best available) mode; throws why a named mode cannot run. */
  static async create(rawOptions?: GpuJsBackendOptions): Promise<GpuJsBackend> {
    const options = parseOptions(rawOptions);
    const requested = options.mode ?? 'auto';
    let probe: ModeProbe;
    if (requested === 'auto') {
      probe = (await chooseMode(options.dawnBackend)).chosen;
    } else {
      probe = await probeMode(requested, options.dawnBackend);
      if (!probe.available) throw new BackendError(`gpu.js mode '${requested}' is not available here: ${probe.reason}`);
    }
    const { GPU } = loadGpuJs();
    const gpu = new GPU({ mode: probe.mode });
    if (gpu.mode !== probe.mode) {
      void gpu.destroy();
      throw new BackendError(`gpu.js chose mode '${gpu.mode}' when asked for '${probe.mode}'; refusing a silent fallback`);
    }
    gpu.addFunction(silu, { argumentTypes: { v: 'Number' }, returnType: 'Number' });
    gpu.addFunction(geluErf, { argumentTypes: { v: 'Number' }, returnType: 'Number' });
    gpu.addFunction(clampedGlu, { argumentTypes: { g: 'Number', u: 'Number' }, returnType: 'Number' });
    return new GpuJsBackend(probe, gpu, options);
  }

  /** Keeps a new handle for dispose(); one uploaded after dispose() began is released at once. */
  private track<T extends GpuJsLinear | GpuJsExperts>(h: T): T {
    if (this.disposed) {
      h.dispose();
      throw new BackendError('this gpujs backend was disposed while the layer was being prepared');
    }
    this.live.add(h);
    return h;
  }

  private checkAlive(): void {
    if (this.disposed) throw new BackendError('this gpujs backend has been disposed');
  }

  private kernel(kind: QuadKind, inFeatures: number, outFeatures: number, lanes: Lanes): TypedKernel {
    const key = `${kind}|${inFeatures}|${outFeatures}|${lanes}`;
    let k = this.kernels.get(key);
    if (!k) {
      const spec: KernelSpec = {
        name: `${kind} ${inFeatures}x${outFeatures}${lanes === 4 ? ' quad' : ''}`,
        source: SOURCES[lanes][kind] as KernelSpec['source'],
        args: [
          ['x', 'Array'],
          ['w', this.weightType],
          ['b', this.weightType],
        ],
        constants: { IN: inFeatures, OUT: outFeatures },
        longestLoop: inFeatures,
        pipeline: false,
        components: lanes,
      };
      k = new TypedKernel(this.gpu, spec, this.mode, this.asyncMode);
      this.kernels.set(key, k);
    }
    return k;
  }

  /** Whether weights live on the device: storage buffers (webgpu) or float textures (headlessgl). */
  private get resident(): boolean {
    return this.mode === 'webgpu' || this.mode === 'headlessgl';
  }

  /** How kernels receive weights: device buffers pass as arrays in webgpu, textures in GL. */
  private get weightType(): ArgumentType {
    return this.mode === 'headlessgl' ? 'NumberTexture' : 'Array';
  }

  /**
   * Uploads packed chunks once: device buffers (webgpu) or textures (headlessgl), each the
   * immutable output of a copy kernel; in webasm and cpu modes the packed host arrays.
   */
  private async upload(chunks: readonly HostChunk[]): Promise<WeightChunk[]> {
    if (!this.resident) return chunks.map((c) => ({ ...c }));
    const copy = this.copyKernel();
    const out: WeightChunk[] = [];
    try {
      for (const c of chunks) {
        const weight = await copy.runResident([c.weight.length], [c.weight]);
        const bias = await copy.runResident([c.bias.length], [c.bias]);
        out.push({ start: c.start, width: c.width, weight, bias });
      }
    } catch (err) {
      for (const c of out) for (const a of [c.weight, c.bias]) if (!(a instanceof Float32Array)) a.delete();
      throw err;
    } finally {
      // webgpu: a fresh copy kernel per batch, destroyed after it, so the staging buffer of the
      // largest weight does not outlive the upload (its outputs are refcounted and survive).
      // GL: destroying a kernel deletes the textures it produced, so one copy kernel lives as
      // long as the backend.
      if (this.mode === 'webgpu') copy.destroy();
    }
    return out;
  }

  private copyKernel(): TypedKernel {
    const make = () =>
      new TypedKernel(
        this.gpu,
        { name: 'upload', source: copyKernel as KernelSpec['source'], args: [['a', 'Array']], constants: {}, longestLoop: 0, pipeline: true, components: 1 },
        this.mode,
        false,
      );
    if (this.mode === 'webgpu') return make();
    let k = this.kernels.get('upload');
    if (!k) {
      k = make();
      this.kernels.set('upload', k);
    }
    return k;
  }

  async prepareLinear(weights: LinearWeights): Promise<PreparedLinear> {
    this.checkAlive();
    validateLinearWeights(weights);
    const [out, inF] = weights.weight.shape;
    const chunks = packLinear(weights.weight.toFloat32(), float32Of(weights.bias), out, inF, this.maxBindingBytes, 'linear weight');
    rowBlock(Math.max(inF, out), this.maxBindingBytes, 'linear');
    const bytes = this.memory.linearBytes(weights);
    return this.queue.run(async () => this.memory.track(this.track(new GpuJsLinear(this, inF, out, await this.upload(chunks), this.forget)), bytes));
  }

  async linear(layer: PreparedLinear, x: Float32Array, rows: number): Promise<Float32Array> {
    this.checkAlive();
    if (!(layer instanceof GpuJsLinear) || layer.owner !== this) throw new BackendError('linear: the layer was not prepared by this gpujs backend');
    if (layer.disposed) throw new BackendError('linear: the layer has been disposed');
    if (!(x instanceof Float32Array)) throw new ShapeError(`linear: x must be a Float32Array, got ${(x as object)?.constructor?.name ?? typeof x}`);
    if (!Number.isInteger(rows) || rows < 0) throw new ShapeError(`linear: rows must be a non-negative integer, got ${rows}`);
    if (x.length !== rows * layer.inFeatures) throw new ShapeError(`linear: x has ${x.length} values, expected rows x in = ${rows} x ${layer.inFeatures}`);
    return this.queue.run(() => this.runLinear(layer, x, rows));
  }

  private async runLinear(layer: GpuJsLinear, x: Float32Array, rows: number): Promise<Float32Array> {
    const y = new Float32Array(rows * layer.outFeatures);
    const block = rowBlock(Math.max(layer.inFeatures, layer.outFeatures), this.maxBindingBytes, 'linear');
    for (let r0 = 0; r0 < rows; r0 += block) {
      const n = Math.min(block, rows - r0);
      const lanes = lanesFor(n);
      const xl = gatherLanes(x, layer.inFeatures, r0, n, lanes);
      for (const c of layer.chunks) {
        const q = await this.kernel('linear', layer.inFeatures, c.width, lanes).run([c.width, laneGroups(n, lanes)], [xl, c.weight, c.bias]);
        scatterLanes(q, c.width, n, lanes, y, layer.outFeatures, c.start, (i) => r0 + i);
      }
    }
    return y;
  }

  async prepareExperts(group: ExpertGroup): Promise<PreparedExperts> {
    this.checkAlive();
    validateExpertGroup(group);
    const { kind, hiddenSize: d, ffnSize: f } = group;
    rowBlock(Math.max(d, f), this.maxBindingBytes, 'experts');
    const packed = group.experts.map((e, j) => this.packExpert(e, j, kind, d, f));
    return this.queue.run(async () => {
      const experts: PackedExpert[] = [];
      try {
        for (const p of packed) experts.push({ first: await this.upload(p.first), down: await this.upload(p.down) });
      } catch (err) {
        new GpuJsExperts(this, kind, d, f, experts).dispose();
        throw err;
      }
      return this.memory.track(this.track(new GpuJsExperts(this, kind, d, f, experts, this.forget)), this.memory.groupBytes(group));
    });
  }

  private packExpert(e: ExpertWeights, j: number, kind: ExpertGroup['kind'], d: number, f: number): { first: HostChunk[]; down: HostChunk[] } {
    // Shapes were checked by validateExpertGroup.
    const where = `experts[${j}]`;
    const up = e.up.toFloat32();
    const first =
      isGatedKind(kind)
        ? packGated(e.gate!.toFloat32(), up, float32Of(e.gateBias), float32Of(e.upBias), f, d, this.maxBindingBytes, `${where} gate/up`)
        : packLinear(up, float32Of(e.upBias), f, d, this.maxBindingBytes, `${where}.up`);
    const down = packLinear(e.down.toFloat32(), float32Of(e.downBias), d, f, this.maxBindingBytes, `${where}.down`);
    return { first, down };
  }

  async runExperts(experts: PreparedExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
    this.checkAlive();
    if (!(experts instanceof GpuJsExperts) || experts.owner !== this) throw new BackendError('runExperts: the experts were not prepared by this gpujs backend');
    if (experts.disposed) throw new BackendError('runExperts: the experts have been disposed');
    if (!(x instanceof Float32Array)) throw new ShapeError(`runExperts: x must be a Float32Array, got ${(x as object)?.constructor?.name ?? typeof x}`);
    checkRoutingPlan(plan, experts.numExperts);
    if (x.length !== plan.numTokens * experts.hiddenSize) {
      throw new ShapeError(`runExperts: x has ${x.length} values, expected numTokens x hiddenSize = ${plan.numTokens} x ${experts.hiddenSize}`);
    }
    return this.queue.run(() => this.runGrouped(experts, x, plan));
  }

  /**
   * The first layer in lane layout `[groups, F, lanes]`. The activations come back to the host
   * between the two kernels: gpu.js 2.24 cannot pass an Array(4) pipeline result on as a
   * kernel argument in webgpu mode.
   */
  private async firstLayer(experts: GpuJsExperts, e: PackedExpert, xl: Float32Array, groups: number, lanes: Lanes): Promise<Float32Array> {
    const { kind, hiddenSize: d, ffnSize: f } = experts;
    if (e.first.length === 1) {
      const c = e.first[0];
      return this.kernel(kind, d, c.width, lanes).run([c.width, groups], [xl, c.weight, c.bias]);
    }
    const h = new Float32Array(groups * f * lanes);
    for (const c of e.first) {
      const q = await this.kernel(kind, d, c.width, lanes).run([c.width, groups], [xl, c.weight, c.bias]);
      placeLaneColumns(q, c.width, groups, lanes, h, f, c.start);
    }
    return h;
  }

  private async runGrouped(experts: GpuJsExperts, x: Float32Array, plan: RoutingPlan): Promise<Float32Array> {
    const { hiddenSize: d, ffnSize: f } = experts;
    const rowsOut = new Float32Array(plan.rowToken.length * d);
    const block = rowBlock(Math.max(d, f), this.maxBindingBytes, 'experts');
    for (let j = 0; j < experts.numExperts; j++) {
      const end = plan.expertOffsets[j + 1];
      for (let r0 = plan.expertOffsets[j]; r0 < end; r0 += block) {
        const n = Math.min(block, end - r0);
        this.expertWork.record(j, n);
        const lanes = lanesFor(n);
        const groups = laneGroups(n, lanes);
        const xl = gatherLanes(x, d, r0, n, lanes, plan.rowToken);
        const h = await this.firstLayer(experts, experts.experts[j], xl, groups, lanes);
        for (const c of experts.experts[j].down) {
          const q = await this.kernel('linear', f, c.width, lanes).run([c.width, groups], [h, c.weight, c.bias]);
          scatterLanes(q, c.width, n, lanes, rowsOut, d, c.start, (i) => r0 + i);
        }
      }
    }
    return combineRows(plan, d, rowsOut);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    // Each handle queues its release; the device goes after them.
    for (const h of [...this.live]) h.dispose();
    await this.queue.run(async () => {
      for (const k of this.kernels.values()) k.destroy();
      this.kernels.clear();
      await this.gpu.destroy();
    });
  }
}

/** Creates a gpu.js backend (see {@link GpuJsBackendOptions}). */
export function createGpuJsBackend(options?: GpuJsBackendOptions): Promise<GpuJsBackend> {
  return GpuJsBackend.create(options);
}
