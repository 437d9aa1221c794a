/**
 * A streaming-read kernel: WebAssembly SIMD that loads every 16 bytes of a buffer once and
 * adds them into four i32x4 accumulators (integer adds: one cycle of latency, so the loop runs
 * far faster than memory delivers). It reads the range as 8 sequential streams at once, one
 * per eighth of the range, as a matrix-vector kernel reads 8 weight rows: one stream per
 * thread leaves the hardware prefetchers idle and reads about 20 % slower here (measured: one
 * stream 15 GB/s on one thread, 23 on two; 8 streams 19 and 30). A buffer much larger than the
 * last-level cache then reads at the machine's read bandwidth. Used to measure that bandwidth
 * and to evict the cache between timed passes.
 *
 * The module is written out in bytes (no toolchain for one loop):
 *
 * ```wat
 * (module
 *   (import "env" "mem" (memory 1 65536 shared))
 *   (func (export "sum") (param $p i32) (param $end i32) (param $stride i32) (result i32)
 *     (local $a v128) (local $b v128) (local $c v128) (local $d v128) (local $q i32)
 *     (loop                                   ;; do { ... } while (p < end): end > p, stride % 64 == 0
 *       ;; for s in 0..7: q = p + s * stride, then 64 bytes from q into a, b, c, d
 *       (local.set $q (i32.add (local.get $p) (i32.mul (local.get $stride) (i32.const s))))
 *       (local.set $a (i32x4.add (local.get $a) (v128.load offset=0 (local.get $q))))
 *       ... offsets 16, 32, 48 into b, c, d
 *       (br_if 0 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 64))) (local.get $end))))
 *     ;; the sum of all lanes (wrapping), so no load is dead code
 *     (local.tee $a (i32x4.add (i32x4.add (i32x4.add (local.get $a) (local.get $b)) (local.get $c)) (local.get $d)))
 *     ... lane 0 + lane 1 + lane 2 + lane 3))
 * ```
 *
 * The memory is imported as shared so the kernel runs on one buffer from any thread.
 */

/** Sequential streams the kernel reads at once. */
export const READ_STREAMS = 8;

/** A range's length must be a multiple of this: 64 bytes per stream per loop iteration. */
export const READ_CHUNK_BYTES = 64 * READ_STREAMS;

const I32X4_ADD = [0xfd, 0xae, 0x01];
const LOCAL = { p: 0x00, end: 0x01, stride: 0x02, a: 0x03, q: 0x07 } as const;

function stream(s: number): number[] {
  // q = p + stride * s
  const out = [0x20, LOCAL.p, 0x20, LOCAL.stride, 0x41, s, 0x6c, 0x6a, 0x21, LOCAL.q];
  for (let v = 0; v < 4; v++) {
    // acc = acc + v128.load align=16 offset=16v (q)
    out.push(0x20, LOCAL.a + v, 0x20, LOCAL.q, 0xfd, 0x00, 0x04, 16 * v, ...I32X4_ADD, 0x21, LOCAL.a + v);
  }
  return out;
}

function extractLaneAdd(lane: number): number[] {
  // local.get a; i32x4.extract_lane lane; i32.add
  return [0x20, LOCAL.a, 0xfd, 0x1b, lane, 0x6a];
}

/** An unsigned LEB128 length (sections and bodies here are under 16 KiB). */
function leb(n: number): number[] {
  return n < 128 ? [n] : [(n & 0x7f) | 0x80, n >> 7];
}

function section(id: number, content: readonly number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const body = [
    0x02, 0x04, 0x7b, 0x01, 0x7f, // locals: 4 x v128 (a, b, c, d), 1 x i32 (q)
    0x03, 0x40, // loop (no result)
    ...Array.from({ length: READ_STREAMS }, (_, s) => stream(s)).flat(),
    0x20, LOCAL.p, 0x41, 0xc0, 0x00, 0x6a, 0x22, LOCAL.p, // p = p + 64 (tee)
    0x20, LOCAL.end, 0x49, 0x0d, 0x00, // br_if 0 (p < end, unsigned)
    0x0b, // end loop
    0x20, 0x03, 0x20, 0x04, ...I32X4_ADD, 0x20, 0x05, ...I32X4_ADD, 0x20, 0x06, ...I32X4_ADD,
    0x22, LOCAL.a, 0xfd, 0x1b, 0x00, // a = total; lane 0
    ...extractLaneAdd(1),
    ...extractLaneAdd(2),
    ...extractLaneAdd(3),
    0x0b, // end func
  ];
  const utf8 = (s: string): number[] => [s.length, ...Buffer.from(s, 'utf8')];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(0x01, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f]), // type: (i32, i32, i32) -> i32
    ...section(0x02, [0x01, ...utf8('env'), ...utf8('mem'), 0x02, 0x03, 0x01, 0x80, 0x80, 0x04]), // shared memory 1..65536 pages
    ...section(0x03, [0x01, 0x00]), // one function of type 0
    ...section(0x07, [0x01, ...utf8('sum'), 0x00, 0x00]), // export "sum" = func 0
    ...section(0x0a, [0x01, ...leb(body.length), ...body]), // code
  ]);
}

/** The kernel's module bytes (also sent to worker threads, which compile them themselves). */
export const READ_KERNEL_WASM: Uint8Array<ArrayBuffer> = moduleBytes();

/** The raw export: reads [p, end) and the 7 ranges `stride`, 2 `stride`, ... bytes above it. */
export type RawSum = (p: number, end: number, stride: number) => number;

/** Calls the raw export on [start, end), split into {@link READ_STREAMS} streams. */
export function sumRange(raw: RawSum, start: number, end: number): number {
  const stride = (end - start) / READ_STREAMS;
  return raw(start, start + stride, stride);
}

/** The kernel instantiated over one shared memory. */
export interface ReadKernel {
  readonly memory: WebAssembly.Memory;
  /** Bytes of the memory. */
  readonly bytes: number;
  /** Reads bytes [start, end) and returns the wrapping i32 sum of their 32-bit words. */
  sum(start: number, end: number): number;
}

const PAGE = 65536;

/** Checks a byte range the kernel can read: non-empty, inside the memory, starting on 64 bytes, a whole number of chunks long. */
function checkRange(start: number, end: number, bytes: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start && end <= bytes)) {
    throw new RangeError(`read range [${start}, ${end}) is not a non-empty range inside the ${bytes}-byte buffer`);
  }
  if (start % 64 || (end - start) % READ_CHUNK_BYTES) throw new RangeError(`read range [${start}, ${end}) does not start on 64 bytes or is not a multiple of ${READ_CHUNK_BYTES} bytes long`);
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
  const raw = instance.exports.sum as RawSum;
  const size = pages * PAGE;
  return {
    memory,
    bytes: size,
    sum: (start, end) => {
      checkRange(start, end, size);
      return sumRange(raw, start, end);
    },
  };
}
