/**
 * The WebAssembly engine: AssemblyScript SIMD kernels on a shared memory, run by the calling
 * thread plus workers (columns split between them). Weights are packed into panels once per
 * layer; a call copies its input in, runs one or two kernel batches and copies the result out.
 *
 * Experts: the plan's rows are already grouped by expert, so x is gathered once into `[R, D]`
 * in plan row order; batch 1 runs every routed expert's fused gate/up GEMM plus activation on
 * its own rows, batch 2 every expert's down GEMM, then the weighted combine sums each token's
 * rows in the plan's per-token order. Experts with no rows cost nothing.
 */
import { BackendError, combineRows, ExpertWorkCounter, type RoutingPlan } from '@moe-runtime/core';
import type { Engine, EngineResource, ExpertGroupData, LinearData } from '../engine.js';
import { DESC_BYTES, Epilogue, writeDesc } from './descriptors.js';
import { compileKernels, FLAVOR_ENGINE, instantiateKernels, type KernelFlavor } from './kernel-module.js';
import { MemoryArena } from './memory-arena.js';
import { packBias, packPanels, panelsOf } from './packing.js';
import { ThreadPool } from './thread-pool.js';

/** 4 GiB: the wasm32 limit (65536 pages). */
const MAX_PAGES = 65536;
/** Bytes kept below the arena for the kernels' own static data. */
const KERNEL_RESERVED = 65536;
/** K block of the GEMM: a panel's block of B (KC x 64 bytes = 16 KiB) stays in L1. */
const KC = 256;
/** Below this many multiply-adds a batch runs on the calling thread alone. */
const PARALLEL_MIN_MACS = 1 << 17;

class WasmLinear implements EngineResource {
  constructor(
    private readonly arena: MemoryArena,
    readonly ptr: number,
    readonly bias: number,
    readonly k: number,
    readonly n: number,
  ) {}
  free(): void {
    this.arena.release(this.ptr);
  }
}

/** One expert's packed weights (byte addresses). */
interface PackedExpert {
  readonly w1: number;
  readonly b1: number;
  readonly w2: number;
  readonly b2: number;
}

class WasmExperts implements EngineResource {
  constructor(
    private readonly arena: MemoryArena,
    readonly kind: ExpertGroupData['kind'],
    readonly d: number,
    readonly fPad: number,
    readonly experts: readonly PackedExpert[],
    private readonly blocks: readonly number[],
  ) {}
  free(): void {
    for (const b of this.blocks) this.arena.release(b);
  }
}

function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

function epilogueOf(kind: ExpertGroupData['kind']): Epilogue {
  return kind === 'swiglu' ? Epilogue.SwiGLU : kind === 'gelu' ? Epilogue.Gelu : Epilogue.Relu;
}

/** The WebAssembly SIMD engine. Create with {@link WasmEngine.create}. */
export class WasmEngine implements Engine {
  readonly expertWork = new ExpertWorkCounter();
  readonly description: string;
  private scratch = 0;
  private scratchBytes = 0;

  private constructor(
    flavor: KernelFlavor,
    private readonly arena: MemoryArena,
    private readonly pool: ThreadPool,
  ) {
    this.description = `${FLAVOR_ENGINE[flavor]} x${pool.threads}`;
  }

  /** Compiles the kernels of `flavor` and starts the threads; undefined when V8 cannot run that build. */
  static async create(flavor: KernelFlavor, threads: number): Promise<WasmEngine | undefined> {
    const module = await compileKernels(flavor);
    if (!module) return undefined;
    const memory = new WebAssembly.Memory({ initial: 32, maximum: MAX_PAGES, shared: true });
    const kernels = instantiateKernels(module, memory);
    const arena = new MemoryArena(memory, KERNEL_RESERVED, MAX_PAGES * 65536);
    const counter = arena.alloc(64);
    arena.i32().fill(0, counter >> 2, (counter >> 2) + 16);
    const pool = await ThreadPool.create(module, memory, kernels, threads, () => arena.i32(), counter);
    const engine = new WasmEngine(flavor, arena, pool);
    engine.warmUp();
    return engine;
  }

  get threads(): number {
    return this.pool.threads;
  }

  /** Bytes of memory in use (weights and scratch). */
  get memoryBytes(): number {
    return this.arena.highWater;
  }

  prepareLinear(data: LinearData): EngineResource {
    const { inFeatures: k, outFeatures: n } = data;
    const np = panelsOf(n) * 16;
    const ptr = this.arena.alloc((k * np + np) * 4);
    const view = this.arena.f32();
    packPanels(view, ptr >> 2, data.weight, n, k);
    const bias = data.bias ? ptr + k * np * 4 : 0;
    if (data.bias) packBias(view, bias >> 2, data.bias, n);
    return new WasmLinear(this.arena, ptr, bias, k, n);
  }

  linear(layer: EngineResource, x: Float32Array, rows: number): Float32Array {
    const l = layer as WasmLinear;
    const y = new Float32Array(rows * l.n);
    if (rows === 0) return y;
    const panels = panelsOf(l.n);
    const np = panels * 16;
    const s = this.scratchFor(64 + align64(rows * l.k * 4) + rows * np * 4);
    const a = s + 64;
    const c = a + align64(rows * l.k * 4);
    this.arena.f32().set(x, a >> 2);
    writeDesc(this.arena.i32(), s, 0, { epilogue: Epilogue.Plain, a, lda: l.k, m: rows, k: l.k, b: l.ptr, panels, bias: l.bias, c, ldc: np });
    this.pool.run(s, 1, KC, rows * l.k * np >= PARALLEL_MIN_MACS && panels > 1);
    const view = this.arena.f32();
    if (np === l.n) y.set(view.subarray(c >> 2, (c >> 2) + rows * np));
    else for (let i = 0; i < rows; i++) y.set(view.subarray((c >> 2) + i * np, (c >> 2) + i * np + l.n), i * l.n);
    return y;
  }

  prepareExperts(group: ExpertGroupData): EngineResource {
    const { hiddenSize: d, ffnSize: f, kind } = group;
    const fPad = panelsOf(f) * 16;
    const dPad = panelsOf(d) * 16;
    const gated = kind === 'swiglu';
    const w1Cols = gated ? 2 * fPad : fPad;
    const w1Floats = d * w1Cols;
    const w2Floats = fPad * dPad;
    const bytes = (w1Floats + w1Cols + w2Floats + dPad) * 4;
    const blocks: number[] = [];
    const experts: PackedExpert[] = [];
    try {
      for (let j = 0; j < group.numExperts; j++) {
        const e = group.expert(j);
        const base = this.arena.alloc(bytes);
        blocks.push(base);
        const w1 = base;
        const b1 = w1 + w1Floats * 4;
        const w2 = b1 + w1Cols * 4;
        const b2 = w2 + w2Floats * 4;
        const view = this.arena.f32();
        if (gated) {
          packPanels(view, w1 >> 2, e.gate!, f, d, d, 0, 2);
          packPanels(view, w1 >> 2, e.up, f, d, d, 1, 2);
          packBias(view, b1 >> 2, e.gateBias, f, 0, 2);
          packBias(view, b1 >> 2, e.upBias, f, 1, 2);
        } else {
          packPanels(view, w1 >> 2, e.up, f, d);
          packBias(view, b1 >> 2, e.upBias, f);
        }
        packPanels(view, w2 >> 2, e.down, d, f, fPad);
        packBias(view, b2 >> 2, e.downBias, d);
        const hasB1 = e.upBias !== undefined || e.gateBias !== undefined;
        experts.push({ w1, b1: hasB1 ? b1 : 0, w2, b2: e.downBias ? b2 : 0 });
      }
    } catch (err) {
      for (const b of blocks) this.arena.release(b);
      throw err;
    }
    return new WasmExperts(this.arena, kind, d, fPad, experts, blocks);
  }

  runExperts(resource: EngineResource, x: Float32Array, plan: RoutingPlan): Float32Array {
    const g = resource as WasmExperts;
    const rows = plan.rowToken.length;
    if (rows === 0) return new Float32Array(plan.numTokens * g.d);
    const d = g.d;
    const fPad = g.fPad;
    const dPad = panelsOf(d) * 16;
    const gated = g.kind === 'swiglu';
    const hWidth = gated ? 2 * fPad : fPad;
    const active: number[] = [];
    for (let e = 0; e < plan.numExperts; e++) if (plan.expertOffsets[e + 1] > plan.expertOffsets[e]) active.push(e);
    const descBytes = 2 * active.length * DESC_BYTES;
    const floats = rows * (d + hWidth + (gated ? fPad : 0) + dPad);
    const s = this.scratchFor(align64(descBytes) + floats * 4 + 64);
    const xg = s + align64(descBytes);
    // Blocks start on cache lines, so threads writing neighbouring panels never share one.
    const h = xg + align64(rows * d * 4);
    const act = gated ? h + rows * hWidth * 4 : h;
    const y = act + rows * fPad * 4;
    // Gather: row r of the grouped layout is token rowToken[r].
    const view = this.arena.f32();
    for (let r = 0, o = xg >> 2; r < rows; r++, o += d) {
      const t = plan.rowToken[r];
      view.set(x.subarray(t * d, t * d + d), o);
    }
    const i32 = this.arena.i32();
    const table2 = s + active.length * DESC_BYTES;
    active.forEach((e, i) => {
      const r0 = plan.expertOffsets[e];
      const m = plan.expertOffsets[e + 1] - r0;
      const p = g.experts[e];
      this.expertWork.record(e, m);
      writeDesc(i32, s, i, {
        epilogue: epilogueOf(g.kind), a: xg + r0 * d * 4, lda: d, m, k: d, b: p.w1, panels: hWidth / 16, bias: p.b1,
        c: h + r0 * hWidth * 4, ldc: hWidth, out: act + r0 * fPad * 4, ldo: fPad,
      });
      writeDesc(i32, table2, i, {
        epilogue: Epilogue.Plain, a: act + r0 * fPad * 4, lda: fPad, m, k: fPad, b: p.w2, panels: dPad / 16, bias: p.b2, c: y + r0 * dPad * 4, ldc: dPad,
      });
    });
    const parallel = rows * d * fPad >= PARALLEL_MIN_MACS;
    this.pool.run(s, active.length, KC, parallel);
    this.pool.run(table2, active.length, KC, parallel);
    const out = this.arena.f32().subarray(y >> 2, (y >> 2) + rows * dPad);
    return combineRows(plan, d, out, { stride: dPad });
  }

  async dispose(): Promise<void> {
    await this.pool.close();
  }

  /** A block of scratch memory for one call, reused across calls (grown when too small). */
  private scratchFor(bytes: number): number {
    if (bytes > this.scratchBytes) {
      if (this.scratch) this.arena.release(this.scratch);
      this.scratch = 0;
      this.scratchBytes = 0;
      const size = Math.ceil(bytes * 1.25);
      this.scratch = this.arena.alloc(size);
      this.scratchBytes = size;
    }
    return this.scratch;
  }

  /**
   * The first calls run in V8's baseline compiler (about 4x slower); a few small batches on
   * every thread let the optimising tier take over before the first real call.
   */
  private warmUp(): void {
    const lin = this.prepareLinear({ inFeatures: 64, outFeatures: 64, weight: new Float32Array(64 * 64).fill(0.5) });
    try {
      const x = new Float32Array(64 * 64).fill(1);
      for (let i = 0; i < 20; i++) {
        const y = this.linear(lin, x, 64);
        this.linear(lin, x, 1);
        if (!(y[0] === 32)) throw new BackendError(`the cpu kernels failed their warm-up check (got ${y[0]}, expected 32)`);
      }
    } finally {
      lin.free();
    }
  }
}
