/**
 * Opening GGUF checkpoints for reading: the header, metadata and tensor infos are parsed by
 * `@huggingface/gguf` (which never reads tensor data); every tensor info is then checked
 * (a type this runtime reads, whole blocks per row, aligned and inside the file) before any
 * data is read, so a bad file fails in milliseconds with nothing allocated. Tensor bytes are
 * read from the file one tensor at a time, straight into the tensor's own buffer: the file is
 * never held in the JavaScript heap. Split checkpoints (`name-00001-of-00003.gguf`, with
 * `split.*` metadata) open as one.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { gguf, parseGgufShardFilename } from '@huggingface/gguf';
import {
  DTYPES,
  dtypeOfGgmlType,
  errorMessage,
  formatLayout,
  formatShape,
  GgufError,
  HostTensor,
  readFullySync,
  storageBytes,
  type DType,
  type DTypeStorage,
} from '@moe-runtime/core';
import { GgufMetadata, type GgufMetadataEntry } from './gguf-metadata.js';

/** One tensor of a GGUF checkpoint, validated. */
export interface GgufTensorInfo {
  readonly name: string;
  readonly dtype: DType;
  /** ggml's type id as stored. */
  readonly ggmlType: number;
  /** Outermost first (PyTorch order); GGUF stores the dimensions innermost first. */
  readonly shape: readonly number[];
  /** The file (shard) holding its bytes. */
  readonly path: string;
  /** Absolute byte offset of its data in that file. */
  readonly offset: number;
  readonly byteLength: number;
}

/** ggml type ids and the names ggml gives them, for messages about types this runtime does not read. */
const GGML_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K',
  14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS',
  24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

function supportedTypes(): string {
  return DTYPES.map((d) => `${GGML_TYPE_NAMES[formatLayout(d).ggmlType]} (${formatLayout(d).ggmlType})`).join(', ');
}

const MAX_READ = 1 << 28;

/** Reads `length` bytes at `position` into `out`, in pieces (one read call moves at most 2 GiB). */
async function readInto(handle: FileHandle, out: Uint8Array, position: number, file: string, tensor: string): Promise<void> {
  let done = 0;
  while (done < out.length) {
    const n = Math.min(MAX_READ, out.length - done);
    const { bytesRead } = await handle.read(out, done, n, position + done);
    if (bytesRead === 0) throw new GgufError(file, tensor, `the file ended after ${done} of ${out.length} bytes of tensor data; it is truncated or changed while open`);
    done += bytesRead;
  }
}

/** Reads `out.length` bytes at `position` synchronously (a deferred tensor's reader): core's readFullySync, short reads named. */
function readSyncInto(fd: number, out: Uint8Array, position: number, file: string, tensor: string): void {
  const done = readFullySync(fd, out, position);
  if (done < out.length) throw new GgufError(file, tensor, `the file ended after ${done} of ${out.length} bytes of tensor data; it is truncated or changed while open`);
}

/** A tensor's storage over a freshly allocated buffer of its size. */
function storageOf(dtype: DType, buffer: ArrayBuffer): DTypeStorage[DType] {
  if (dtype === 'float32') return new Float32Array(buffer);
  if (dtype === 'float16' || dtype === 'bfloat16') return new Uint16Array(buffer);
  return new Uint8Array(buffer);
}

interface ParsedShard {
  readonly path: string;
  readonly size: number;
  readonly metadata: GgufMetadata;
  readonly tensors: GgufTensorInfo[];
}

function toNumber(v: bigint, file: string, tensor: string, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(file, tensor, `${what} ${v} is too large`);
  return Number(v);
}

/** Checks one tensor info (type, dimensions, whole blocks per row, alignment, inside the file). */
function tensorInfo(
  file: string,
  path: string,
  size: number,
  dataStart: number,
  alignment: number,
  t: { name: string; shape: bigint[]; dtype: number; offset: bigint },
): GgufTensorInfo {
  const dtype = dtypeOfGgmlType(t.dtype);
  if (dtype === undefined) {
    const known = GGML_TYPE_NAMES[t.dtype];
    throw new GgufError(file, t.name, `has ggml type ${t.dtype}${known ? ` (${known})` : ' (unknown to ggml)'}, which this runtime does not read; supported: ${supportedTypes()}`);
  }
  if (t.shape.length < 1 || t.shape.length > 4) throw new GgufError(file, t.name, `has ${t.shape.length} dimensions; expected 1 to 4`);
  const shape = t.shape.map((d) => toNumber(d, file, t.name, 'dimension')).reverse();
  if (shape.some((d) => d < 1)) throw new GgufError(file, t.name, `has shape ${formatShape(shape)}; every dimension must be at least 1`);
  const { blockElements } = formatLayout(dtype);
  const row = shape[shape.length - 1];
  if (row % blockElements !== 0) {
    throw new GgufError(file, t.name, `is ${dtype} with rows of ${row} values, not a whole number of ${blockElements}-value blocks (shape ${formatShape(shape)})`);
  }
  const rel = toNumber(t.offset, file, t.name, 'data offset');
  if (rel % alignment !== 0) throw new GgufError(file, t.name, `data offset ${rel} is not a multiple of the file's alignment (${alignment})`);
  const offset = dataStart + rel;
  const byteLength = storageBytes(dtype, shape);
  if (offset + byteLength > size) {
    throw new GgufError(file, t.name, `tensor data (${byteLength} bytes of ${dtype} ${formatShape(shape)}) ends at byte ${offset + byteLength}, but the file has ${size} bytes; it is truncated`);
  }
  return { name: t.name, dtype, ggmlType: t.dtype, shape, path, offset, byteLength };
}

async function parseShard(path: string): Promise<ParsedShard> {
  const file = basename(path);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new GgufError(file, undefined, `cannot open (${errorMessage(err)})`);
  }
  let parsed: Awaited<ReturnType<typeof gguf>> & { typedMetadata: Record<string, GgufMetadataEntry> };
  try {
    parsed = (await gguf(path, { allowLocalFile: true, typedMetadata: true })) as typeof parsed;
  } catch (err) {
    throw new GgufError(file, undefined, `not a readable GGUF file (${errorMessage(err)})`);
  }
  const entries = new Map<string, GgufMetadataEntry>();
  for (const [key, e] of Object.entries(parsed.typedMetadata)) if (!['version', 'tensor_count', 'kv_count'].includes(key)) entries.set(key, e);
  const metadata = new GgufMetadata(file, entries);
  const alignment = metadata.uint('general.alignment', 32);
  const dataStart = Number(parsed.tensorDataOffset);
  const tensors = parsed.tensorInfos.map((t) => tensorInfo(file, path, size, dataStart, alignment, t));
  return { path, size, metadata, tensors };
}

/** The shard paths of a split checkpoint named like `x-00001-of-00003.gguf`, or just `path`. */
function shardPaths(path: string): string[] {
  const shard = parseGgufShardFilename(basename(path));
  if (!shard) return [path];
  const total = Number(shard.total);
  return Array.from({ length: total }, (_, i) => join(dirname(path), `${shard.prefix}-${String(i + 1).padStart(5, '0')}-of-${shard.total}.gguf`));
}

/** Checks the `split.*` metadata of every shard against the file names. */
function checkSplit(shards: readonly ParsedShard[]): void {
  const first = shards[0].metadata;
  const count = first.uint('split.count', 1);
  if (count !== shards.length) {
    throw new GgufError(first.file, 'split.count', `says ${count} shard(s), but the file name${shards.length > 1 ? 's give' : ' gives'} ${shards.length}`);
  }
  if (count === 1) return;
  shards.forEach((s, i) => {
    const no = s.metadata.uint('split.no');
    if (no !== i) throw new GgufError(s.metadata.file, 'split.no', `expected ${i} (shard ${i + 1} of ${count}), got ${no}`);
  });
  const expected = first.uint('split.tensors.count');
  const got = shards.reduce((n, s) => n + s.tensors.length, 0);
  if (got !== expected) throw new GgufError(first.file, 'split.tensors.count', `says ${expected} tensors, the ${count} shards hold ${got}`);
}

/** An open GGUF checkpoint: metadata and validated tensor infos; tensor data read on demand. */
export class GgufCheckpoint {
  private handles = new Map<string, FileHandle>();

  private constructor(
    /** The file that was opened (the first shard of a split checkpoint). */
    readonly path: string,
    /** Every shard, in order. */
    readonly files: readonly string[],
    readonly metadata: GgufMetadata,
    readonly tensors: ReadonlyMap<string, GgufTensorInfo>,
  ) {}

  /** Names the checkpoint in messages (its file name). */
  get source(): string {
    return basename(this.path);
  }

  /** Opens and validates a GGUF file or split checkpoint; reads no tensor data. */
  static async open(path: string): Promise<GgufCheckpoint> {
    const paths = shardPaths(path);
    const shards: ParsedShard[] = [];
    for (const p of paths) shards.push(await parseShard(p));
    checkSplit(shards);
    const tensors = new Map<string, GgufTensorInfo>();
    for (const s of shards) {
      for (const t of s.tensors) {
        if (tensors.has(t.name)) throw new GgufError(s.metadata.file, t.name, `appears twice (also in ${basename(tensors.get(t.name)!.path)})`);
        tensors.set(t.name, t);
      }
    }
    const checkpoint = new GgufCheckpoint(paths[0], paths, shards[0].metadata, tensors);
    try {
      for (const p of paths) checkpoint.handles.set(p, await open(p, 'r'));
    } catch (err) {
      await checkpoint.close();
      throw new GgufError(basename(path), undefined, `cannot open (${errorMessage(err)})`);
    }
    return checkpoint;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** A tensor's info; a GgufError naming it when the checkpoint has no such tensor. */
  info(name: string): GgufTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new GgufError(this.source, name, 'missing from the checkpoint');
    return t;
  }

  /**
   * One tensor whose bytes are read when it is used (see `HostTensor.deferred`): a backend
   * that copies weights into its own memory reads them from the file straight there. Usable
   * until {@link close}; reading afterwards is a GgufError naming the tensor.
   */
  deferred(name: string): HostTensor {
    const t = this.info(name);
    const file = basename(t.path);
    return HostTensor.deferred(t.dtype, t.shape, (out, offset) => {
      const handle = this.handles.get(t.path);
      if (!handle) throw new GgufError(this.source, name, 'read after close()');
      if (offset < 0 || offset + out.length > t.byteLength) throw new GgufError(file, name, `a read of ${out.length} bytes at ${offset} is outside its ${t.byteLength} bytes`);
      readSyncInto(handle.fd, out, t.offset + offset, file, name);
    });
  }

  /** Reads one tensor's bytes from its file into a new tensor of its stored format. */
  async read(name: string): Promise<HostTensor> {
    const t = this.info(name);
    const handle = this.handles.get(t.path);
    if (!handle) throw new GgufError(this.source, name, 'read after close()');
    const buffer = new ArrayBuffer(t.byteLength);
    await readInto(handle, new Uint8Array(buffer), t.offset, basename(t.path), name);
    return new HostTensor(t.dtype, t.shape, storageOf(t.dtype, buffer));
  }

  /** Closes the files; reading afterwards is an error. */
  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map((h) => h.close()));
  }
}
