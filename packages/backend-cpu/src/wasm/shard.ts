/**
 * One shard of the WebAssembly engine: a shared WebAssembly memory (at most 4 GiB, wasm32's
 * limit) with its own kernel instance, allocator, batch counters, scratch for calls and the
 * threads' work buffers. Weights of one layer (or one expert) live in one shard, and a call's
 * activations are copied into the shard whose weights it runs, so every kernel works on a
 * single memory; a backend holds as many shards as its weights need.
 */
import type { KernelExports } from './kernel-module.js';
import { instantiateKernels } from './kernel-module.js';
import { MemoryArena } from './memory-arena.js';
import type { BatchTarget, WorkArea } from './thread-pool.js';

const PAGE = 65536;
/** Bytes kept below the arena for the kernels' own static data. */
const KERNEL_RESERVED = 65536;

/** A memory of the engine with its kernels and allocator. */
export class Shard implements BatchTarget {
  readonly arena: MemoryArena;
  readonly kernels: KernelExports;
  readonly counter: number;
  private scratch = 0;
  private scratchBytes = 0;
  private work = 0;
  private workStride = 0;
  private workThreads = 0;

  /**
   * `maxBytes` (a whole number of pages) bounds the memory; `offset` bytes above the kernels'
   * data are left unused (never touched, so they cost no RAM: tests place weights past 2 GiB).
   */
  constructor(
    readonly index: number,
    module: WebAssembly.Module,
    maxBytes: number,
    offset = 0,
  ) {
    const memory = new WebAssembly.Memory({ initial: Math.min(32, maxBytes / PAGE), maximum: maxBytes / PAGE, shared: true });
    this.kernels = instantiateKernels(module, memory);
    this.arena = new MemoryArena(memory, KERNEL_RESERVED, maxBytes);
    this.counter = this.arena.alloc(64);
    this.arena.i32().fill(0, this.counter >>> 2, (this.counter >>> 2) + 16);
    if (offset > 0) this.arena.alloc(offset);
  }

  get memory(): WebAssembly.Memory {
    return this.arena.memory;
  }

  i32(): Int32Array {
    return this.arena.i32();
  }

  f32(): Float32Array {
    return this.arena.f32();
  }

  u8(): Uint8Array {
    return this.arena.u8();
  }

  /** A block of scratch memory for one call, reused across calls (grown when too small). */
  scratchFor(bytes: number): number {
    if (bytes > this.scratchBytes) {
      if (this.scratch) this.arena.release(this.scratch);
      this.scratch = 0;
      this.scratchBytes = 0;
      const size = Math.ceil((bytes * 1.25) / 64) * 64;
      this.scratch = this.arena.alloc(size);
      this.scratchBytes = size;
    }
    return this.scratch;
  }

  /** Work buffers for `threads` threads decoding rows of up to `k` values (grown when too small). */
  workFor(k: number, threads: number): WorkArea {
    return this.workForBytes(this.kernels.workBytes(k), threads);
  }

  /** Work buffers of `bytes` each for `threads` threads (grown when too small). */
  workForBytes(bytes: number, threads: number): WorkArea {
    const stride = Math.ceil(bytes / 64) * 64;
    if (stride > this.workStride || threads > this.workThreads) {
      if (this.work) this.arena.release(this.work);
      this.work = 0;
      this.workStride = Math.max(stride, this.workStride);
      this.workThreads = Math.max(threads, this.workThreads);
      this.work = this.arena.alloc(this.workStride * this.workThreads);
    }
    return { base: this.work, stride: this.workStride };
  }
}
