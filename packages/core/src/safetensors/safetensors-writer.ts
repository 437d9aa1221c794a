/**
 * Writing safetensors files: float32 / float16 / bfloat16 tensors (and raw `U8` bytes), a `__metadata__` map, the
 * header padded with spaces so the data section starts at a multiple of 8, and tensors laid
 * out widest dtype first so every tensor starts at a multiple of its element size (readers
 * that map the file can then view the bytes without copying).
 */
import { writeFile } from 'node:fs/promises';
import { ConfigError, SafetensorsError } from '../errors.js';
import { ELEMENT_DTYPES, type ElementDType } from '../formats/block-formats.js';
import { formatShape, HostTensor, type DType } from '../tensor.js';
import { SAFETENSORS_DTYPE_BYTES, safetensorsDTypeOf } from './safetensors-format.js';
import { tensorBytes } from './tensor-bytes.js';

/**
 * A tensor written as bytes of a safetensors integer dtype, for data no HostTensor format
 * holds: the `U8` blocks and scales of an mxfp4-quantized Hugging Face checkpoint
 * (`*_blocks`, `*_scales`). Read back with `TensorSource.readBytes`.
 */
export class RawSafetensor {
  constructor(
    readonly dtype: 'U8',
    readonly shape: readonly number[],
    readonly bytes: Uint8Array,
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new SafetensorsError(`raw tensor shape ${formatShape(shape)} has a dimension that is not a non-negative integer`);
    if (!(bytes instanceof Uint8Array) || bytes.length !== n * SAFETENSORS_DTYPE_BYTES[dtype]) {
      throw new SafetensorsError(`raw ${dtype} tensor of shape ${formatShape(shape)} needs ${n * SAFETENSORS_DTYPE_BYTES[dtype]} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
    }
  }
}

/** A tensor to write: a HostTensor (float32 / float16 / bfloat16) or raw integer bytes. */
export type WritableTensor = HostTensor | RawSafetensor;

/** Tensors to write, by name (insertion order is kept within each dtype width). */
export type TensorMap = Readonly<Record<string, WritableTensor>> | ReadonlyMap<string, WritableTensor>;

/** Options of {@link serializeSafetensors} / {@link writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** `__metadata__` entries (strings only, as the format requires). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Store every tensor in this dtype (rounding to nearest even); default: each tensor's own dtype. */
  readonly dtype?: DType;
}

function entriesOf(tensors: TensorMap): [string, WritableTensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, WritableTensor>);
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
    // Raw integer bytes are written as they are; a `dtype` converts float tensors only.
    if (t instanceof RawSafetensor) return { name, index, dtype: t.dtype, shape: t.shape, width: SAFETENSORS_DTYPE_BYTES[t.dtype], bytes: t.bytes };
    if (!(t instanceof HostTensor)) throw new SafetensorsError(`tensor '${name}' is not a HostTensor or RawSafetensor`);
    const stored = options.dtype ? t.to(options.dtype) : t;
    return { name, index, dtype: safetensorsDTypeOf(stored.dtype), shape: stored.shape, width: stored.data.BYTES_PER_ELEMENT, bytes: tensorBytes(stored) };
  });
  // Widest elements first keeps every tensor aligned to its element size; stable otherwise.
  items.sort((a, b) => b.width - a.width || a.index - b.index);
  const header: Record<string, unknown> = {};
  if (options.metadata && Object.keys(options.metadata).length) header.__metadata__ = { ...options.metadata };
  let offset = 0;
  for (const item of items) {
    const end = offset + item.bytes.length;
    header[item.name] = { dtype: item.dtype, shape: [...item.shape], data_offsets: [offset, end] };
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
