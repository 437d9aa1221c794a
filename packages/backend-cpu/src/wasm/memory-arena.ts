/**
 * A first-fit allocator over one shared WebAssembly memory (one shard of the backend): weights
 * live here for a layer's lifetime, scratch blocks for a call. Memory grows only between calls
 * (never while threads run), and views are re-created after a grow because old ones keep the
 * old length. Addresses go up to 4 GiB, so they are unsigned: views are indexed with `>>> 2`.
 */
import { BackendError } from '@moe-runtime/core';

const ALIGN = 64;
const PAGE = 65536;

interface Block {
  ptr: number;
  size: number;
}

/** Byte-addressed blocks of one WebAssembly.Memory. */
export class MemoryArena {
  private top: number;
  private readonly free: Block[] = [];
  private readonly sizes = new Map<number, number>();
  private f32View = new Float32Array(0);
  private i32View = new Int32Array(0);
  private u8View = new Uint8Array(0);

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
    private readonly maxBytes: number,
  ) {
    this.top = align(base);
  }

  /** Bytes in use or free-listed below the top. */
  get highWater(): number {
    return this.top;
  }

  /** Bytes held in blocks now (what the arena's pages hold, free-listed holes excluded). */
  get usedBytes(): number {
    let held = this.top;
    for (const b of this.free) held -= b.size;
    return held;
  }

  /** Whether `bytes` more (as one or several blocks) fit under the limit, without growing anything. */
  fits(bytes: number): boolean {
    return this.top + align(bytes) <= this.maxBytes;
  }

  /** A 64-byte aligned block of `bytes` (contents undefined). */
  alloc(bytes: number): number {
    const size = align(Math.max(bytes, ALIGN));
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.size < size) continue;
      const ptr = b.ptr;
      if (b.size === size) this.free.splice(i, 1);
      else {
        b.ptr += size;
        b.size -= size;
      }
      this.sizes.set(ptr, size);
      return ptr;
    }
    const ptr = this.top;
    this.ensure(ptr + size);
    this.top = ptr + size;
    this.sizes.set(ptr, size);
    return ptr;
  }

  /** Returns a block to the free list, merging neighbours and lowering the top when it can. */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) return;
    this.sizes.delete(ptr);
    let i = 0;
    while (i < this.free.length && this.free[i].ptr < ptr) i++;
    this.free.splice(i, 0, { ptr, size });
    if (i + 1 < this.free.length && ptr + size === this.free[i + 1].ptr) {
      this.free[i].size += this.free[i + 1].size;
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1].ptr + this.free[i - 1].size === ptr) {
      this.free[i - 1].size += this.free[i].size;
      this.free.splice(i, 1);
      i--;
    }
    const last = this.free[this.free.length - 1];
    if (last && last.ptr + last.size === this.top) {
      this.top = last.ptr;
      this.free.pop();
    }
  }

  /** A float32 view of the whole memory (re-created after growth). */
  f32(): Float32Array {
    if (this.f32View.buffer !== this.memory.buffer || this.f32View.length * 4 !== this.memory.buffer.byteLength) {
      this.f32View = new Float32Array(this.memory.buffer);
    }
    return this.f32View;
  }

  /** An int32 view of the whole memory (re-created after growth). */
  i32(): Int32Array {
    if (this.i32View.buffer !== this.memory.buffer || this.i32View.length * 4 !== this.memory.buffer.byteLength) {
      this.i32View = new Int32Array(this.memory.buffer);
    }
    return this.i32View;
  }

  /** A byte view of the whole memory (re-created after growth). */
  u8(): Uint8Array {
    if (this.u8View.buffer !== this.memory.buffer || this.u8View.length !== this.memory.buffer.byteLength) {
      this.u8View = new Uint8Array(this.memory.buffer);
    }
    return this.u8View;
  }

  private ensure(end: number): void {
    if (end > this.maxBytes) {
      throw new BackendError(`this WebAssembly memory of the cpu backend holds ${(this.maxBytes / 2 ** 30).toFixed(2)} GiB; a block needs ${(end / 2 ** 30).toFixed(2)} GiB in all`);
    }
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    try {
      this.memory.grow(Math.ceil((end - have) / PAGE));
    } catch (err) {
      throw new BackendError(`cannot grow a WebAssembly memory of the cpu backend to ${(end / 2 ** 30).toFixed(2)} GiB: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
