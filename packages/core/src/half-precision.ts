/**
 * float16 / bfloat16 <-> float32 conversion. Stored weights may be half precision; compute is
 * float32, so these run once at load or prepare time, never in a kernel's inner loop.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Decodes one IEEE-754 binary16 value. */
export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal or zero
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * A float64 input is first rounded to float32, which can move it onto a half-precision tie
 * (or off one) it was not on; one step to the neighbouring code undoes that double rounding.
 * Ties cannot occur here: every half-precision tie is a float32 value.
 */
function undoDoubleRounding(value: number, h: number, decode: (h: number) => number, overflow: number, inf: number): number {
  if (Math.fround(value) === value || value !== value) return h;
  const sign = h & 0x8000;
  if (Math.abs(value) >= overflow) return sign | inf; // past the midpoint above the largest finite code
  const a = decode(h);
  const n = sign | (Math.abs(value) > Math.abs(a) ? (h & 0x7fff) + 1 : (h & 0x7fff) - 1);
  return Math.abs(value - decode(n)) < Math.abs(value - a) ? n : h;
}

/** Encodes a number as IEEE-754 binary16, rounding to nearest even (exactly, for float64 inputs too). */
export function float32ToFloat16(value: number): number {
  return undoDoubleRounding(value, float32BitsToFloat16(value), float16ToFloat32, 65520, 0x7c00);
}

function float32BitsToFloat16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN (quiet)
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to infinity
  if (e <= 0) {
    if (e < -10) return sign; // underflows to signed zero
    mant |= 0x800000; // implicit bit
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m += 1;
    return sign | m; // a carry into the exponent field yields the smallest normal, correctly
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m += 1;
    if (m === 0x400) {
      m = 0;
      e += 1;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Decodes one bfloat16 value (the upper 16 bits of a float32). */
export function bfloat16ToFloat32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** Encodes a number as bfloat16, rounding to nearest even (NaN stays NaN; exact for float64 inputs too). */
export function float32ToBfloat16(value: number): number {
  return undoDoubleRounding(value, float32BitsToBfloat16(value), bfloat16ToFloat32, (2 - 2 ** -8) * 2 ** 127, 0x7f80);
}

function float32BitsToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** Decodes a whole float16 array. */
export function decodeFloat16(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) out[i] = float16ToFloat32(src[i]);
  return out;
}

/** Decodes a whole bfloat16 array (a shift per element, via a 32-bit view). */
export function decodeBfloat16(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/** Encodes a float array as float16. */
export function encodeFloat16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = float32ToFloat16(src[i]);
  return out;
}

/** Encodes a float array as bfloat16. */
export function encodeBfloat16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = float32ToBfloat16(src[i]);
  return out;
}
