/**
 * ggml block formats: hand-made blocks whose decoded values are worked out by hand from the
 * layouts in ggml-common.h / ggml-quants.c, so a wrong nibble order, scale packing or offset
 * fails here rather than as slightly-off logits.
 */
import { describe, expect, it } from 'vitest';
import {
  BLOCK_FORMATS,
  bitsPerValue,
  createRng,
  decodeValues,
  DTypeError,
  dtypeOfGgmlType,
  encodeValues,
  formatLayout,
  HostTensor,
  randomNormal,
  rowBytes,
  ShapeError,
  storageBytes,
  type BlockFormat,
} from '../src/index.js';

function decode(dtype: BlockFormat, block: Uint8Array): Float64Array {
  const out = new Float64Array(formatLayout(dtype).blockElements);
  decodeValues(dtype, block, 0, out.length, out);
  return out;
}

function setF16(b: Uint8Array, at: number, bits: number): void {
  b[at] = bits & 255;
  b[at + 1] = bits >> 8;
}

describe('block layouts', () => {
  it('sizes rows and tensors in whole blocks', () => {
    expect(rowBytes('q8_0', 64)).toBe(68);
    expect(rowBytes('q4_0', 64)).toBe(36);
    expect(rowBytes('q5_0', 64)).toBe(44);
    expect(storageBytes('q5_0', [3, 1408])).toBe(3 * 44 * 22);
    expect(bitsPerValue('q5_0')).toBe(5.5);
    expect(rowBytes('q4_k', 512)).toBe(288);
    expect(rowBytes('q5_k', 256)).toBe(176);
    expect(rowBytes('q6_k', 256)).toBe(210);
    expect(rowBytes('mxfp4', 32)).toBe(17);
    expect(storageBytes('q6_k', [3, 2, 512])).toBe(6 * 420);
    expect(bitsPerValue('q4_k')).toBe(4.5);
    expect(bitsPerValue('q8_0')).toBe(8.5);
  });

  it('maps ggml type ids both ways', () => {
    for (const f of BLOCK_FORMATS) expect(dtypeOfGgmlType(formatLayout(f).ggmlType)).toBe(f);
    expect(dtypeOfGgmlType(12)).toBe('q4_k');
    expect(dtypeOfGgmlType(39)).toBe('mxfp4');
    expect(dtypeOfGgmlType(6)).toBe('q5_0');
    expect(formatLayout('q5_0')).toEqual({ blockElements: 32, blockBytes: 22, ggmlType: 6 });
    expect(dtypeOfGgmlType(3)).toBeUndefined(); // q4_1: not read by this runtime
  });

  it('refuses rows that are not whole blocks, naming the tensor', () => {
    expect(() => rowBytes('q4_k', 128)).toThrow(ShapeError);
    expect(() => new HostTensor('q5_0', [2, 48], new Uint8Array(66))).toThrow(/a q5_0 row holds whole blocks of 32 values, but the last dimension is 48/);
    expect(() => new HostTensor('q4_k', [2, 128], new Uint8Array(144))).toThrow(/a q4_k row holds whole blocks of 256 values, but the last dimension is 128/);
    expect(() => new HostTensor('q8_0', [2, 32], new Uint8Array(33))).toThrow(/needs 68 bytes, data has 33/);
    expect(() => new HostTensor('q8_0', [32], new Uint16Array(17) as unknown as Uint8Array)).toThrow(DTypeError);
  });
});

describe('hand-made blocks decode to the values worked out by hand', () => {
  it('q8_0: d * q with signed bytes', () => {
    const b = new Uint8Array(34);
    setF16(b, 0, 0x3800); // d = 0.5
    b.set([1, 254, 127, 128], 2); // 1, -2, 127, -128
    const v = decode('q8_0', b);
    expect(Array.from(v.subarray(0, 5))).toEqual([0.5, -1, 63.5, -64, 0]);
  });

  it('q4_0: low nibbles are values 0-15, high nibbles 16-31, offset 8', () => {
    const b = new Uint8Array(18).fill(0x88, 2); // nibble 8 = 0 everywhere
    setF16(b, 0, 0x4000); // d = 2
    b[2] = 0x9f; // value 0: 2 * (15 - 8) = 14; value 16: 2 * (9 - 8) = 2
    b[3] = 0x08; // value 1: 0; value 17: 2 * (0 - 8) = -16
    const v = decode('q4_0', b);
    expect([v[0], v[16], v[1], v[17], v[5]]).toEqual([14, 2, 0, -16, 0]);
  });

  it('q5_0: fifth bit j of the little-endian u32 qh for value j, low nibbles 0-15, high nibbles 16-31, offset 16', () => {
    const b = new Uint8Array(22);
    setF16(b, 0, 0x3800); // d = 0.5
    b.set([0x01, 0x00, 0x02, 0x80], 2); // qh = bits 0, 17 and 31
    b[6 + 0] = 0x3f; // value 0: 15 | 1 << 4 = 31 -> 0.5 * 15 = 7.5; value 16: 3 (bit 16 clear) -> 0.5 * -13 = -6.5
    b[6 + 1] = 0xa0; // value 1: 0 -> -8; value 17: 10 | 16 = 26 -> 5
    b[6 + 15] = 0x54; // value 15: 4 -> -6; value 31: 5 | 16 = 21 -> 2.5 (bit 31: the sign bit of an int32)
    const v = decode('q5_0', b);
    expect([v[0], v[16], v[1], v[17], v[15], v[31], v[5], v[20]]).toEqual([7.5, -6.5, -8, 5, -6, 2.5, -8, -8]);
    setF16(b, 0, 0xb400); // d = -0.25: the sign of d flips every value
    expect(decode('q5_0', b)[0]).toBe(-3.75);
  });

  it('q5_0 encoder: the largest magnitude takes code 0, d = max / -16, codes round half up and clamp at 31', () => {
    // max = -2 (largest magnitude, negative): d = 0.125, id = 8, code = trunc(8 x + 16.5).
    const x = randomNormal(createRng(13), 32, 0.3).map((v) => Math.max(-1.5, Math.min(1.5, v)));
    x.set([-2, 1, 0.0625, 0.1875, 1.9, -0.0625], 0);
    const v = decode('q5_0', encodeValues('q5_0', x, 1, 32));
    // -2 -> 0 -> -2; 1 -> 24 -> 1; 0.0625 -> 17 -> 0.125; 0.1875 (8 x = 1.5, a tie) -> 18 -> 0.25; 1.9 -> 31 -> 1.875; -0.0625 (-0.5, a tie) -> 16 -> 0.
    expect(Array.from(v.subarray(0, 6))).toEqual([-2, 1, 0.125, 0.25, 1.875, 0]);
    for (let j = 6; j < 32; j++) expect(Math.abs(v[j] - x[j])).toBeLessThanOrEqual(0.0625 + 1e-9);
    // max = +2: d = -0.125, so -2 would need code 32 and clamps to 31 (-1.875), as ggml's MIN(31, ...) does.
    const y = new Float32Array(x);
    y.set([2, -2], 0);
    const w = decode('q5_0', encodeValues('q5_0', y, 1, 32));
    expect([w[0], w[1]]).toEqual([2, -1.875]);
    // The fifth bits: every code >= 16 sets its qh bit.
    const bytes = encodeValues('q5_0', x, 1, 32);
    const qh = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
    expect(qh & 1).toBe(0); // -2: code 0
    expect((qh >>> 1) & 1).toBe(1); // 1: code 24
  });

  /** d = 1, dmin = 0.5; sub-block 0: scale 3, min 2; sub-block 5: scale 37, min 19 (6-bit values split over two bytes). */
  function kScales(b: Uint8Array): void {
    setF16(b, 0, 0x3c00);
    setF16(b, 2, 0x3800);
    const s = 4;
    b[s + 0] = 3; // scale 0
    b[s + 4] = 2; // min 0
    // sub-block 5: scale 37 = 0b10_0101 -> low 4 bits (5) in byte 9's low nibble, high 2 bits (2) atop byte 1;
    // min 19 = 0b01_0011 -> low 4 bits (3) in byte 9's high nibble, high 2 bits (1) atop byte 5.
    b[s + 9] = 0x35;
    b[s + 1] = 2 << 6;
    b[s + 5] = 1 << 6;
  }

  it('q4_k: 6-bit scales and mins, sub-block 2c in low nibbles and 2c+1 in high nibbles of chunk c', () => {
    const b = new Uint8Array(144);
    kScales(b);
    b[16 + 0] = 0x0a; // value 0 (sub-block 0): 1 * 3 * 10 - 0.5 * 2 = 29
    b[16 + 64] = 0x70; // chunk 2: value 128 (sub-block 4, scale 0, min 0) = 0; value 160 (sub-block 5): 37 * 7 - 0.5 * 19 = 249.5
    const v = decode('q4_k', b);
    expect(v[0]).toBe(29);
    expect(v[1]).toBe(-1); // code 0: -dmin * min = -1
    expect(v[128]).toBe(0);
    expect(v[160]).toBe(249.5);
    expect(v[161]).toBe(-9.5);
  });

  it('q5_k: as q4_k, with the fifth bit of sub-block s in bit s of qh', () => {
    const b = new Uint8Array(176);
    kScales(b);
    b[16 + 0] = (1 << 0) | (1 << 5); // qh[0]: fifth bit for value 0 (sub-block 0) and value 160 (sub-block 5)
    b[48 + 0] = 0x0a; // value 0: code 10 + 16 = 26 -> 3 * 26 - 1 = 77
    b[48 + 64] = 0x70; // value 160: code 7 + 16 = 23 -> 37 * 23 - 9.5 = 841.5
    const v = decode('q5_k', b);
    expect(v[0]).toBe(77);
    expect(v[160]).toBe(841.5);
    expect(v[32]).toBe(0); // sub-block 1 has scale 0 and min 0
  });

  it('q6_k: 4 low bits in ql, 2 high bits in qh, signed scale per 16 values, offset 32, d last', () => {
    const b = new Uint8Array(210);
    setF16(b, 208, 0x3400); // d = 0.25
    b[192 + 0] = 0xfe; // scale of values 0-15: -2
    b[192 + 6] = 4; // scale of values 96-111
    b[192 + 9] = 8; // scale of values 144-159 (second half, is = 1)
    b[0] = 0x05; // value 0: low bits 5; qh[0] bits 0-1 = 2 -> code 37 - 32 = 5 -> 0.25 * -2 * 5 = -2.5
    b[32] = 0x30; // value 96: ql[32] high nibble 3, qh[0] bits 6-7 = 1 -> code 19 - 32 = -13 -> 0.25 * 4 * -13 = -13
    b[128] = 2 | (1 << 6);
    b[64 + 17] = 0x0f; // second half, value 128 + 17: low 15; qh[32 + 17] bits 0-1 = 3 -> 63 - 32 = 31 -> 0.25 * 8 * 31 = 62
    b[128 + 32 + 17] = 3;
    const v = decode('q6_k', b);
    expect(v[0]).toBe(-2.5);
    expect(v[96]).toBe(-13);
    expect(v[145]).toBe(62);
    expect(v[1]).toBe(16); // code 0 - 32 = -32 -> 0.25 * -2 * -32
  });

  it('mxfp4: E8M0 shared exponent, FP4 nibbles, low nibble j and high nibble j + 16', () => {
    const b = new Uint8Array(17);
    b[0] = 130; // 2^(130 - 127) = 8
    b[1] = 0xf7; // value 0: fp4 code 7 = 6 -> 48; value 16: code 15 = -6 -> -48
    b[2] = 0x91; // value 1: code 1 = 0.5 -> 4; value 17: code 9 = -0.5 -> -4
    const v = decode('mxfp4', b);
    expect([v[0], v[16], v[1], v[17], v[2]]).toEqual([48, -48, 4, -4, 0]);
    b[0] = 0; // the smallest exponent, 2^-127
    expect(decode('mxfp4', b)[1]).toBe(0.5 * 2 ** -127);
  });
});

describe('encoders', () => {
  // Relative RMS error of encode -> decode on unit-normal rows, measured on this data
  // (q8_0 0.0053, q4_0 0.084, q5_0 0.043, q4_k 0.079, q5_k 0.039, q6_k 0.019, mxfp4 0.115); asserted at 1.5x.
  const bounds: Record<BlockFormat, number> = { q8_0: 0.008, q4_0: 0.126, q5_0: 0.064, q4_k: 0.118, q5_k: 0.058, q6_k: 0.029, mxfp4: 0.173 };

  it.each(BLOCK_FORMATS)('%s round trip: valid blocks within the measured error', (f) => {
    const rows = 4;
    const cols = 512;
    const x = randomNormal(createRng(11), rows * cols, 1);
    const bytes = encodeValues(f, x, rows, cols);
    expect(bytes.length).toBe(storageBytes(f, [rows, cols]));
    const y = new Float64Array(rows * cols);
    decodeValues(f, bytes, 0, rows * cols, y);
    let err = 0;
    let ref = 0;
    for (let i = 0; i < x.length; i++) {
      err += (x[i] - y[i]) ** 2;
      ref += x[i] ** 2;
    }
    const rel = Math.sqrt(err / ref);
    expect(rel).toBeLessThan(bounds[f]);
    expect(rel).toBeGreaterThan(0); // it really quantized
  });

  it('HostTensor.to encodes and decodeRow / slice0 read one row or one sub-tensor', () => {
    const x = HostTensor.float32([2, 3, 256], randomNormal(createRng(5), 2 * 3 * 256, 1));
    const q = x.to('q6_k');
    expect(q.byteLength).toBe(6 * 210);
    const all = q.toFloat32();
    const expert1 = q.slice0(1);
    expect(expert1.shape).toEqual([3, 256]);
    expect(Array.from(expert1.decodeRow(2))).toEqual(Array.from(all.subarray(5 * 256, 6 * 256)));
    expect(Array.from(q.toFloat64()).map(Math.fround)).toEqual(Array.from(all));
    expect(() => q.decodeRow(6)).toThrow(/row 6 is outside \[0, 6\)/);
  });

  it('refuses non-finite values and scales beyond float16', () => {
    const x = randomNormal(createRng(3), 32, 1);
    x[7] = NaN;
    expect(() => encodeValues('q8_0', x, 1, 32)).toThrow(/value NaN at index 7 is not finite/);
    const big = new Float32Array(32).fill(1e7);
    expect(() => encodeValues('q8_0', big, 1, 32)).toThrow(DTypeError);
  });
});
