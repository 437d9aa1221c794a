import { describe, expect, it } from 'vitest';
import {
  bfloat16ToFloat32,
  decodeBfloat16,
  decodeFloat16,
  encodeBfloat16,
  encodeFloat16,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
} from '../src/index.js';

/** The float32 whose bit pattern is `bits`. */
function f32(bits: number): number {
  return new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0];
}

describe('float16', () => {
  it('decodes normals, subnormals, zeros, infinities and NaN', () => {
    expect(float16ToFloat32(0x3c00)).toBe(1);
    expect(float16ToFloat32(0xc000)).toBe(-2);
    expect(float16ToFloat32(0x3555)).toBe(0.333251953125);
    expect(float16ToFloat32(0x7bff)).toBe(65504);
    expect(float16ToFloat32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(float16ToFloat32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(float16ToFloat32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(float16ToFloat32(0x8001)).toBe(-(2 ** -24));
    expect(Object.is(float16ToFloat32(0x8000), -0)).toBe(true);
    expect(float16ToFloat32(0x7c00)).toBe(Infinity);
    expect(float16ToFloat32(0xfc00)).toBe(-Infinity);
    expect(float16ToFloat32(0x7e00)).toBeNaN();
    expect(float16ToFloat32(0xfc01)).toBeNaN();
  });

  it('encodes exact values and rounds to nearest, ties to even', () => {
    expect(float32ToFloat16(1)).toBe(0x3c00);
    expect(float32ToFloat16(-2)).toBe(0xc000);
    expect(float32ToFloat16(65504)).toBe(0x7bff);
    // 1 + 2^-11 is halfway between 1 (even mantissa 0) and 1 + 2^-10: goes to 1.
    expect(float32ToFloat16(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3 * 2^-11 is halfway between mantissa 1 (odd) and 2 (even): goes to 2.
    expect(float32ToFloat16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // Just above a tie rounds up.
    expect(float32ToFloat16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    // Just below a tie rounds down.
    expect(float32ToFloat16(1 + 3 * 2 ** -11 - 2 ** -20)).toBe(0x3c01);
    // Mantissa carry into the exponent: 2 - 2^-12 rounds up to 2.
    expect(float32ToFloat16(2 - 2 ** -12)).toBe(0x4000);
  });

  it('rounds subnormals to nearest even and underflows to signed zero', () => {
    expect(float32ToFloat16(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16(-(2 ** -24))).toBe(0x8001);
    expect(float32ToFloat16(2 ** -25)).toBe(0x0000); // tie between 0 (even) and 1
    expect(float32ToFloat16(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 (even)
    expect(float32ToFloat16(0.75 * 2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16(2 ** -26)).toBe(0x0000);
    expect(float32ToFloat16(-(2 ** -26))).toBe(0x8000);
    expect(float32ToFloat16(5 * 2 ** -24)).toBe(0x0005);
    // Halfway between the largest subnormal (1023, odd) and the smallest normal (1024): carries into the exponent.
    expect(float32ToFloat16(1023.5 * 2 ** -24)).toBe(0x0400);
    expect(float32ToFloat16(1022.5 * 2 ** -24)).toBe(0x03fe);
  });

  it('overflows to infinity past the largest finite value (65520 is a tie that rounds up to 2^16)', () => {
    expect(float32ToFloat16(65519)).toBe(0x7bff);
    expect(float32ToFloat16(65520)).toBe(0x7c00);
    expect(float32ToFloat16(1e6)).toBe(0x7c00);
    expect(float32ToFloat16(-1e6)).toBe(0xfc00);
    expect(float32ToFloat16(Infinity)).toBe(0x7c00);
    expect(float32ToFloat16(-Infinity)).toBe(0xfc00);
    expect(float32ToFloat16(3.4e38)).toBe(0x7c00);
  });

  it('rounds float64 inputs once (no double rounding through float32)', () => {
    // float32 would round these onto a float16 tie first, and the tie would then go to even.
    expect(float32ToFloat16(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01);
    expect(float32ToFloat16(-(1 + 2 ** -11 + 2 ** -40))).toBe(0xbc01);
    expect(float32ToFloat16(1 + 3 * 2 ** -11 - 2 ** -40)).toBe(0x3c01);
    expect(float32ToFloat16(65519.999999)).toBe(0x7bff); // below the overflow midpoint 65520
    expect(float32ToFloat16(65520.000001)).toBe(0x7c00);
    expect(float32ToFloat16(1e300)).toBe(0x7c00);
    expect(float32ToFloat16(-1e300)).toBe(0xfc00);
    expect(float32ToFloat16(2 ** -25 + 2 ** -60)).toBe(0x0001); // just above the subnormal tie
    expect(float32ToFloat16(1e-300)).toBe(0x0000);
    expect(float32ToFloat16(0.1)).toBe(0x2e66);
  });

  it('keeps NaN a NaN', () => {
    const h = float32ToFloat16(NaN);
    expect(h & 0x7c00).toBe(0x7c00);
    expect(h & 0x03ff).not.toBe(0);
    expect(float16ToFloat32(h)).toBeNaN();
  });

  it('round-trips every non-NaN bit pattern exactly', () => {
    let checked = 0;
    for (let h = 0; h <= 0xffff; h++) {
      const v = float16ToFloat32(h);
      if (Number.isNaN(v)) continue;
      if (float32ToFloat16(v) !== h) throw new Error(`0x${h.toString(16)} -> ${v} -> 0x${float32ToFloat16(v).toString(16)}`);
      checked++;
    }
    expect(checked).toBe(65536 - 2 * 1023);
  });

  it('encodes and decodes arrays', () => {
    const src = [0.5, -1.25, 3.140625, 1e-7, 70000];
    const enc = encodeFloat16(src);
    expect(enc).toBeInstanceOf(Uint16Array);
    expect(Array.from(decodeFloat16(enc))).toEqual([0.5, -1.25, 3.140625, float16ToFloat32(float32ToFloat16(1e-7)), Infinity]);
    const out = new Float32Array(5);
    expect(decodeFloat16(enc, out)).toBe(out);
  });
});

describe('bfloat16', () => {
  it('decodes the upper half of a float32', () => {
    expect(bfloat16ToFloat32(0x3f80)).toBe(1);
    expect(bfloat16ToFloat32(0xc040)).toBe(-3);
    expect(bfloat16ToFloat32(0x7f80)).toBe(Infinity);
    expect(bfloat16ToFloat32(0x7fc0)).toBeNaN();
    expect(bfloat16ToFloat32(0x0001)).toBe(f32(0x00010000)); // subnormal
  });

  it('rounds to nearest, ties to even', () => {
    expect(float32ToBfloat16(1)).toBe(0x3f80);
    expect(float32ToBfloat16(f32(0x3f808000))).toBe(0x3f80); // tie, 0x3f80 is even
    expect(float32ToBfloat16(f32(0x3f818000))).toBe(0x3f82); // tie, 0x3f81 is odd
    expect(float32ToBfloat16(f32(0x3f808001))).toBe(0x3f81); // above the tie
    expect(float32ToBfloat16(f32(0x3f817fff))).toBe(0x3f81); // below the tie
    expect(float32ToBfloat16(f32(0xbf808000))).toBe(0xbf80); // negative tie
    expect(float32ToBfloat16(f32(0x007f8000))).toBe(0x0080); // subnormal tie carries to the smallest normal
    expect(float32ToBfloat16(f32(0x7f7fffff))).toBe(0x7f80); // largest float32 rounds to infinity
    expect(float32ToBfloat16(-Infinity)).toBe(0xff80);
  });

  it('rounds float64 inputs once (no double rounding through float32)', () => {
    expect(float32ToBfloat16(1 + 2 ** -8 + 2 ** -40)).toBe(0x3f81); // float32 would land on the tie
    expect(float32ToBfloat16(1 + 3 * 2 ** -8 - 2 ** -40)).toBe(0x3f81);
    expect(float32ToBfloat16((2 - 2 ** -8) * 2 ** 127 * (1 - 2 ** -40))).toBe(0x7f7f); // below the overflow midpoint
    expect(float32ToBfloat16((2 - 2 ** -8) * 2 ** 127)).toBe(0x7f80); // the midpoint itself: ties to even = infinity
    expect(float32ToBfloat16(1e300)).toBe(0x7f80);
    expect(float32ToBfloat16(-1e-300)).toBe(0x8000);
  });

  it('keeps NaN a NaN (never rounds it into infinity)', () => {
    for (const bits of [0x7f800001, 0x7fffffff, 0xff800001, 0x7fc00000]) {
      const b = float32ToBfloat16(f32(bits));
      expect(bfloat16ToFloat32(b)).toBeNaN();
    }
  });

  it('round-trips every non-NaN bit pattern exactly', () => {
    for (let b = 0; b <= 0xffff; b++) {
      const v = bfloat16ToFloat32(b);
      if (Number.isNaN(v)) continue;
      if (float32ToBfloat16(v) !== b) throw new Error(`0x${b.toString(16)} -> ${v} -> 0x${float32ToBfloat16(v).toString(16)}`);
    }
    expect(float32ToBfloat16(bfloat16ToFloat32(0x4049))).toBe(0x4049);
  });

  it('encodes and decodes arrays', () => {
    const enc = encodeBfloat16([1, -3, 0.1]);
    expect(Array.from(enc)).toEqual([0x3f80, 0xc040, 0x3dcd]);
    expect(Array.from(decodeBfloat16(enc))).toEqual([1, -3, f32(0x3dcd0000)]);
  });
});
