/**
 * Worker threads that help with each kernel batch on the shared memory. The calling thread
 * posts a batch through a small control block (under a sequence lock), then computes chunks
 * itself; every thread takes chunks from the batch's shared counter until none is left, and
 * the caller returns once the completion counter reaches the batch's end. A worker that has
 * lost its core to other work delays at most the chunk it holds. Workers spin briefly before
 * sleeping, so back-to-back batches hand off in under a microsecond while an idle backend
 * costs no CPU, and they are unref'd: they never keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import { BackendError } from '@moe-runtime/core';
import type { KernelExports } from './kernel-module.js';

const GENERATION = 0;
const COMMAND = 2;
const DESC = 3;
const COUNT = 4;
const KBLOCK = 5;
const ERROR = 6;
const BASE = 7;
const END = 8;
const NTHREADS = 9;
const COUNTER = 10;
/** Spin iterations before a waiting thread sleeps (tens of microseconds). */
const SPIN = 20_000;

const WORKER_URL = new URL('../../worker/cpu-worker.mjs', import.meta.url);

/** The calling thread plus `threads - 1` workers over one memory. */
export class ThreadPool {
  private readonly ctrl: Int32Array;
  private closed = false;
  private broken = false;

  private constructor(
    private readonly kernels: KernelExports,
    private readonly workers: Worker[],
    control: SharedArrayBuffer,
    private readonly memory: () => Int32Array,
    private readonly counter: number,
  ) {
    this.ctrl = new Int32Array(control);
    Atomics.store(this.ctrl, COUNTER, counter);
  }

  /**
   * Starts `threads - 1` workers (about 50 ms each, in parallel) and waits until they are
   * ready. `counter` is the byte address of 8 zeroed bytes in the memory (chunk counter,
   * completion counter); `memory` returns a current int32 view of it.
   */
  static async create(
    module: WebAssembly.Module,
    wasmMemory: WebAssembly.Memory,
    kernels: KernelExports,
    threads: number,
    memory: () => Int32Array,
    counter: number,
  ): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(64);
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      // execArgv: [] because the worker is plain JavaScript that needs no loader or flag (V8
      // flags are process-wide), and some parent flags (--input-type with -e) break a worker.
      const worker = new Worker(WORKER_URL, { execArgv: [], workerData: { module, memory: wasmMemory, control, tid, spin: SPIN } });
      worker.unref();
      workers.push(worker);
      ready.push(
        new Promise((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', (err) => reject(new BackendError(`cpu worker ${tid} failed to start: ${err.message}`, { cause: err })));
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    return new ThreadPool(kernels, workers, control, memory, counter);
  }

  /** Threads that compute, the calling one included. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs `count` descriptors at `desc`: on every thread when `parallel`, else on the calling
   * thread alone (small work, where a hand-off costs more than it saves).
   */
  run(desc: number, count: number, kc: number, parallel: boolean): void {
    if (this.closed) throw new BackendError('the cpu thread pool has been shut down');
    if (this.broken) throw new BackendError('a cpu kernel failed earlier; create a new backend');
    const threads = parallel ? this.workers.length + 1 : 1;
    const total = this.kernels.batchChunks(desc, count, threads);
    if (total === 0) return;
    const mem = this.memory();
    const done = (this.counter >> 2) + 1;
    const base = Atomics.load(mem, this.counter >> 2);
    const end = (base + total) | 0;
    if (threads > 1) this.post(desc, count, kc, base, end, threads);
    this.kernels.runBatch(desc, count, this.counter, base, end, threads, kc);
    let spins = 0;
    for (let f = Atomics.load(mem, done); ((f - end) | 0) < 0; f = Atomics.load(mem, done)) {
      if (Atomics.load(this.ctrl, ERROR)) {
        this.broken = true;
        throw new BackendError(`cpu worker ${Atomics.load(this.ctrl, ERROR)} failed in a kernel`);
      }
      if (++spins > SPIN) Atomics.wait(mem, done, f, 1);
    }
  }

  private post(desc: number, count: number, kc: number, base: number, end: number, threads: number): void {
    const ctrl = this.ctrl;
    Atomics.add(ctrl, GENERATION, 1); // odd: writing
    Atomics.store(ctrl, COMMAND, 1);
    Atomics.store(ctrl, DESC, desc);
    Atomics.store(ctrl, COUNT, count);
    Atomics.store(ctrl, KBLOCK, kc);
    Atomics.store(ctrl, BASE, base);
    Atomics.store(ctrl, END, end);
    Atomics.store(ctrl, NTHREADS, threads);
    Atomics.add(ctrl, GENERATION, 1); // even: posted
    Atomics.notify(ctrl, GENERATION);
  }

  /** Stops and terminates the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.add(this.ctrl, GENERATION, 1);
    Atomics.store(this.ctrl, COMMAND, -1);
    Atomics.add(this.ctrl, GENERATION, 1);
    Atomics.notify(this.ctrl, GENERATION);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
