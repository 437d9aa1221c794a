/**
 * A minimal protocol-buffers writer: just what serialising an ONNX model needs (varints,
 * 32-bit floats, length-delimited bytes and nested messages). Messages are collected as a tree
 * of chunks and written once into a single buffer, so multi-hundred-megabyte weight payloads
 * are copied exactly once (into the model bytes) and never re-encoded.
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();

function varintBytes(value: number | bigint): Uint8Array {
  // Negative int64 values are encoded as their 64-bit two's complement (10 bytes).
  let v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : value < 0 ? BigInt.asUintN(64, BigInt(value)) : value;
  const out: number[] = [];
  if (typeof v === 'bigint') {
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
  } else {
    if (!Number.isSafeInteger(v)) throw new RangeError(`varint ${v} is not a safe integer`);
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
  }
  return Uint8Array.from(out);
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

type Chunk = Uint8Array | ProtoMessage;

/** A protobuf message under construction; fields are appended in call order. */
export class ProtoMessage {
  private readonly chunks: Chunk[] = [];
  private cachedLength = -1;

  private key(field: number, wire: number): void {
    this.chunks.push(varintBytes(field * 8 + wire));
    this.cachedLength = -1;
  }

  /** An int32/int64/enum field (varint). */
  varint(field: number, value: number | bigint): this {
    this.key(field, WIRE_VARINT);
    this.chunks.push(varintBytes(value));
    return this;
  }

  /** A float field (fixed32, little-endian). */
  float(field: number, value: number): this {
    this.key(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.chunks.push(b);
    return this;
  }

  /** A bytes field; `data` is referenced, not copied, until {@link toBytes}. */
  bytes(field: number, data: Uint8Array): this {
    this.key(field, WIRE_LEN);
    this.chunks.push(varintBytes(data.length), data);
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A packed repeated int64 field. */
  packedVarints(field: number, values: readonly number[]): this {
    const parts = values.map(varintBytes);
    const body = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      body.set(p, o);
      o += p.length;
    }
    return this.bytes(field, body);
  }

  /** A nested message field. */
  message(field: number, message: ProtoMessage): this {
    this.key(field, WIRE_LEN);
    this.chunks.push(message);
    return this;
  }

  /** Encoded size in bytes. */
  byteLength(): number {
    if (this.cachedLength >= 0) return this.cachedLength;
    let n = 0;
    for (const c of this.chunks) {
      if (c instanceof Uint8Array) n += c.length;
      else {
        const len = c.byteLength();
        n += varintLength(len) + len;
      }
    }
    this.cachedLength = n;
    return n;
  }

  private writeInto(out: Uint8Array, offset: number): number {
    for (const c of this.chunks) {
      if (c instanceof Uint8Array) {
        out.set(c, offset);
        offset += c.length;
      } else {
        const len = varintBytes(c.byteLength());
        out.set(len, offset);
        offset = c.writeInto(out, offset + len.length);
      }
    }
    return offset;
  }

  /** Serialises the message into one new buffer. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.byteLength());
    this.writeInto(out, 0);
    return out;
  }
}
