/**
 * Reading safetensors: a whole in-memory buffer ({@link parseSafetensors}) or a file read
 * lazily ({@link openSafetensors}): only the header is read on open, and each tensor's bytes
 * are read from the file handle when asked for, so loading one layer of a multi-GB checkpoint
 * touches only that layer's bytes.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { SafetensorsError } from '../errors.js';
import { readFullySync } from '../file-read.js';
import { HostTensor } from '../tensor.js';
import { parseHeader, PREFIX_BYTES, readHeaderLength, type SafetensorsHeader, type SafetensorsTensorInfo } from './safetensors-format.js';
import { decodeTensor } from './tensor-bytes.js';

/**
 * Anything tensors can be read from by name: one safetensors file or buffer, or a sharded
 * checkpoint. The HF MoE loader reads through this interface.
 */
export interface TensorSource {
  /** Names the source in messages (a file name, or an index file for shards). */
  readonly source: string;
  /** `__metadata__` (of the first shard, for a sharded checkpoint). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor name, in header order. */
  names(): string[];
  has(name: string): boolean;
  /** Header facts of a tensor; a SafetensorsError naming it when absent. */
  info(name: string): SafetensorsTensorInfo;
  /** Reads and decodes one tensor (F64 is narrowed to float32; half types stay compact). */
  read(name: string): Promise<HostTensor>;
  /**
   * The tensor's stored bytes as the file holds them, whatever its dtype (e.g. the `U8`
   * blocks and scales of an mxfp4-quantized Hugging Face checkpoint, which no float
   * decoder reads); a fresh copy the caller owns.
   */
  readBytes(name: string): Promise<Uint8Array>;
  /**
   * The tensor unread (`HostTensor.deferred`), when the file stores it exactly as a HostTensor
   * holds it (F32, F16, BF16): a backend that copies weights into its own memory then reads the
   * bytes from the file straight there, and no host copy is made. Undefined for dtypes that must
   * be decoded (F64, FP8): {@link read} those. Sources without a file (a buffer) may leave it out.
   */
  deferred?(name: string): HostTensor | undefined;
  /** Releases file handles; reading afterwards is an error. */
  close(): Promise<void>;
}

/** Safetensors dtypes whose bytes are a HostTensor's storage as they are (little-endian host). */
const DEFERRABLE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

function missing(source: string, name: string, header: SafetensorsHeader): SafetensorsError {
  const names = [...header.tensors.keys()];
  const shown = names.slice(0, 8).map((n) => `'${n}'`).join(', ');
  return new SafetensorsError(`${source}: no tensor named '${name}'; the file holds ${names.length} tensor(s)${names.length ? `: ${shown}${names.length > 8 ? ', ...' : ''}` : ''}`);
}

/** A safetensors file held in memory. Tensors are decoded (copied) on each `get`. */
export class SafetensorsBuffer implements TensorSource {
  readonly source: string;
  readonly header: SafetensorsHeader;
  private readonly bytes: Uint8Array;

  /** Use {@link parseSafetensors}. */
  constructor(source: string, bytes: Uint8Array, header: SafetensorsHeader) {
    this.source = source;
    this.bytes = bytes;
    this.header = header;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): SafetensorsTensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) throw missing(this.source, name, this.header);
    return info;
  }

  /** Decodes one tensor synchronously. */
  get(name: string): HostTensor {
    const info = this.info(name);
    const start = this.header.dataStart + info.dataOffsets[0];
    return decodeTensor(this.source, info, this.bytes.subarray(start, this.header.dataStart + info.dataOffsets[1]));
  }

  /** Every tensor, decoded, by name. */
  getAll(): Record<string, HostTensor> {
    const out: Record<string, HostTensor> = {};
    for (const name of this.header.tensors.keys()) out[name] = this.get(name);
    return out;
  }

  async read(name: string): Promise<HostTensor> {
    return this.get(name);
  }

  async readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    return this.bytes.slice(this.header.dataStart + info.dataOffsets[0], this.header.dataStart + info.dataOffsets[1]);
  }

  async close(): Promise<void> {}
}

/** Parses a whole safetensors file held in memory; `source` names it in messages. */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsBuffer {
  if (!(bytes instanceof Uint8Array)) throw new SafetensorsError(`${source}: expected the file's bytes as a Uint8Array or Buffer`);
  const n = readHeaderLength(source, bytes.subarray(0, PREFIX_BYTES), bytes.length);
  const header = parseHeader(source, bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + n), n, bytes.length - PREFIX_BYTES - n);
  return new SafetensorsBuffer(source, bytes, header);
}

async function readExactly(handle: FileHandle, length: number, position: number, source: string, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(`${source}: ${what}: the file ended after ${done} of ${length} bytes; it is truncated or changed while open`);
    }
    done += bytesRead;
  }
  return out;
}

/** A safetensors file opened for lazy reading: the header is in memory, tensor data is read on demand. */
export class SafetensorsFile implements TensorSource {
  readonly source: string;
  /** Full path of the file. */
  readonly path: string;
  readonly header: SafetensorsHeader;
  private handle: FileHandle | undefined;

  /** Use {@link openSafetensors}. */
  constructor(path: string, handle: FileHandle, header: SafetensorsHeader) {
    this.path = path;
    this.source = basename(path);
    this.handle = handle;
    this.header = header;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  info(name: string): SafetensorsTensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) throw missing(this.source, name, this.header);
    return info;
  }

  async read(name: string): Promise<HostTensor> {
    return decodeTensor(this.source, this.info(name), await this.readBytes(name), true);
  }

  async readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    if (!this.handle) throw new SafetensorsError(`${this.source}: read '${name}' after close()`);
    const [begin, end] = info.dataOffsets;
    return readExactly(this.handle, end - begin, this.header.dataStart + begin, this.source, `tensor '${name}'`);
  }

  deferred(name: string): HostTensor | undefined {
    const info = this.info(name);
    const dtype = DEFERRABLE[info.dtype as keyof typeof DEFERRABLE];
    if (dtype === undefined) return undefined;
    const [begin, end] = info.dataOffsets;
    const start = this.header.dataStart + begin;
    return HostTensor.deferred(dtype, info.shape, (out, offset) => {
      if (!this.handle) throw new SafetensorsError(`${this.source}: read '${name}' after close()`);
      if (offset < 0 || offset + out.length > end - begin) throw new SafetensorsError(`${this.source}: tensor '${name}': a read of ${out.length} bytes at ${offset} is outside its ${end - begin} bytes`);
      const done = readFullySync(this.handle.fd, out, start + offset);
      if (done < out.length) throw new SafetensorsError(`${this.source}: tensor '${name}': the file ended after ${done} of ${out.length} bytes; it is truncated or changed while open`);
    });
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close();
  }
}

/** Opens a safetensors file and validates its header; tensor data is read later, per tensor. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  const source = basename(path);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new SafetensorsError(`${path}: cannot open (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    const { size } = await handle.stat();
    const prefix = size >= PREFIX_BYTES ? await readExactly(handle, PREFIX_BYTES, 0, source, 'header length') : new Uint8Array(0);
    const n = readHeaderLength(source, prefix, size);
    const headerBytes = await readExactly(handle, n, PREFIX_BYTES, source, 'header');
    const header = parseHeader(source, headerBytes, n, size - PREFIX_BYTES - n);
    return new SafetensorsFile(path, handle, header);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Reads every tensor of a safetensors file, plus its metadata. */
export async function readSafetensorsFile(path: string): Promise<{ tensors: Record<string, HostTensor>; metadata: Record<string, string> }> {
  const file = await openSafetensors(path);
  try {
    const tensors: Record<string, HostTensor> = {};
    for (const name of file.names()) tensors[name] = await file.read(name);
    return { tensors, metadata: { ...file.metadata } };
  } finally {
    await file.close();
  }
}
