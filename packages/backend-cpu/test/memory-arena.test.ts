import { BackendError } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { MemoryArena } from '../src/wasm/memory-arena.js';

describe('MemoryArena', () => {
  it('aligns blocks, reuses freed space, merges neighbours and grows the memory', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 64, shared: true });
    const arena = new MemoryArena(memory, 100, 64 * 65536);
    const a = arena.alloc(10);
    const b = arena.alloc(1000);
    const c = arena.alloc(64);
    expect(a % 64).toBe(0);
    expect(a).toBeGreaterThanOrEqual(100);
    expect(b).toBe(a + 64);
    expect(c).toBe(b + 1024);
    arena.release(a);
    arena.release(b);
    // a and b merged into one free block of 1088 bytes.
    expect(arena.alloc(1088)).toBe(a);
    const big = arena.alloc(200_000);
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(big + 200_000);
    expect(arena.f32().length * 4).toBe(memory.buffer.byteLength);
    arena.release(big);
    arena.release(c);
    expect(arena.highWater).toBe(c);
  });

  it('throws a BackendError past the memory limit', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const arena = new MemoryArena(memory, 0, 4 * 65536);
    expect(() => arena.alloc(5 * 65536)).toThrow(BackendError);
  });
});
