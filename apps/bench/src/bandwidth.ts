/**
 * The machine's memory read bandwidth, measured in the same run as the benchmarks: the
 * streaming-read kernel over buffers much larger than the last-level cache (together), one per
 * worker thread, 1, 2, ... threads starting together. Each worker allocates its own buffer, so
 * the memory goes when the worker ends and never counts in a benchmark case's peak memory. Decode (one token) is bound by
 * how fast a backend streams its expert weights, so its weight GB/s is reported as a share of
 * this figure at the backend's thread count.
 */
import { Worker } from 'node:worker_threads';
import { READ_KERNEL_WASM, READ_STREAMS } from './read-kernel.js';

/** The read bandwidth at one thread count. */
export interface BandwidthFigure {
  readonly threads: number;
  /** Median over the timed reads of the whole buffer (GB/s, 1e9 bytes). */
  readonly medianGbps: number;
  /** Fastest timed read of the whole buffer. */
  readonly bestGbps: number;
  /** Timed reads of the whole buffer (after one untimed read). */
  readonly reps: number;
}

/** What a bandwidth measurement read. */
export interface BandwidthMeasurement {
  /** Bytes read on every pass (split evenly between the threads' buffers). */
  readonly bufferBytes: number;
  readonly figures: readonly BandwidthFigure[];
}

/** Options of {@link measureReadBandwidth}. */
export interface BandwidthOptions {
  /** Buffer size; default max(256 MiB, 8 x `lastLevelCacheBytes`). */
  readonly bytes?: number;
  readonly lastLevelCacheBytes?: number;
  /** Thread counts to measure; default [1, 2]. */
  readonly threads?: readonly number[];
  /** Timed reads per thread count; default 7. */
  readonly reps?: number;
}

/**
 * The worker: allocates and fills its own buffer, compiles the kernel, then for each
 * generation posted in `control[0]` reads its buffer once, writes its start and end times (ms
 * since the epoch, sub-millisecond) into `times` and counts itself done in `control[1]`.
 * Plain JavaScript because a worker started from source runs it as is (no TypeScript in a
 * worker, wherever the harness runs from); `streams` mirrors READ_STREAMS.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { wasm, control, times, index, bytes, reps, streams } = workerData;
const pages = bytes / 65536;
const mem = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
new Uint8Array(mem.buffer).fill(0x5a); // touched pages: an untouched one reads the OS's shared zero page
const sum = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env: { mem } }).exports.sum;
const stride = bytes / streams;
for (let i = 0; i < 64; i++) sum(0, 4096, 4096); // leave the baseline compiler before timing
for (let r = 0; r <= reps; r++) {
  Atomics.wait(control, 0, r);
  const t0 = performance.timeOrigin + performance.now();
  sum(0, stride, stride);
  const t1 = performance.timeOrigin + performance.now();
  times[2 * (index * (reps + 1) + r)] = t0;
  times[2 * (index * (reps + 1) + r) + 1] = t1;
  Atomics.add(control, 1, 1);
  Atomics.notify(control, 1);
}
`;

const MIB = 2 ** 20;
const PAGE = 65536;

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Waits until `control[1]` reaches `target` without blocking the event loop forever on a dead worker. */
async function waitDone(control: Int32Array, target: number, failed: () => Error | undefined): Promise<void> {
  for (;;) {
    const seen = Atomics.load(control, 1);
    if (seen >= target) return;
    const err = failed();
    if (err) throw err;
    const r = Atomics.waitAsync(control, 1, seen, 1000);
    if (r.async) await r.value;
  }
}

/** Bytes of each thread's buffer: its share of `bytes`, in whole 64 KiB pages (a multiple of every chunk). */
function sliceBytes(bytes: number, threads: number): number {
  return Math.max(1, Math.floor(bytes / threads / PAGE)) * PAGE;
}

async function measureAt(threads: number, bytes: number, reps: number): Promise<BandwidthFigure> {
  const control = new Int32Array(new SharedArrayBuffer(8));
  const times = new Float64Array(new SharedArrayBuffer(8 * 2 * threads * (reps + 1)));
  const slice = sliceBytes(bytes, threads);
  let failure: Error | undefined;
  const workers = Array.from({ length: threads }, (_, index) => {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { wasm: READ_KERNEL_WASM, control, times, index, bytes: slice, reps, streams: READ_STREAMS },
    });
    w.on('error', (err) => (failure ??= err));
    return w;
  });
  try {
    const gbps: number[] = [];
    for (let r = 0; r <= reps; r++) {
      Atomics.store(control, 0, r + 1);
      Atomics.notify(control, 0);
      await waitDone(control, threads * (r + 1), () => failure);
      // The pass lasts from the first thread's start to the last thread's end.
      let t0 = Infinity;
      let t1 = -Infinity;
      for (let i = 0; i < threads; i++) {
        t0 = Math.min(t0, times[2 * (i * (reps + 1) + r)]);
        t1 = Math.max(t1, times[2 * (i * (reps + 1) + r) + 1]);
      }
      if (r > 0) gbps.push((slice * threads) / ((t1 - t0) * 1e6));
    }
    return { threads, medianGbps: median(gbps), bestGbps: Math.max(...gbps), reps };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Measures the read bandwidth at each thread count: one untimed read of every thread's buffer,
 * then `reps` timed ones; a pass lasts from the first thread's start to the last one's end.
 */
export async function measureReadBandwidth(options: BandwidthOptions = {}): Promise<BandwidthMeasurement> {
  const llc = options.lastLevelCacheBytes ?? 32 * MIB;
  const bytes = options.bytes ?? Math.max(256 * MIB, 8 * llc);
  const threads = [...new Set(options.threads ?? [1, 2])].sort((a, b) => a - b);
  if (threads.some((t) => !Number.isInteger(t) || t < 1)) throw new RangeError(`thread counts must be positive integers, got [${threads.join(', ')}]`);
  const reps = options.reps ?? 7;
  const figures: BandwidthFigure[] = [];
  for (const t of threads) figures.push(await measureAt(t, bytes, reps));
  return { bufferBytes: sliceBytes(bytes, 1), figures };
}

/**
 * The figure to hold a backend running on `threads` threads against: the measured thread count
 * nearest at or below it (a backend on 4 threads next to figures for 1 and 2 gets the 2-thread
 * figure), or undefined when nothing was measured.
 */
export function bandwidthFor(measurement: BandwidthMeasurement | undefined, threads: number | undefined): BandwidthFigure | undefined {
  if (!measurement?.figures.length) return undefined;
  const t = Math.max(1, threads ?? 1);
  const below = measurement.figures.filter((f) => f.threads <= t);
  return below.length ? below[below.length - 1] : measurement.figures[0];
}
