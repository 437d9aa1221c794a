/**
 * A streaming-read kernel: WebAssembly SIMD that loads every 16 bytes of a buffer once and
 * adds them into four i32x4 accumulators. Each 16 bytes cost one load and one integer add
 * (one cycle of latency, four independent chains), so the loop runs far faster than memory
 * delivers and a buffer much larger than the last-level cache reads at the machine's read
 * bandwidth. Used to measure that bandwidth and to evict the cache between timed passes.
 *
 * The module is written out in bytes (it is 120 bytes: no toolchain for one loop):
 *
 * ```wat
 * (module
 *   (import "env" "mem" (memory 1 65536 shared))
 *   (func (export "sum") (param $p i32) (param $end i32) (result i32)
 *     (local $a v128) (local $b v128) (local $c v128) (local $d v128)
 *     (loop                                   ;; do { ... } while (p < end): end > p, (end - p) % 64 == 0
 *       (local.set $a (i32x4.add (local.get $a) (v128.load offset=0  (local.get $p))))
 *       (local.set $b (i32x4.add (local.get $b) (v128.load offset=16 (local.get $p))))
 *       (local.set $c (i32x4.add (local.get $c) (v128.load offset=32 (local.get $p))))
 *       (local.set $d (i32x4.add (local.get $d) (v128.load offset=48 (local.get $p))))
 *       (br_if 0 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 64))) (local.get $end))))
 *     ;; the sum of all lanes (wrapping), so no load is dead code
 *     (local.tee $a (i32x4.add (i32x4.add (i32x4.add (local.get $a) (local.get $b)) (local.get $c)) (local.get $d)))
 *     ... lane 0 + lane 1 + lane 2 + lane 3))
 * ```
 *
 * The memory is imported as shared so worker threads can read one buffer together.
 */

/** Bytes the kernel reads per loop iteration: a range's length must be a multiple of it. */
export const READ_CHUNK_BYTES = 64;

const I32X4_ADD = [0xfd, 0xae, 0x01];

function accumulate(local: number, offset: number): number[] {
  // local.get acc; local.get p; v128.load align=16 offset; i32x4.add; local.set acc
  return [0x20, local, 0x20, 0x00, 0xfd, 0x00, 0x04, offset, ...I32X4_ADD, 0x21, local];
}

function extractLaneAdd(lane: number): number[] {
  // local.get a; i32x4.extract_lane lane; i32.add
  return [0x20, 0x02, 0xfd, 0x1b, lane, 0x6a];
}

function section(id: number, content: readonly number[]): number[] {
  if (content.length > 127) throw new RangeError('section longer than a one-byte LEB128 size');
  return [id, content.length, ...content];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const body = [
    0x01, 0x04, 0x7b, // one local group: 4 x v128
    0x03, 0x40, // loop (no result)
    ...accumulate(0x02, 0),
    ...accumulate(0x03, 16),
    ...accumulate(0x04, 32),
    ...accumulate(0x05, 48),
    0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x22, 0x00, // p = p + 64 (tee)
    0x20, 0x01, 0x49, 0x0d, 0x00, // br_if 0 (p < end, unsigned)
    0x0b, // end loop
    0x20, 0x02, 0x20, 0x03, ...I32X4_ADD, 0x20, 0x04, ...I32X4_ADD, 0x20, 0x05, ...I32X4_ADD,
    0x22, 0x02, 0xfd, 0x1b, 0x00, // a = total; lane 0
    ...extractLaneAdd(1),
    ...extractLaneAdd(2),
    ...extractLaneAdd(3),
    0x0b, // end func
  ];
  const utf8 = (s: string): number[] => [s.length, ...Buffer.from(s, 'utf8')];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(0x01, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]), // type: (i32, i32) -> i32
    ...section(0x02, [0x01, ...utf8('env'), ...utf8('mem'), 0x02, 0x03, 0x01, 0x80, 0x80, 0x04]), // shared memory 1..65536 pages
    ...section(0x03, [0x01, 0x00]), // one function of type 0
    ...section(0x07, [0x01, ...utf8('sum'), 0x00, 0x00]), // export "sum" = func 0
    ...section(0x0a, [0x01, body.length, ...body]), // code
  ]);
}

/** The kernel's module bytes (also sent to worker threads, which compile them themselves). */
export const READ_KERNEL_WASM: Uint8Array<ArrayBuffer> = moduleBytes();

/** The kernel instantiated over one shared memory. */
export interface ReadKernel {
  readonly memory: WebAssembly.Memory;
  /** Bytes of the memory. */
  readonly bytes: number;
  /** Reads bytes [start, end) and returns the wrapping i32 sum of their 32-bit words. */
  sum(start: number, end: number): number;
}

const PAGE = 65536;

/** Checks a byte range the kernel can read: 64-byte aligned bounds, non-empty, inside the memory. */
function checkRange(start: number, end: number, bytes: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start && end <= bytes)) {
    throw new RangeError(`read range [${start}, ${end}) is not a non-empty range inside the ${bytes}-byte buffer`);
  }
  if (start % READ_CHUNK_BYTES || end % READ_CHUNK_BYTES) throw new RangeError(`read range [${start}, ${end}) is not aligned to ${READ_CHUNK_BYTES} bytes`);
}

/**
 * Instantiates the kernel over a fresh shared memory of `bytes` (rounded up to whole 64 KiB
 * pages), every page written with `fill` so none is the operating system's shared zero page (reading an
 * untouched page would read the same cached zero page over and over).
 */
export function createReadKernel(bytes: number, fill = 0x5a): ReadKernel {
  const pages = Math.ceil(bytes / PAGE);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  new Uint8Array(memory.buffer).fill(fill);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(READ_KERNEL_WASM), { env: { mem: memory } });
  const sum = instance.exports.sum as (p: number, end: number) => number;
  const size = pages * PAGE;
  return {
    memory,
    bytes: size,
    sum: (start, end) => {
      checkRange(start, end, size);
      return sum(start, end);
    },
  };
}
