/**
 * Writing safetensors files: float32 / float16 / bfloat16 tensors, a `__metadata__` map, the
 * header padded with spaces so the data section starts at a multiple of 8, and tensors laid
 * out widest dtype first so every tensor starts at a multiple of its element size (readers
 * that map the file can then view the bytes without copying).
 */
import { writeFile } from 'node:fs/promises';
import { ConfigError, SafetensorsError } from '../errors.js';
import { ELEMENT_DTYPES, type ElementDType } from '../formats/block-formats.js';
import { HostTensor, type DType } from '../tensor.js';
import { safetensorsDTypeOf } from './safetensors-format.js';
import { tensorBytes } from './tensor-bytes.js';

/** Tensors to write, by name (insertion order is kept within each dtype width). */
export type TensorMap = Readonly<Record<string, HostTensor>> | ReadonlyMap<string, HostTensor>;

/** Options of {@link serializeSafetensors} / {@link writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** `__metadata__` entries (strings only, as the format requires). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Store every tensor in this dtype (rounding to nearest even); default: each tensor's own dtype. */
  readonly dtype?: DType;
}

function entriesOf(tensors: TensorMap): [string, HostTensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, HostTensor>);
}

function checkOptions(options: WriteSafetensorsOptions): void {
  // safetensors stores element types only; block-quantized tensors belong in GGUF.
  if (options.dtype !== undefined && !ELEMENT_DTYPES.includes(options.dtype as ElementDType)) {
    throw new ConfigError('dtype', `expected one of ${ELEMENT_DTYPES.join(', ')}, got ${JSON.stringify(options.dtype)}`);
  }
  for (const [k, v] of Object.entries(options.metadata ?? {})) {
    if (typeof v !== 'string') throw new ConfigError(`metadata.${k}`, `safetensors metadata values must be strings, got ${JSON.stringify(v)}`);
  }
}

/** Serialises tensors into the bytes of a safetensors file. */
export function serializeSafetensors(tensors: TensorMap, options: WriteSafetensorsOptions = {}): Uint8Array {
  checkOptions(options);
  const items = entriesOf(tensors).map(([name, t], index) => {
    if (name === '__metadata__') throw new SafetensorsError(`'__metadata__' is reserved and cannot name a tensor`);
    if (!(t instanceof HostTensor)) throw new SafetensorsError(`tensor '${name}' is not a HostTensor`);
    const stored = options.dtype ? t.to(options.dtype) : t;
    return { name, index, tensor: stored, bytes: tensorBytes(stored) };
  });
  // Widest elements first keeps every tensor aligned to its element size; stable otherwise.
  items.sort((a, b) => b.tensor.data.BYTES_PER_ELEMENT - a.tensor.data.BYTES_PER_ELEMENT || a.index - b.index);
  const header: Record<string, unknown> = {};
  if (options.metadata && Object.keys(options.metadata).length) header.__metadata__ = { ...options.metadata };
  let offset = 0;
  for (const item of items) {
    const end = offset + item.bytes.length;
    header[item.name] = { dtype: safetensorsDTypeOf(item.tensor.dtype), shape: [...item.tensor.shape], data_offsets: [offset, end] };
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // pad with spaces, as the format specifies
  let pos = 8 + headerLength;
  for (const item of items) {
    out.set(item.bytes, pos);
    pos += item.bytes.length;
  }
  return out;
}

/** Writes tensors to a safetensors file at `path` (replacing it). */
export async function writeSafetensors(path: string, tensors: TensorMap, options: WriteSafetensorsOptions = {}): Promise<void> {
  await writeFile(path, serializeSafetensors(tensors, options));
}
