/** The protobuf writer's wire encoding, checked against hand-encoded bytes from the protobuf spec. */
import { describe, expect, it } from 'vitest';
import { ProtoMessage } from '../src/proto-writer.js';

const bytes = (m: ProtoMessage): number[] => [...m.toBytes()];

describe('ProtoMessage', () => {
  it('encodes varints (spec example 150 -> 08 96 01) and 300', () => {
    expect(bytes(new ProtoMessage().varint(1, 150))).toEqual([0x08, 0x96, 0x01]);
    expect(bytes(new ProtoMessage().varint(2, 300))).toEqual([0x10, 0xac, 0x02]);
  });

  it('encodes a negative int64 as ten bytes of two\'s complement', () => {
    expect(bytes(new ProtoMessage().varint(3, -1))).toEqual([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('encodes strings, floats, packed varints and nested messages with their lengths', () => {
    expect(bytes(new ProtoMessage().string(2, 'testing'))).toEqual([0x12, 0x07, ...Buffer.from('testing')]);
    expect(bytes(new ProtoMessage().float(2, 1))).toEqual([0x15, 0x00, 0x00, 0x80, 0x3f]);
    expect(bytes(new ProtoMessage().packedVarints(1, [3, 270]))).toEqual([0x0a, 0x03, 0x03, 0x8e, 0x02]);
    const inner = new ProtoMessage().varint(1, 150);
    const outer = new ProtoMessage().message(3, inner).varint(4, 1);
    expect(bytes(outer)).toEqual([0x1a, 0x03, 0x08, 0x96, 0x01, 0x20, 0x01]);
    expect(outer.byteLength()).toBe(7);
  });

  it('writes a large bytes payload once, at the right offset', () => {
    const payload = Uint8Array.from({ length: 200 }, (_, i) => (i * 7) & 0xff);
    const out = new ProtoMessage().bytes(9, payload).toBytes();
    expect([...out.subarray(0, 3)]).toEqual([0x4a, 0xc8, 0x01]);
    expect(out.subarray(3)).toEqual(payload);
  });
});
