/**
 * Worker threads that run their share of each kernel batch on the shared memory. The calling
 * thread posts a batch through a small control block, computes its own share (thread 0), then
 * waits for the others. Workers spin briefly before sleeping, so back-to-back batches hand off
 * in under a microsecond, while an idle backend costs no CPU. Workers are unref'd: they never
 * keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import { BackendError } from '@moe-runtime/core';
import type { KernelExports } from './kernel-module.js';

const GENERATION = 0;
const DONE = 1;
const COMMAND = 2;
const DESC = 3;
const COUNT = 4;
const KBLOCK = 5;
const ERROR = 6;
/** Spin iterations before a waiting thread sleeps (tens of microseconds). */
const SPIN = 20_000;

const WORKER_URL = new URL('../../worker/cpu-worker.mjs', import.meta.url);

/** The calling thread plus `threads - 1` workers over one memory. */
export class ThreadPool {
  private readonly ctrl: Int32Array;
  private closed = false;

  private constructor(
    private readonly kernels: KernelExports,
    private readonly workers: Worker[],
    control: SharedArrayBuffer,
  ) {
    this.ctrl = new Int32Array(control);
  }

  /** Starts `threads - 1` workers (about 50 ms each, in parallel) and waits until they are ready. */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, kernels: KernelExports, threads: number): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(64);
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      // execArgv: [] because the worker is plain JavaScript that needs no loader or flag (V8
      // flags are process-wide), and some parent flags (--input-type with -e) break a worker.
      const worker = new Worker(WORKER_URL, { execArgv: [], workerData: { module, memory, control, tid, nthreads: threads, spin: SPIN } });
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
    return new ThreadPool(kernels, workers, control);
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
    const n = this.workers.length;
    if (!parallel || n === 0) {
      this.kernels.runBatch(desc, count, 0, 1, kc);
      return;
    }
    const ctrl = this.ctrl;
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, ERROR, 0);
    Atomics.store(ctrl, DESC, desc);
    Atomics.store(ctrl, COUNT, count);
    Atomics.store(ctrl, KBLOCK, kc);
    Atomics.store(ctrl, COMMAND, 1);
    Atomics.add(ctrl, GENERATION, 1);
    Atomics.notify(ctrl, GENERATION);
    this.kernels.runBatch(desc, count, 0, n + 1, kc);
    let spins = 0;
    for (let done = Atomics.load(ctrl, DONE); done < n; done = Atomics.load(ctrl, DONE)) {
      if (++spins > SPIN) Atomics.wait(ctrl, DONE, done, 10);
    }
    const failed = Atomics.load(ctrl, ERROR);
    if (failed) throw new BackendError(`cpu worker ${failed} failed in a kernel`);
  }

  /** Stops and terminates the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctrl, COMMAND, -1);
    Atomics.add(this.ctrl, GENERATION, 1);
    Atomics.notify(this.ctrl, GENERATION);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
