import { describe, expect, it } from 'vitest';
import { createRng, HostTensor, ShapeError, type TensorBytesReader } from '../src/index.js';

/** A reader over `bytes` that counts its calls and the bytes it moved. */
function countingReader(bytes: Uint8Array): { read: TensorBytesReader; calls: number; moved: number } {
  const r = {
    calls: 0,
    moved: 0,
    read: (out: Uint8Array, offset: number): void => {
      r.calls++;
      r.moved += out.length;
      out.set(bytes.subarray(offset, offset + out.length));
    },
  };
  return r;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

describe('deferred HostTensor', () => {
  it('reads nothing until used, then its data equals the eager tensor and is read once', () => {
    const values = Float32Array.from({ length: 6 * 8 }, (_, i) => Math.sin(i + 0.5));
    const eager = HostTensor.float32([6, 8], values);
    const src = countingReader(eager.bytes());
    const t = HostTensor.deferred('float32', [6, 8], src.read);
    expect(t.resident).toBe(false);
    expect(t.byteLength).toBe(6 * 8 * 4);
    expect(t.rows).toBe(6);
    expect(src.calls).toBe(0);
    expect(t.toFloat32()).toEqual(values);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(t.resident).toBe(true);
    expect(src.calls).toBe(1);
  });

  it('copyBytesTo reads straight into the destination and keeps no host copy', () => {
    // q8_0: 34-byte blocks of 32 values; 3 rows of 64 values.
    const bytes = randomBytes(3 * 2 * 34, 11);
    const src = countingReader(bytes);
    const t = HostTensor.deferred('q8_0', [3, 64], src.read);
    const out = new Uint8Array(t.byteLength);
    t.copyBytesTo(out);
    expect(out).toEqual(bytes);
    expect(t.resident).toBe(false);
    expect(src.moved).toBe(bytes.length);
    expect(() => t.copyBytesTo(new Uint8Array(t.byteLength - 1))).toThrow(ShapeError);
  });

  it('a slice of a deferred stack reads only its own bytes, at its offset', () => {
    const bytes = randomBytes(4 * 2 * 2 * 34, 12); // [4 experts, 2 rows, 64] q8_0
    const src = countingReader(bytes);
    const stack = HostTensor.deferred('q8_0', [4, 2, 64], src.read);
    const eager = new HostTensor('q8_0', [4, 2, 64], bytes);
    for (const j of [2, 0, 3]) {
      const before = src.moved;
      const s = stack.slice0(j);
      expect(s.resident).toBe(false);
      expect(s.shape).toEqual([2, 64]);
      const out = new Uint8Array(s.byteLength);
      s.copyBytesTo(out);
      expect(out).toEqual(eager.slice0(j).bytes());
      expect(src.moved - before).toBe(2 * 2 * 34);
      expect(s.toFloat64()).toEqual(eager.slice0(j).toFloat64());
    }
    expect(stack.resident).toBe(false);
  });

  it('rowSlice gives rows [from, to) in the stored format, eager or deferred, reading only those rows', () => {
    const bytes = randomBytes(5 * 2 * 34, 13); // [5 rows, 64] q8_0
    const src = countingReader(bytes);
    const lazy = HostTensor.deferred('q8_0', [5, 64], src.read);
    const eager = new HostTensor('q8_0', [5, 64], bytes);
    const all = eager.toFloat64();
    for (const [from, to] of [[1, 4], [0, 5], [4, 5], [2, 2]] as const) {
      const e = eager.rowSlice(from, to);
      expect(e.shape).toEqual([to - from, 64]);
      expect(e.toFloat64()).toEqual(all.subarray(from * 64, to * 64));
      const before = src.moved;
      const l = lazy.rowSlice(from, to);
      expect(l.resident).toBe(false);
      expect(l.toFloat64()).toEqual(e.toFloat64());
      expect(src.moved - before).toBe((to - from) * 2 * 34);
    }
    const f = HostTensor.float32([3, 4], Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2));
    expect(f.rowSlice(1, 3).toFloat32()).toEqual(f.data.subarray(4, 12));
    expect(() => f.rowSlice(2, 4)).toThrow(ShapeError);
    expect(() => f.rowSlice(-1, 2)).toThrow(/rows \[-1, 2\) are not a range within \[0, 3\]/);
    expect(() => HostTensor.float32([2, 2, 2]).rowSlice(0, 1)).toThrow(/2-dimensional/);
  });

  it('refuses a shape that is not whole blocks, as the eager constructor does', () => {
    expect(() => HostTensor.deferred('q8_0', [2, 40], () => undefined)).toThrow(ShapeError);
  });
});
