/**
 * The WebAssembly engine: AssemblyScript SIMD kernels run by the calling thread plus workers
 * (columns split between them), over several shared memories (shards, see shard.ts), so one
 * engine holds models far past wasm32's 4 GiB. float32 weights are packed into panels once per
 * layer; every other format stays as stored (f16/bf16 two bytes a value, GGUF block formats
 * as their rows of blocks) and the kernels decode it in registers or in a per-thread buffer.
 * A call copies its input into the shard of the weights it runs, runs one or two kernel
 * batches there and copies the result out.
 *
 * Experts: the plan's rows are already grouped by expert, so x is gathered once per shard into
 * `[R, D]` in plan row order; batch 1 runs every routed expert's fused gate/up GEMM plus
 * activation on its own rows, batch 2 every expert's down GEMM, then the weighted combine sums
 * each token's rows in the plan's per-token order. Experts with no rows cost nothing.
 */
import { BackendError, combineRows, ExpertWorkCounter, HostTensor, isGatedKind, type DType, type ExpertWeights, type RoutingPlan } from '@moe-runtime/core';
import type { Engine, EngineResource, ExpertGroupData, LinearData } from '../engine.js';
import type { ActivationMode } from '../options.js';
import { DESC_BYTES, Epilogue, WeightFormat, writeDesc } from './descriptors.js';
import { compileKernels, FLAVOR_ENGINE, type KernelFlavor } from './kernel-module.js';
import { packBias, packPanels, panelsOf } from './packing.js';
import { Shard } from './shard.js';
import { ThreadPool } from './thread-pool.js';
import { align64, residentWeightBytes } from './resident-bytes.js';
import { WasmAttention } from './wasm-attention.js';
import type { ShardBlock } from './wasm-kv-cache.js';

/** The largest shard: 65535 pages (4 GiB less one page, so a byte view's length stays below 2^32). */
export const MAX_SHARD_BYTES = 65535 * 65536;
/** K block of the GEMM: a panel's block of B (KC x 64 bytes = 16 KiB) stays in L1. */
const KC = 256;
/** Below this many multiply-adds a batch runs on the calling thread alone. */
const PARALLEL_MIN_MACS = 1 << 17;
/** Bytes of a shard kept free of weights for scratch and work buffers (at most an eighth of it). */
const SCRATCH_HEADROOM = 256 * 2 ** 20;

/** How the engine lays out its memories and what its activations are. */
export interface WasmEngineOptions {
  /** Bytes per shard, a whole number of 64 KiB pages from 2 MiB up to {@link MAX_SHARD_BYTES} (the default). */
  readonly shardBytes?: number;
  /**
   * Bytes left unused at the bottom of every shard (default 0). Untouched pages cost no RAM,
   * so a test can place weights past 2 GiB, or spread a few megabytes over tens of GiB of
   * address space, without allocating them.
   */
  readonly shardOffset?: number;
  /**
   * Activations of the dot products with q8_0 / q4_0 / k-quant weights on few rows: `float32` (default,
   * the tight path) or `q8` (each block of 32 quantized to 8 bits with its own scale, as
   * llama.cpp does: integer dot products, faster, within the bound the tests state).
   */
  readonly activations?: ActivationMode;
}

/** Formats whose dot products have an 8-bit-activation version. */
const Q8_DOTS: ReadonlySet<number> = new Set([WeightFormat.q8_0, WeightFormat.q4_0, WeightFormat.q5_0, WeightFormat.q4_k, WeightFormat.q5_k, WeightFormat.q6_k, WeightFormat.mxfp4]);

/** A block of weights in a shard. */
interface Placed {
  readonly shard: Shard;
  readonly blocks: number[];
}

function freeAll(p: Placed): void {
  for (const b of p.blocks) p.shard.arena.release(b);
}

class WasmLinear implements EngineResource {
  constructor(
    private readonly placed: Placed,
    readonly ptr: number,
    readonly fmt: number,
    readonly bias: number,
    readonly k: number,
    readonly n: number,
  ) {}
  get shard(): Shard {
    return this.placed.shard;
  }
  free(): void {
    freeAll(this.placed);
  }
}

/** One expert's weights (byte addresses in its shard) and formats. */
interface PlacedExpert extends Placed {
  /** Gate/up: packed panels (fmt1 = panels), or stored rows of gate (w1) and up (up). */
  readonly w1: number;
  readonly up: number;
  readonly fmt1: number;
  readonly fmtUp: number;
  readonly b1: number;
  readonly w2: number;
  readonly fmt2: number;
  readonly b2: number;
}

class WasmExperts implements EngineResource {
  constructor(
    readonly kind: ExpertGroupData['kind'],
    readonly d: number,
    readonly f: number,
    readonly experts: readonly PlacedExpert[],
  ) {}
  free(): void {
    for (const e of this.experts) freeAll(e);
  }
}

function epilogueOf(kind: ExpertGroupData['kind']): Epilogue {
  switch (kind) {
    case 'swiglu':
      return Epilogue.SwiGLU;
    case 'clamped-swiglu':
      return Epilogue.ClampedSwiGLU;
    case 'gelu':
      return Epilogue.Gelu;
    case 'relu':
      return Epilogue.Relu;
  }
}

/** The kernels' code for stored rows of `dtype`. */
function formatOf(dtype: DType): number {
  return WeightFormat[dtype];
}

/** Flag on a descriptor's format: 8-bit activations (assembly/rows.ts ACT_Q8). */
const ACT_Q8 = 256;

/** The WebAssembly SIMD engine. Create with {@link WasmEngine.create}. */
export class WasmEngine implements Engine {
  readonly expertWork = new ExpertWorkCounter();
  readonly description: string;
  private readonly shards: Shard[] = [];
  private readonly shardBytes: number;
  private readonly shardOffset: number;
  private readonly q8: boolean;
  /** Attention over KV caches held in the shards (see wasm-attention.ts). */
  readonly attention: WasmAttention;

  private constructor(
    flavor: KernelFlavor,
    private readonly module: WebAssembly.Module,
    private readonly pool: ThreadPool,
    options: WasmEngineOptions,
  ) {
    this.q8 = options.activations === 'q8';
    this.description = `${FLAVOR_ENGINE[flavor]} x${pool.threads}${this.q8 ? ' q8-activations' : ''}`;
    this.shardBytes = options.shardBytes ?? MAX_SHARD_BYTES;
    this.shardOffset = options.shardOffset ?? 0;
    this.addShard();
    this.attention = new WasmAttention(pool, (bytes) => this.placeBlock(bytes, 'a KV cache'));
  }

  /** Compiles the kernels of `flavor` and starts the threads; undefined when V8 cannot run that build. */
  static async create(flavor: KernelFlavor, threads: number, options: WasmEngineOptions = {}): Promise<WasmEngine | undefined> {
    const module = await compileKernels(flavor);
    if (!module) return undefined;
    const shardBytes = options.shardBytes ?? MAX_SHARD_BYTES;
    if (!Number.isInteger(shardBytes / 65536) || shardBytes < 2 ** 21 || shardBytes > MAX_SHARD_BYTES) {
      throw new BackendError(`shardBytes is ${shardBytes}; expected a whole number of 64 KiB pages from 2 MiB to ${MAX_SHARD_BYTES}`);
    }
    const offset = options.shardOffset ?? 0;
    if (!Number.isInteger(offset) || offset < 0 || offset > shardBytes - 2 ** 20) {
      throw new BackendError(`shardOffset is ${offset}; expected a non-negative integer at least 1 MiB below shardBytes (${shardBytes})`);
    }
    const pool = await ThreadPool.create(module, threads);
    const engine = new WasmEngine(flavor, module, pool, options);
    engine.warmUp();
    return engine;
  }

  get threads(): number {
    return this.pool.threads;
  }

  /**
   * Whether the 8-bit-activation kernels run on relaxed SIMD's i8 x i7 dot here (checked by
   * the kernels against exact products; every thread's instance checks the same engine).
   */
  get relaxedDot(): boolean {
    return this.shards[0].kernels.relaxedDotInUse() === 1;
  }

  /** WebAssembly memories in use. */
  get shardCount(): number {
    return this.shards.length;
  }

  /** Bytes held in all shards now (weights, scratch and work buffers). */
  get residentBytes(): number {
    return this.shards.reduce((sum, s) => sum + s.arena.usedBytes, 0);
  }

  /** Bytes a weight of this format and shape occupies once prepared (see resident-bytes.ts). */
  residentBytesFor(dtype: DType, shape: readonly number[]): number {
    return residentWeightBytes(dtype, shape);
  }

  prepareLinear(data: LinearData): EngineResource {
    const { inFeatures: k, outFeatures: n, weight } = data;
    const panels = weight.dtype === 'float32';
    const np = panelsOf(n) * 16;
    const wBytes = residentWeightBytes(weight.dtype, weight.shape);
    const bBytes = data.bias ? align64(np * 4) : 0;
    const placed = this.place(wBytes + bBytes);
    const { shard } = placed;
    const ptr = this.alloc(placed, wBytes);
    if (panels) packPanels(shard.f32(), ptr >>> 2, weight.toFloat32(), n, k);
    else weight.copyBytesTo(shard.u8().subarray(ptr, ptr + weight.byteLength));
    let bias = 0;
    if (data.bias) {
      bias = this.alloc(placed, bBytes);
      packBias(shard.f32(), bias >>> 2, data.bias, n);
    }
    return new WasmLinear(placed, ptr, panels ? WeightFormat.panels : this.withActivations(formatOf(weight.dtype)), bias, k, n);
  }

  linear(layer: EngineResource, x: Float32Array, rows: number): Float32Array {
    const l = layer as WasmLinear;
    const shard = l.shard;
    const y = new Float32Array(rows * l.n);
    if (rows === 0) return y;
    const panels = panelsOf(l.n);
    const np = panels * 16;
    const s = shard.scratchFor(64 + align64(rows * l.k * 4) + rows * np * 4);
    const a = s + 64;
    const c = a + align64(rows * l.k * 4);
    shard.f32().set(x, a >>> 2);
    writeDesc(shard.i32(), s, 0, { epilogue: Epilogue.Plain, a, lda: l.k, m: rows, k: l.k, b: l.ptr, panels, bias: l.bias, c, ldc: np, fmt: l.fmt, n: l.n });
    const work = l.fmt === WeightFormat.panels ? { base: 0, stride: 0 } : shard.workFor(l.k, this.pool.threads);
    this.pool.run(shard, s, 1, KC, rows * l.k * np >= PARALLEL_MIN_MACS && panels > 1, work);
    const view = shard.f32();
    const c4 = c >>> 2;
    if (np === l.n) y.set(view.subarray(c4, c4 + rows * np));
    else for (let i = 0; i < rows; i++) y.set(view.subarray(c4 + i * np, c4 + i * np + l.n), i * l.n);
    return y;
  }

  /**
   * The linears of each memory as one batch of descriptors (one per layer, each on its own
   * input): one hand-off to the workers, and products too small to split alone (under
   * PARALLEL_MIN_MACS each) split across the threads together.
   */
  linearMany(layers: readonly EngineResource[], xs: readonly Float32Array[], rows: number): Float32Array[] {
    const ls = layers as readonly WasmLinear[];
    const ys = ls.map((l) => new Float32Array(rows * l.n));
    if (rows === 0) return ys;
    const byShard = new Map<Shard, number[]>();
    ls.forEach((l, i) => {
      const list = byShard.get(l.shard);
      if (list) list.push(i);
      else byShard.set(l.shard, [i]);
    });
    for (const [shard, members] of byShard) this.runShardLinears(shard, ls, members, xs, rows, ys);
    return ys;
  }

  /** Linears `members` of `ls` (all in `shard`) in one batch, their results into `ys`. */
  private runShardLinears(shard: Shard, ls: readonly WasmLinear[], members: readonly number[], xs: readonly Float32Array[], rows: number, ys: Float32Array[]): void {
    let bytes = align64(members.length * DESC_BYTES);
    let macs = 0;
    let rowK = 0;
    for (const i of members) {
      const l = ls[i];
      bytes += align64(rows * l.k * 4) + align64(rows * panelsOf(l.n) * 64);
      macs += rows * l.k * panelsOf(l.n) * 16;
      if (l.fmt !== WeightFormat.panels) rowK = Math.max(rowK, l.k);
    }
    const s = shard.scratchFor(bytes);
    let at = s + align64(members.length * DESC_BYTES);
    const outs: number[] = [];
    members.forEach((i, d) => {
      const l = ls[i];
      const np = panelsOf(l.n) * 16;
      const a = at;
      const c = a + align64(rows * l.k * 4);
      at = c + align64(rows * np * 4);
      shard.f32().set(xs[i], a >>> 2);
      writeDesc(shard.i32(), s, d, { epilogue: Epilogue.Plain, a, lda: l.k, m: rows, k: l.k, b: l.ptr, panels: np / 16, bias: l.bias, c, ldc: np, fmt: l.fmt, n: l.n });
      outs.push(c);
    });
    const work = rowK > 0 ? shard.workFor(rowK, this.pool.threads) : { base: 0, stride: 0 };
    this.pool.run(shard, s, members.length, KC, macs >= PARALLEL_MIN_MACS, work);
    const view = shard.f32();
    members.forEach((i, d) => {
      const l = ls[i];
      const np = panelsOf(l.n) * 16;
      const c4 = outs[d] >>> 2;
      if (np === l.n) ys[i].set(view.subarray(c4, c4 + rows * np));
      else for (let r = 0; r < rows; r++) ys[i].set(view.subarray(c4 + r * np, c4 + r * np + l.n), r * l.n);
    });
  }

  prepareExperts(group: ExpertGroupData): EngineResource {
    const experts: PlacedExpert[] = [];
    try {
      for (let j = 0; j < group.numExperts; j++) experts.push(this.placeExpert(group, group.stored(j)));
    } catch (err) {
      for (const e of experts) freeAll(e);
      throw err;
    }
    return new WasmExperts(group.kind, group.hiddenSize, group.ffnSize, experts);
  }

  /** Places one expert's weights in one shard: float32 packed into panels, other formats as stored. */
  private placeExpert(group: ExpertGroupData, e: ExpertWeights): PlacedExpert {
    const { hiddenSize: d, ffnSize: f, kind } = group;
    const gated = isGatedKind(kind);
    const fPad = panelsOf(f) * 16;
    const dPad = panelsOf(d) * 16;
    const w1Cols = gated ? 2 * fPad : fPad;
    const firstPanels = e.up.dtype === 'float32' && (!gated || e.gate!.dtype === 'float32');
    const downPanels = e.down.dtype === 'float32';
    const gateBytes = gated ? residentWeightBytes(e.gate!.dtype, e.gate!.shape) : 0;
    const upBytes = residentWeightBytes(e.up.dtype, e.up.shape);
    const downBytes = residentWeightBytes(e.down.dtype, e.down.shape);
    const hasB1 = e.upBias !== undefined || e.gateBias !== undefined;
    const b1Bytes = hasB1 ? align64(w1Cols * 4) : 0;
    const b2Bytes = e.downBias ? align64(dPad * 4) : 0;
    const placed = this.place(gateBytes + upBytes + downBytes + b1Bytes + b2Bytes);
    const { shard } = placed;
    let w1: number;
    let up = 0;
    if (firstPanels) {
      w1 = this.alloc(placed, gateBytes + upBytes);
      const view = shard.f32();
      if (gated) {
        packPanels(view, w1 >>> 2, e.gate!.toFloat32(), f, d, d, 0, 2);
        packPanels(view, w1 >>> 2, e.up.toFloat32(), f, d, d, 1, 2);
      } else packPanels(view, w1 >>> 2, e.up.toFloat32(), f, d);
    } else {
      up = this.copyRows(placed, e.up, upBytes);
      w1 = gated ? this.copyRows(placed, e.gate!, gateBytes) : up;
    }
    let w2: number;
    if (downPanels) {
      w2 = this.alloc(placed, downBytes);
      packPanels(shard.f32(), w2 >>> 2, e.down.toFloat32(), d, f);
    } else w2 = this.copyRows(placed, e.down, downBytes);
    let b1 = 0;
    if (hasB1) {
      b1 = this.alloc(placed, b1Bytes);
      const view = shard.f32();
      if (gated) {
        packBias(view, b1 >>> 2, e.gateBias?.toFloat32(), f, 0, 2);
        packBias(view, b1 >>> 2, e.upBias?.toFloat32(), f, 1, 2);
      } else packBias(view, b1 >>> 2, e.upBias?.toFloat32(), f);
    }
    let b2 = 0;
    if (e.downBias) {
      b2 = this.alloc(placed, b2Bytes);
      packBias(shard.f32(), b2 >>> 2, e.downBias.toFloat32(), d);
    }
    // The kernels read the activation flag of a gated pair from the gate's code: both need a q8 dot.
    const gateFmt = formatOf((gated ? e.gate! : e.up).dtype);
    const upFmt = formatOf(e.up.dtype);
    const pairFlag = this.withActivations(gateFmt) !== gateFmt && this.withActivations(upFmt) !== upFmt ? ACT_Q8 : 0;
    return {
      ...placed,
      w1,
      up,
      fmt1: firstPanels ? WeightFormat.panels : gateFmt | pairFlag,
      fmtUp: firstPanels ? WeightFormat.panels : upFmt,
      b1,
      w2,
      fmt2: downPanels ? WeightFormat.panels : this.withActivations(formatOf(e.down.dtype)),
      b2,
    };
  }

  runExperts(resource: EngineResource, x: Float32Array, plan: RoutingPlan): Float32Array {
    const g = resource as WasmExperts;
    const rows = plan.rowToken.length;
    if (rows === 0) return new Float32Array(plan.numTokens * g.d);
    const byShard = new Map<Shard, number[]>();
    for (let e = 0; e < plan.numExperts; e++) {
      if (plan.expertOffsets[e + 1] === plan.expertOffsets[e]) continue;
      const shard = g.experts[e].shard;
      const list = byShard.get(shard);
      if (list) list.push(e);
      else byShard.set(shard, [e]);
    }
    const rowsOut = new Float32Array(rows * g.d);
    for (const [shard, active] of byShard) this.runShardExperts(shard, g, active, x, plan, rowsOut);
    return combineRows(plan, g.d, rowsOut);
  }

  /** Runs the routed experts of one shard, writing their rows (plan order) into `rowsOut` `[R, D]`. */
  private runShardExperts(shard: Shard, g: WasmExperts, active: readonly number[], x: Float32Array, plan: RoutingPlan, rowsOut: Float32Array): void {
    const { d, f } = g;
    const fPad = panelsOf(f) * 16;
    const dPad = panelsOf(d) * 16;
    const gated = isGatedKind(g.kind);
    const hWidth = gated ? 2 * fPad : fPad;
    let rows = 0;
    let rowK = 0;
    for (const e of active) {
      rows += plan.expertOffsets[e + 1] - plan.expertOffsets[e];
      const p = g.experts[e];
      if (p.fmt1 !== WeightFormat.panels) rowK = Math.max(rowK, d);
      if (p.fmt2 !== WeightFormat.panels) rowK = Math.max(rowK, f);
    }
    const descBytes = 2 * active.length * DESC_BYTES;
    const floats = rows * (d + hWidth + (gated ? fPad : 0) + dPad);
    const s = shard.scratchFor(align64(descBytes) + floats * 4 + 64);
    const xg = s + align64(descBytes);
    // Blocks start on cache lines, so threads writing neighbouring panels never share one.
    const h = xg + align64(rows * d * 4);
    const act = gated ? h + rows * hWidth * 4 : h;
    const y = act + rows * fPad * 4;
    const view = shard.f32();
    const i32 = shard.i32();
    const table2 = s + active.length * DESC_BYTES;
    let local = 0;
    active.forEach((e, i) => {
      const r0 = plan.expertOffsets[e];
      const m = plan.expertOffsets[e + 1] - r0;
      // Gather: local row `local + r` is token rowToken[r0 + r].
      for (let r = 0, o = (xg >>> 2) + local * d; r < m; r++, o += d) {
        const t = plan.rowToken[r0 + r];
        view.set(x.subarray(t * d, t * d + d), o);
      }
      const p = g.experts[e];
      this.expertWork.record(e, m);
      writeDesc(i32, s, i, {
        epilogue: epilogueOf(g.kind), a: xg + local * d * 4, lda: d, m, k: d, b: p.w1, panels: hWidth / 16, bias: p.b1,
        c: h + local * hWidth * 4, ldc: hWidth, out: act + local * fPad * 4, ldo: fPad, fmt: p.fmt1, b2: p.up, fmt2: p.fmtUp, n: f,
      });
      writeDesc(i32, table2, i, {
        epilogue: Epilogue.Plain, a: act + local * fPad * 4, lda: fPad, m, k: f, b: p.w2, panels: dPad / 16, bias: p.b2, c: y + local * dPad * 4, ldc: dPad,
        fmt: p.fmt2, n: d,
      });
      local += m;
    });
    const work = rowK > 0 ? shard.workFor(rowK, this.pool.threads) : { base: 0, stride: 0 };
    const parallel = rows * d * fPad >= PARALLEL_MIN_MACS;
    this.pool.run(shard, s, active.length, KC, parallel, work);
    this.pool.run(shard, table2, active.length, KC, parallel, work);
    const out = shard.f32();
    local = 0;
    for (const e of active) {
      const r0 = plan.expertOffsets[e];
      const m = plan.expertOffsets[e + 1] - r0;
      for (let r = 0, o = (y >>> 2) + local * dPad; r < m; r++, o += dPad) rowsOut.set(out.subarray(o, o + d), (r0 + r) * d);
      local += m;
    }
  }

  async dispose(): Promise<void> {
    await this.pool.close();
  }

  /** `fmt` with the 8-bit-activation flag where this engine uses them and the format has such a dot product. */
  private withActivations(fmt: number): number {
    return this.q8 && Q8_DOTS.has(fmt) ? fmt | ACT_Q8 : fmt;
  }

  private addShard(): Shard {
    let shard: Shard;
    try {
      shard = new Shard(this.shards.length, this.module, this.shardBytes, this.shardOffset);
    } catch (err) {
      // V8 throws a RangeError when it cannot reserve or grow another memory.
      const held = (this.residentBytes / 2 ** 30).toFixed(2);
      throw new BackendError(`the cpu backend cannot add WebAssembly memory ${this.shards.length + 1} (${held} GiB held so far): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.pool.addShard(shard.memory);
    this.shards.push(shard);
    return shard;
  }

  /**
   * A shard with room for `bytes` of weights (the newest first, then older ones' free space,
   * else a new one), leaving headroom for the calls' scratch and the threads' work buffers.
   */
  private place(bytes: number, what = "one layer's (or one expert's) weights"): Placed {
    const headroom = Math.min(SCRATCH_HEADROOM, this.shardBytes / 8);
    const room = this.shardBytes - this.shardOffset - headroom - 2 * 65536;
    if (bytes > room) {
      throw new BackendError(`${what} need${what.startsWith('a ') ? 's' : ''} ${(bytes / 2 ** 30).toFixed(2)} GiB, more than one WebAssembly memory of the cpu backend holds (${(room / 2 ** 30).toFixed(2)} GiB)`);
    }
    for (let i = this.shards.length - 1; i >= 0; i--) {
      if (this.shards[i].arena.fits(bytes + headroom)) return { shard: this.shards[i], blocks: [] };
    }
    return { shard: this.addShard(), blocks: [] };
  }

  /** One block of `bytes` in a shard with room (a KV cache: the whole of it in one memory). */
  private placeBlock(bytes: number, what: string): ShardBlock {
    const placed = this.place(bytes, what);
    const ptr = this.alloc(placed, bytes);
    return { shard: placed.shard, ptr, free: () => freeAll(placed) };
  }

  private alloc(placed: Placed, bytes: number): number {
    const ptr = placed.shard.arena.alloc(bytes);
    placed.blocks.push(ptr);
    return ptr;
  }

  private copyRows(placed: Placed, t: HostTensor, bytes: number): number {
    const ptr = this.alloc(placed, bytes);
    // A deferred tensor (a GGUF file's) is read from the file straight into wasm memory.
    t.copyBytesTo(placed.shard.u8().subarray(ptr, ptr + t.byteLength));
    return ptr;
  }

  /**
   * The first calls run in V8's baseline compiler (about 4x slower); a few small batches on
   * every thread let the optimising tier take over before the first real call.
   */
  private warmUp(): void {
    const weight = HostTensor.float32([64, 64], new Float32Array(64 * 64).fill(0.5));
    const lin = this.prepareLinear({ inFeatures: 64, outFeatures: 64, weight });
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
