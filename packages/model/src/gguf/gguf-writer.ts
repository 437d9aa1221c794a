/**
 * A GGUF (v3) file writer: metadata key/values, tensor infos and 32-byte aligned tensor data.
 * Format: magic "GGUF", version, tensor count, kv count, kvs, tensor infos, padding, data.
 *
 * The header is computed from the tensors' formats and shapes alone, then the data is written
 * tensor by tensor as a producer hands it over, so a generator never holds more than one
 * tensor of a many-GB model. Any storage format is written as stored (block formats as their
 * GGUF blocks). A `sparse` write leaves the data as a hole (the file has its full size but no
 * data on disk): shape-only checkpoints for memory checks.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { formatLayout, formatShape, GgufError, storageBytes, type DType, type HostTensor } from '@moe-runtime/core';

/** A metadata value: typed so the writer knows the GGUF value type. */
export type GgufValue =
  | { readonly type: 'u16'; readonly value: number }
  | { readonly type: 'u32'; readonly value: number }
  | { readonly type: 'i32'; readonly value: number }
  | { readonly type: 'f32'; readonly value: number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'string[]'; readonly value: readonly string[] }
  | { readonly type: 'i32[]'; readonly value: readonly number[] }
  | { readonly type: 'f32[]'; readonly value: readonly number[] };

const VT = { u16: 2, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;
const ALIGNMENT = 32;

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  private num(bytes: number, write: (b: Buffer) => void): void {
    const b = Buffer.alloc(bytes);
    write(b);
    this.push(b);
  }
  u16(v: number): void {
    this.num(2, (b) => b.writeUInt16LE(v));
  }
  u32(v: number): void {
    this.num(4, (b) => b.writeUInt32LE(v));
  }
  i32(v: number): void {
    this.num(4, (b) => b.writeInt32LE(v));
  }
  u64(v: number): void {
    this.num(8, (b) => b.writeBigUInt64LE(BigInt(v)));
  }
  f32(v: number): void {
    this.num(4, (b) => b.writeFloatLE(v));
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
    case 'u16':
      return (s.u32(VT.u16), s.u16(v.value));
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

/** One tensor's header facts; `shape` is PyTorch order (outermost first), GGUF stores it reversed. */
export interface GgufTensorSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** One tensor to write from memory. */
export interface GgufTensor {
  readonly name: string;
  readonly tensor: HostTensor;
}

/** Produces the stored bytes of tensor `index` (a tensor of its spec's format and shape, or its raw bytes). */
export type GgufTensorProducer = (spec: GgufTensorSpec, index: number) => Promise<HostTensor | Uint8Array> | HostTensor | Uint8Array;

/** Options of {@link writeGgufStream}. */
export interface WriteGgufOptions {
  /** Write the header only and leave the data as a hole of the right size (no producer calls). */
  readonly sparse?: boolean;
}

function paddedBytes(spec: GgufTensorSpec): number {
  return Math.ceil(storageBytes(spec.dtype, spec.shape) / ALIGNMENT) * ALIGNMENT;
}

function header(metadata: ReadonlyMap<string, GgufValue>, specs: readonly GgufTensorSpec[]): Buffer {
  const head = new ByteSink();
  head.push(Buffer.from('GGUF', 'ascii'));
  head.u32(3);
  head.u64(specs.length);
  head.u64(metadata.size);
  for (const [key, value] of metadata) {
    head.str(key);
    writeValue(head, value);
  }
  let offset = 0;
  for (const spec of specs) {
    head.str(spec.name);
    head.u32(spec.shape.length);
    for (const d of [...spec.shape].reverse()) head.u64(d);
    head.u32(formatLayout(spec.dtype).ggmlType);
    head.u64(offset);
    offset += paddedBytes(spec);
  }
  head.pad();
  return head.concat();
}

async function writeData(file: FileHandle, path: string, specs: readonly GgufTensorSpec[], produce: GgufTensorProducer): Promise<void> {
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i];
    const got = await produce(spec, i);
    const bytes = got instanceof Uint8Array ? got : got.bytes();
    const want = storageBytes(spec.dtype, spec.shape);
    if (!(got instanceof Uint8Array) && (got.dtype !== spec.dtype || formatShape(got.shape) !== formatShape(spec.shape))) {
      throw new GgufError(basename(path), spec.name, `the producer gave a ${got.dtype} ${formatShape(got.shape)} tensor for a ${spec.dtype} ${formatShape(spec.shape)} entry`);
    }
    if (bytes.byteLength !== want) throw new GgufError(basename(path), spec.name, `the producer gave ${bytes.byteLength} bytes, ${spec.dtype} ${formatShape(spec.shape)} needs ${want}`);
    await file.write(bytes);
    const pad = paddedBytes(spec) - want;
    if (pad) await file.write(Buffer.alloc(pad));
  }
}

/**
 * Writes a GGUF file: the header from `specs`, then each tensor's data as `produce` returns
 * it, one at a time. A failed write removes nothing but leaves a file that fails its checks.
 */
export async function writeGgufStream(
  path: string,
  metadata: ReadonlyMap<string, GgufValue>,
  specs: readonly GgufTensorSpec[],
  produce: GgufTensorProducer,
  options: WriteGgufOptions = {},
): Promise<void> {
  const head = header(metadata, specs);
  const file = await open(path, 'w');
  try {
    await file.write(head);
    if (options.sparse) await file.truncate(head.length + specs.reduce((s, t) => s + paddedBytes(t), 0));
    else await writeData(file, path, specs, produce);
  } finally {
    await file.close();
  }
}

/** Writes a GGUF file with the given metadata and in-memory tensors. */
export async function writeGguf(path: string, metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensor[]): Promise<void> {
  const specs = tensors.map(({ name, tensor }) => ({ name, dtype: tensor.dtype, shape: tensor.shape }));
  await writeGgufStream(path, metadata, specs, (_, i) => tensors[i].tensor);
}

/** The file names of a split checkpoint of `count` shards: `<prefix>-00001-of-0000N.gguf`, ... */
export function ggufShardPaths(dir: string, prefix: string, count: number): string[] {
  const total = String(count).padStart(5, '0');
  return Array.from({ length: count }, (_, i) => join(dir, `${prefix}-${String(i + 1).padStart(5, '0')}-of-${total}.gguf`));
}

/**
 * Writes a split checkpoint as llama.cpp's `gguf-split` does: the tensors in `shards` runs of
 * about equal count; the first shard carries all metadata, every shard `split.no`,
 * `split.count` and `split.tensors.count`. Returns the shard paths.
 */
export async function writeSplitGguf(
  dir: string,
  prefix: string,
  shards: number,
  metadata: ReadonlyMap<string, GgufValue>,
  specs: readonly GgufTensorSpec[],
  produce: GgufTensorProducer,
): Promise<string[]> {
  const paths = ggufShardPaths(dir, prefix, shards);
  const per = Math.ceil(specs.length / shards);
  for (let s = 0; s < shards; s++) {
    const part = specs.slice(s * per, (s + 1) * per);
    const split = new Map<string, GgufValue>([
      ['split.no', { type: 'u16', value: s }],
      ['split.count', { type: 'u16', value: shards }],
      ['split.tensors.count', { type: 'i32', value: specs.length }],
    ]);
    const meta = s === 0 ? new Map([...metadata, ...split]) : split;
    await writeGgufStream(paths[s], meta, part, (spec, i) => produce(spec, s * per + i));
  }
  return paths;
}
