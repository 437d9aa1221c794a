/**
 * Storage formats of weight tensors: the element types (float32, float16, bfloat16) and ggml's
 * block-quantized formats, laid out exactly as GGUF stores them (ggml `ggml-common.h`): a row
 * of `cols` values is `cols / blockElements` blocks of `blockBytes` bytes, rows one after the
 * other, so a file's bytes go to a backend unchanged.
 *
 * | format | elements / bytes | block                                                         |
 * |--------|------------------|---------------------------------------------------------------|
 * | q8_0   | 32 / 34          | f16 d, i8 q[32]                     value = d q               |
 * | q4_0   | 32 / 18          | f16 d, u8 qs[16]                    value = d (nibble - 8)    |
 * | q5_0   | 32 / 22          | f16 d, u32 qh, u8 qs[16]            value = d (code - 16)     |
 * | q4_k   | 256 / 144        | f16 d, f16 dmin, u8 scales[12], u8 qs[128]                    |
 * | q5_k   | 256 / 176        | f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]         |
 * | q6_k   | 256 / 210        | u8 ql[128], u8 qh[64], i8 scales[16], f16 d                   |
 * | mxfp4  | 32 / 17          | u8 e (E8M0), u8 qs[16]              value = fp4 x 2^(e - 127) |
 */
import { DTypeError, ShapeError } from '../errors.js';

/** The element (non-block) storage types. */
export type ElementDType = 'float32' | 'float16' | 'bfloat16';

/** ggml's block-quantized formats this runtime reads, computes on and writes. */
export type BlockFormat = 'q8_0' | 'q4_0' | 'q5_0' | 'q4_k' | 'q5_k' | 'q6_k' | 'mxfp4';

/** Every storage format a weight tensor can have. */
export type DType = ElementDType | BlockFormat;

/** The element types, in the order messages list them. */
export const ELEMENT_DTYPES: readonly ElementDType[] = ['float32', 'float16', 'bfloat16'];

/** The block formats, in the order messages list them. */
export const BLOCK_FORMATS: readonly BlockFormat[] = ['q8_0', 'q4_0', 'q5_0', 'q4_k', 'q5_k', 'q6_k', 'mxfp4'];

/** Every storage format. */
export const DTYPES: readonly DType[] = [...ELEMENT_DTYPES, ...BLOCK_FORMATS];

/** The layout facts of one storage format. */
export interface FormatLayout {
  /** Values per block (1 for element types). */
  readonly blockElements: number;
  /** Bytes per block (bytes per value for element types). */
  readonly blockBytes: number;
  /** ggml's `ggml_type` id (what a GGUF tensor info stores). */
  readonly ggmlType: number;
}

const LAYOUTS: Readonly<Record<DType, FormatLayout>> = {
  float32: { blockElements: 1, blockBytes: 4, ggmlType: 0 },
  float16: { blockElements: 1, blockBytes: 2, ggmlType: 1 },
  bfloat16: { blockElements: 1, blockBytes: 2, ggmlType: 30 },
  q4_0: { blockElements: 32, blockBytes: 18, ggmlType: 2 },
  q5_0: { blockElements: 32, blockBytes: 22, ggmlType: 6 },
  q8_0: { blockElements: 32, blockBytes: 34, ggmlType: 8 },
  q4_k: { blockElements: 256, blockBytes: 144, ggmlType: 12 },
  q5_k: { blockElements: 256, blockBytes: 176, ggmlType: 13 },
  q6_k: { blockElements: 256, blockBytes: 210, ggmlType: 14 },
  mxfp4: { blockElements: 32, blockBytes: 17, ggmlType: 39 },
};

/** True for a known storage format name. */
export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(LAYOUTS, x);
}

/** True for the block-quantized formats. */
export function isBlockFormat(dtype: DType): dtype is BlockFormat {
  return LAYOUTS[dtype].blockElements > 1;
}

/** The layout of a format; throws a DTypeError naming the known ones for anything else. */
export function formatLayout(dtype: DType): FormatLayout {
  if (!isDType(dtype)) throw new DTypeError(`unknown dtype '${String(dtype)}'; expected one of ${DTYPES.join(', ')}`);
  return LAYOUTS[dtype];
}

/** The format ggml numbers `ggmlType`, or undefined when this runtime does not read it. */
export function dtypeOfGgmlType(ggmlType: number): DType | undefined {
  return DTYPES.find((d) => LAYOUTS[d].ggmlType === ggmlType);
}

/** Bytes per element of an element type (4 or 2); a DTypeError for block formats, whose elements have no whole byte size. */
export function dtypeBytes(dtype: DType): number {
  const l = formatLayout(dtype);
  if (l.blockElements !== 1) throw new DTypeError(`${dtype} is a block format (${l.blockBytes} bytes per ${l.blockElements} values); use rowBytes or storageBytes`);
  return l.blockBytes;
}

/** Average bits per stored value (32, 16, 8.5, 4.5, ...), for reports. */
export function bitsPerValue(dtype: DType): number {
  const l = formatLayout(dtype);
  return (8 * l.blockBytes) / l.blockElements;
}

/**
 * Throws a ShapeError naming `what` unless rows of `cols` values divide into whole blocks of
 * `dtype` (block formats run along the last dimension, the input dimension of a weight).
 */
export function checkRowLength(dtype: DType, cols: number, what = 'tensor'): void {
  const { blockElements } = formatLayout(dtype);
  if (!Number.isInteger(cols) || cols < 0 || cols % blockElements !== 0) {
    throw new ShapeError(`${what}: a ${dtype} row holds whole blocks of ${blockElements} values, but the last dimension is ${cols}`);
  }
}

/** Bytes of one row of `cols` values (a multiple of the block size). */
export function rowBytes(dtype: DType, cols: number): number {
  checkRowLength(dtype, cols);
  const l = LAYOUTS[dtype];
  return (cols / l.blockElements) * l.blockBytes;
}

/** Bytes a tensor of `shape` occupies in `dtype` (blocks along the last dimension). */
export function storageBytes(dtype: DType, shape: readonly number[]): number {
  if (shape.length === 0) return rowBytes(dtype, 1);
  const cols = shape[shape.length - 1];
  let rows = 1;
  for (let i = 0; i < shape.length - 1; i++) rows *= shape[i];
  return rows * rowBytes(dtype, cols);
}
