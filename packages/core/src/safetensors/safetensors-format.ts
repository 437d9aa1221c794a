/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * u64 header length N, N bytes of JSON header, then the data section. The header maps each
 * tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the data
 * section) and may hold a `__metadata__` map of strings.
 *
 * This module parses and validates the header only; reading and decoding the data lives in
 * the reader. Every problem becomes a SafetensorsError naming the file, the tensor and what
 * was expected.
 */
import { SafetensorsError } from '../errors.js';
import { formatShape, shapeSize, type DType } from '../tensor.js';

/** Element types the safetensors format defines (the ones this runtime can decode are listed in {@link READABLE_DTYPES}). */
export type SafetensorsDType =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/** Bytes per element of every safetensors dtype (so headers with integer tensors still validate). */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** Stored dtypes a reader decodes, and the host dtype each becomes (F64 is narrowed, 8-bit floats widened, to float32). */
export const READABLE_DTYPES: Readonly<Partial<Record<SafetensorsDType, DType>>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float32',
  F8_E4M3: 'float32',
  F8_E5M2: 'float32',
};

/** The safetensors dtype a host dtype is written as. */
export function safetensorsDTypeOf(dtype: DType): 'F32' | 'F16' | 'BF16' {
  if (dtype === 'float32') return 'F32';
  if (dtype === 'float16') return 'F16';
  if (dtype === 'bfloat16') return 'BF16';
  throw new SafetensorsError(`safetensors has no ${dtype} element type; block-quantized tensors are stored in GGUF files`);
}

/** One tensor's header entry, validated. */
export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** `[begin, end)` byte range relative to the start of the data section. */
  readonly dataOffsets: readonly [number, number];
}

/** A validated header. */
export interface SafetensorsHeader {
  /** Tensors in header order. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>;
  /** The `__metadata__` map (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Byte position of the data section in the file: 8 + header length. */
  readonly dataStart: number;
}

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length would otherwise allocate gigabytes). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes of the length prefix. */
export const PREFIX_BYTES = 8;

/**
 * Reads the header length from the first 8 bytes and checks it against the file size.
 * `source` names the file in messages.
 */
export function readHeaderLength(source: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < PREFIX_BYTES || prefix.length < PREFIX_BYTES) {
    throw new SafetensorsError(`${source}: file is ${fileSize} bytes, shorter than the 8-byte header length prefix of a safetensors file`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, PREFIX_BYTES).getBigUint64(0, true);
  if (n > BigInt(fileSize - PREFIX_BYTES)) {
    throw new SafetensorsError(`${source}: header length ${n} runs past the end of the file (${fileSize} bytes leave at most ${fileSize - PREFIX_BYTES} for the header)`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`${source}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit of the format`);
  }
  if (n < 2n) throw new SafetensorsError(`${source}: header length ${n} is too small for a JSON object (expected at least 2 bytes, '{}')`);
  return Number(n);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseMetadata(source: string, raw: unknown): Record<string, string> {
  if (!isRecord(raw)) throw new SafetensorsError(`${source}: __metadata__ must be an object of string values, got ${JSON.stringify(raw)}`);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new SafetensorsError(`${source}: __metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
  }
  return raw as Record<string, string>;
}

function parseEntry(source: string, name: string, raw: unknown, dataLength: number): SafetensorsTensorInfo {
  const where = `${source}: tensor '${name}'`;
  if (!isRecord(raw)) throw new SafetensorsError(`${where}: expected an object { dtype, shape, data_offsets }, got ${JSON.stringify(raw)}`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (dtype === undefined) throw new SafetensorsError(`${where}: missing field 'dtype'`);
  if (shape === undefined) throw new SafetensorsError(`${where}: missing field 'shape'`);
  if (offsets === undefined) throw new SafetensorsError(`${where}: missing field 'data_offsets'`);
  if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPE_BYTES)) {
    throw new SafetensorsError(`${where}: unknown dtype ${JSON.stringify(dtype)}; expected one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw new SafetensorsError(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt) || offsets[0] > offsets[1]) {
    throw new SafetensorsError(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const st = dtype as SafetensorsDType;
  const expected = shapeSize(shape) * SAFETENSORS_DTYPE_BYTES[st];
  if (end - begin !== expected) {
    throw new SafetensorsError(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, expected ${expected} (shape ${formatShape(shape)} x ${SAFETENSORS_DTYPE_BYTES[st]} bytes of ${st})`,
    );
  }
  if (end > dataLength) {
    throw new SafetensorsError(
      `${where}: data_offsets [${begin}, ${end}] run past the data section (${dataLength} bytes): the file is truncated or the offsets are wrong`,
    );
  }
  return { name, dtype: st, shape: Object.freeze([...shape]), dataOffsets: [begin, end] };
}

/** Throws when two tensors' byte ranges overlap (empty tensors overlap nothing). */
function checkOverlaps(source: string, tensors: SafetensorsTensorInfo[]): void {
  const sorted = tensors.filter((t) => t.dataOffsets[1] > t.dataOffsets[0]).sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0]);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.dataOffsets[0] < prev.dataOffsets[1]) {
      throw new SafetensorsError(
        `${source}: tensor '${cur.name}' data_offsets [${cur.dataOffsets.join(', ')}] overlap tensor '${prev.name}' [${prev.dataOffsets.join(', ')}]; expected begin >= ${prev.dataOffsets[1]}`,
      );
    }
  }
}

/**
 * Parses and validates the JSON header. `dataLength` is the size of the data section (file
 * size - 8 - header length); every tensor's range must lie inside it.
 */
export function parseHeader(source: string, headerBytes: Uint8Array, headerLength: number, dataLength: number): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    throw new SafetensorsError(`${source}: the ${headerLength}-byte header is not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isRecord(raw)) {
    throw new SafetensorsError(`${source}: the header must be a JSON object of tensors, got ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)}`);
  }
  let metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, entry] of Object.entries(raw)) {
    if (name === '__metadata__') metadata = parseMetadata(source, entry);
    else tensors.set(name, parseEntry(source, name, entry, dataLength));
  }
  checkOverlaps(source, [...tensors.values()]);
  return { tensors, metadata: Object.freeze({ ...metadata }), dataStart: PREFIX_BYTES + headerLength };
}
