/**
 * Converting between a tensor's little-endian bytes in a safetensors file and a HostTensor.
 * Bytes are always copied into a fresh, aligned buffer: a tensor's offset in a file need not be
 * a multiple of its element size, and typed arrays require that alignment.
 */
import { SafetensorsError } from '../errors.js';
import { HostTensor } from '../tensor.js';
import { decodeFloat8E4M3, decodeFloat8E5M2 } from './fp8.js';
import { READABLE_DTYPES, type SafetensorsTensorInfo } from './safetensors-format.js';

/** True on little-endian hosts (every platform Node ships for today); big-endian hosts swap bytes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The bytes as an ArrayBuffer a typed array can view. `owned` bytes (a buffer read for this
 * tensor alone, as the file reader makes) are used in place, saving a copy of a large tensor.
 */
function alignedCopy(bytes: Uint8Array, elementBytes: number, owned: boolean): ArrayBuffer {
  if (owned && LITTLE_ENDIAN && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) {
    return bytes.buffer;
  }
  const buffer = new ArrayBuffer(bytes.length);
  const view = new Uint8Array(buffer);
  view.set(bytes);
  if (!LITTLE_ENDIAN) swapBytes(view, elementBytes);
  return buffer;
}

function swapBytes(view: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i < view.length; i += width) view.subarray(i, i + width).reverse();
}

/**
 * Decodes one tensor's bytes (exactly `end - begin` of them) into a HostTensor. With `owned`,
 * the caller hands the bytes over (nothing else views them) and they may back the tensor.
 */
export function decodeTensor(source: string, info: SafetensorsTensorInfo, bytes: Uint8Array, owned = false): HostTensor {
  const dtype = READABLE_DTYPES[info.dtype];
  if (!dtype) {
    throw new SafetensorsError(
      `${source}: tensor '${info.name}' has dtype ${info.dtype}, which cannot be read as a float tensor; readable dtypes: ${Object.keys(READABLE_DTYPES).join(', ')}`,
    );
  }
  const expected = info.dataOffsets[1] - info.dataOffsets[0];
  if (bytes.length !== expected) {
    throw new SafetensorsError(`${source}: tensor '${info.name}': got ${bytes.length} bytes of data, expected ${expected}; the file is truncated`);
  }
  switch (info.dtype) {
    case 'F32':
      return new HostTensor('float32', info.shape, new Float32Array(alignedCopy(bytes, 4, owned)));
    case 'F64':
      return new HostTensor('float32', info.shape, Float32Array.from(new Float64Array(alignedCopy(bytes, 8, owned))));
    case 'F8_E4M3':
      return new HostTensor('float32', info.shape, decodeFloat8E4M3(bytes));
    case 'F8_E5M2':
      return new HostTensor('float32', info.shape, decodeFloat8E5M2(bytes));
    case 'F16':
      return new HostTensor('float16', info.shape, new Uint16Array(alignedCopy(bytes, 2, owned)));
    case 'BF16':
      return new HostTensor('bfloat16', info.shape, new Uint16Array(alignedCopy(bytes, 2, owned)));
    default:
      throw new SafetensorsError(`${source}: tensor '${info.name}': no decoder for dtype ${info.dtype}`);
  }
}

/** The little-endian bytes of a tensor's data, as stored in a safetensors file. */
export function tensorBytes(tensor: HostTensor): Uint8Array {
  const data = tensor.data;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const copy = Uint8Array.from(bytes);
  swapBytes(copy, data.BYTES_PER_ELEMENT);
  return copy;
}
