/**
 * Worker threads that help with each kernel batch. The backend's weights live in several
 * WebAssembly memories (shards, each under the wasm32 limit); every thread holds one kernel
 * instance per shard, and a batch names the shard it runs on. The calling thread posts a batch
 * through a small control block (under a sequence lock), then computes chunks itself; every
 * thread takes chunks from the batch's shared counter (in that shard's memory) until none is
 * left, and the caller returns once the completion counter reaches the batch's end. A worker
 * that has lost its core to other work delays at most the chunk it holds. Workers spin briefly
 * before sleeping, so back-to-back batches hand off in under a microsecond while an idle
 * backend costs no CPU, and they are unref'd: they never keep the process alive.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { BackendError } from '@moe-runtime/core';
import type { KernelExports } from './kernel-module.js';

const GENERATION = 0;
const ACKS = 1;
const COMMAND = 2;
const DESC = 3;
const COUNT = 4;
const KBLOCK = 5;
const ERROR = 6;
const BASE = 7;
const END = 8;
const NTHREADS = 9;
const COUNTER = 10;
const SHARD = 11;
const WORK = 12;
const WORK_STRIDE = 13;
/** Commands of the control block. */
const RUN = 1;
const ADD_SHARD = 2;
const STOP = -1;
/** Spin iterations before a waiting thread sleeps (tens of microseconds). */
const SPIN = 20_000;

const WORKER_URL = new URL('../../worker/cpu-worker.mjs', import.meta.url);

/** What a batch runs on: one shard's kernels, memory and counters. */
export interface BatchTarget {
  /** Index of the shard, as registered with {@link ThreadPool.addShard}. */
  readonly index: number;
  readonly kernels: KernelExports;
  /** A current int32 view of the shard's memory. */
  i32(): Int32Array;
  /** Byte address of 8 zeroed bytes in the shard (chunk counter, completion counter). */
  readonly counter: number;
}

/** The per-thread work buffers of one batch: thread t uses `base + t * stride`. */
export interface WorkArea {
  readonly base: number;
  readonly stride: number;
}

/** The calling thread plus `threads - 1` workers over the shards' memories. */
export class ThreadPool {
  private readonly ctrl: Int32Array;
  private closed = false;
  private broken = false;

  private constructor(
    private readonly workers: Worker[],
    private readonly ports: MessagePort[],
    control: SharedArrayBuffer,
  ) {
    this.ctrl = new Int32Array(control);
  }

  /** Starts `threads - 1` workers (about 50 ms each, in parallel) and waits until they are ready. */
  static async create(module: WebAssembly.Module, threads: number): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(64);
    const workers: Worker[] = [];
    const ports: MessagePort[] = [];
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      const { port1, port2 } = new MessageChannel();
      // execArgv: [] because the worker is plain JavaScript that needs no loader or flag (V8
      // flags are process-wide), and some parent flags (--input-type with -e) break a worker.
      const worker = new Worker(WORKER_URL, { execArgv: [], workerData: { module, control, tid, spin: SPIN, port: port2 }, transferList: [port2] });
      worker.unref();
      port1.unref();
      workers.push(worker);
      ports.push(port1);
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
    return new ThreadPool(workers, ports, control);
  }

  /** Threads that compute, the calling one included. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Makes every worker instantiate the kernels on `memory` (the next shard index) and waits,
   * synchronously, until all have: the memory goes through each worker's message port, which
   * a worker reads when the ADD_SHARD command reaches it.
   */
  addShard(memory: WebAssembly.Memory): void {
    this.usable();
    if (this.workers.length === 0) return;
    for (const port of this.ports) port.postMessage(memory);
    const acks = Atomics.load(this.ctrl, ACKS);
    this.post(ADD_SHARD, () => {});
    const target = acks + this.workers.length;
    for (let a = Atomics.load(this.ctrl, ACKS); a < target; a = Atomics.load(this.ctrl, ACKS)) {
      this.checkWorkers();
      Atomics.wait(this.ctrl, ACKS, a, 50);
    }
    this.checkWorkers();
  }

  /**
   * Runs `count` descriptors at `desc` on `target`: on every thread when `parallel`, else on
   * the calling thread alone (small work, where a hand-off costs more than it saves).
   */
  run(target: BatchTarget, desc: number, count: number, kc: number, parallel: boolean, work: WorkArea): void {
    this.usable();
    const threads = parallel ? this.workers.length + 1 : 1;
    const kernels = target.kernels;
    const total = kernels.batchChunks(desc, count, threads);
    if (total === 0) return;
    const mem = target.i32();
    const counterIndex = target.counter >>> 2;
    const done = counterIndex + 1;
    const base = Atomics.load(mem, counterIndex);
    const end = (base + total) | 0;
    if (threads > 1) {
      this.post(RUN, (ctrl) => {
        Atomics.store(ctrl, SHARD, target.index);
        Atomics.store(ctrl, DESC, desc);
        Atomics.store(ctrl, COUNT, count);
        Atomics.store(ctrl, KBLOCK, kc);
        Atomics.store(ctrl, BASE, base);
        Atomics.store(ctrl, END, end);
        Atomics.store(ctrl, NTHREADS, threads);
        Atomics.store(ctrl, COUNTER, target.counter);
        Atomics.store(ctrl, WORK, work.base);
        Atomics.store(ctrl, WORK_STRIDE, work.stride);
      });
    }
    kernels.runBatch(desc, count, target.counter, base, end, threads, kc, work.base);
    let spins = 0;
    for (let f = Atomics.load(mem, done); ((f - end) | 0) < 0; f = Atomics.load(mem, done)) {
      this.checkWorkers();
      if (++spins > SPIN) Atomics.wait(mem, done, f, 1);
    }
  }

  private usable(): void {
    if (this.closed) throw new BackendError('the cpu thread pool has been shut down');
    if (this.broken) throw new BackendError('a cpu kernel failed earlier; create a new backend');
  }

  private checkWorkers(): void {
    const failed = Atomics.load(this.ctrl, ERROR);
    if (failed) {
      this.broken = true;
      throw new BackendError(`cpu worker ${failed} failed in a kernel`);
    }
  }

  private post(command: number, fill: (ctrl: Int32Array) => void): void {
    const ctrl = this.ctrl;
    Atomics.add(ctrl, GENERATION, 1); // odd: writing
    Atomics.store(ctrl, COMMAND, command);
    fill(ctrl);
    Atomics.add(ctrl, GENERATION, 1); // even: posted
    Atomics.notify(ctrl, GENERATION);
  }

  /** Stops and terminates the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.post(STOP, () => {});
    for (const port of this.ports) port.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
