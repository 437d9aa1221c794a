/**
 * A GGUF (v3) file writer: metadata key/values, tensor infos and 32-byte aligned tensor data,
 * enough to hand the same weights to llama.cpp for an independent check and a benchmark.
 * Format: magic "GGUF", version, tensor count, kv count, kvs, tensor infos, padding, data.
 */
import { open } from 'node:fs/promises';
import { formatLayout, type HostTensor } from '@moe-runtime/core';

/** A metadata value: typed so the writer knows the GGUF value type. */
export type GgufValue =
  | { readonly type: 'u32'; readonly value: number }
  | { readonly type: 'i32'; readonly value: number }
  | { readonly type: 'f32'; readonly value: number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'string[]'; readonly value: readonly string[] }
  | { readonly type: 'i32[]'; readonly value: readonly number[] }
  | { readonly type: 'f32[]'; readonly value: readonly number[] };

const VT = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;
const ALIGNMENT = 32;

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  pad(): void {
    const rem = this.length % ALIGNMENT;
    if (rem) this.push(Buffer.alloc(ALIGNMENT - rem));
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** An array value: element type, length, then each element. */
function writeArray<T>(s: ByteSink, elementType: number, values: readonly T[], write: (x: T) => void): void {
  s.u32(VT.array);
  s.u32(elementType);
  s.u64(values.length);
  for (const x of values) write(x);
}

function writeValue(s: ByteSink, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      return (s.u32(VT.u32), s.u32(v.value));
    case 'i32':
      return (s.u32(VT.i32), s.i32(v.value));
    case 'f32':
      return (s.u32(VT.f32), s.f32(v.value));
    case 'bool':
      return (s.u32(VT.bool), s.push(Buffer.from([v.value ? 1 : 0])));
    case 'string':
      return (s.u32(VT.string), s.str(v.value));
    case 'string[]':
      return writeArray(s, VT.string, v.value, (x) => s.str(x));
    case 'i32[]':
      return writeArray(s, VT.i32, v.value, (x) => s.i32(x));
    case 'f32[]':
      return writeArray(s, VT.f32, v.value, (x) => s.f32(x));
  }
}

/** One tensor to write; `shape` is PyTorch order (outermost first), GGUF stores it reversed. */
export interface GgufTensor {
  readonly name: string;
  readonly tensor: HostTensor;
}

/** Writes a GGUF file with the given metadata and tensors. */
export async function writeGguf(path: string, metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensor[]): Promise<void> {
  const head = new ByteSink();
  head.push(Buffer.from('GGUF', 'ascii'));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(metadata.size);
  for (const [key, value] of metadata) {
    head.str(key);
    writeValue(head, value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const { name, tensor } of tensors) {
    head.str(name);
    head.u32(tensor.shape.length);
    for (const d of [...tensor.shape].reverse()) head.u64(d);
    head.u32(formatLayout(tensor.dtype).ggmlType);
    head.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(tensor.data.byteLength / ALIGNMENT) * ALIGNMENT;
  }
  head.pad();
  const file = await open(path, 'w');
  try {
    await file.write(head.concat());
    for (const { tensor } of tensors) {
      const bytes = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
      await file.write(bytes);
      const rem = bytes.length % ALIGNMENT;
      if (rem) await file.write(Buffer.alloc(ALIGNMENT - rem));
    }
  } finally {
    await file.close();
  }
}
