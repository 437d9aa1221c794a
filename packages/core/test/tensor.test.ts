import { describe, expect, it } from 'vitest';
import { DTypeError, dtypeBytes, encodeBfloat16, formatShape, HostTensor, ShapeError, shapeSize, type DType } from '../src/index.js';

describe('HostTensor', () => {
  it('holds float32 data and reports shape and size', () => {
    const t = HostTensor.float32([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([2, 3]);
    expect(t.size).toBe(6);
    expect(t.toFloat32()).toBe(t.data); // no copy for float32
    expect(Object.isFrozen(t.shape)).toBe(true);
  });

  it('allocates zeros when no data is given, and accepts empty shapes', () => {
    expect(HostTensor.float32([4]).data).toEqual(new Float32Array(4));
    expect(HostTensor.float32([0, 3]).size).toBe(0);
    expect(HostTensor.float32([]).size).toBe(1); // a scalar
  });

  it('rejects an unknown dtype naming the accepted ones', () => {
    expect(() => new HostTensor('int8' as DType, [1], new Float32Array(1))).toThrow(DTypeError);
    expect(() => new HostTensor('int8' as DType, [1], new Float32Array(1))).toThrow(/unknown dtype 'int8'; expected one of float32, float16, bfloat16/);
  });

  it('rejects negative or fractional dimensions', () => {
    expect(() => HostTensor.float32([2, -1], new Float32Array(0))).toThrow(ShapeError);
    expect(() => HostTensor.float32([1.5], new Float32Array(1))).toThrow(/shape \[1\.5\] has a dimension that is not a non-negative integer/);
  });

  it('rejects the wrong typed array for the dtype', () => {
    expect(() => new HostTensor('float16', [2], new Float32Array(2) as unknown as Uint16Array)).toThrow(/a float16 tensor needs a Uint16Array, got Float32Array/);
    expect(() => new HostTensor('float32', [2], new Uint16Array(2) as unknown as Float32Array)).toThrow(DTypeError);
  });

  it('rejects a length that does not match the shape', () => {
    expect(() => HostTensor.float32([2, 3], new Float32Array(5))).toThrow(/shape \[2, 3\] needs 6 elements, data has 5/);
  });

  it('converts between dtypes with round-to-nearest-even', () => {
    const t = HostTensor.float32([3], Float32Array.from([1, -0.1, 65520]));
    const h = t.to('float16');
    expect(h.dtype).toBe('float16');
    expect(Array.from(h.data)).toEqual([0x3c00, 0xae66, 0x7c00]);
    const b = t.to('bfloat16');
    expect(Array.from(b.data)).toEqual(Array.from(encodeBfloat16([1, -0.1, 65520])));
    expect(b.to('float32').data[0]).toBe(1);
    expect(t.to('float32')).toBe(t);
    expect(Array.from(h.to('bfloat16').toFloat32())).toEqual([1, -0.10009765625, Infinity]); // 0x3dccc000 rounds up to 0x3dcd
    expect(h.data[1]).toBe(0xae66);
  });

  it('assertShape names the tensor and both shapes', () => {
    const t = HostTensor.float32([2, 3]);
    expect(() => t.assertShape('layer.w', [2, 3])).not.toThrow();
    expect(() => t.assertShape('layer.w', [3, 2])).toThrow(/layer\.w has shape \[2, 3\], expected \[3, 2\]/);
    expect(() => t.assertShape('layer.w', [2, 3, 1])).toThrow(ShapeError);
  });

  it('helpers', () => {
    expect(shapeSize([2, 3, 4])).toBe(24);
    expect(shapeSize([])).toBe(1);
    expect(formatShape([4, 5])).toBe('[4, 5]');
    expect(dtypeBytes('float32')).toBe(4);
    expect(dtypeBytes('bfloat16')).toBe(2);
  });
});
