/**
 * The main-thread side of one inference worker: starts it from the built JS, sends it the
 * init message, and matches forward results to their batches by id. A worker that dies fails
 * its pending batches (500) and reports it, so the pool can replace it.
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { builtWorkerUrl, stopWorker } from '../shared/worker-thread.js';
import type { ForwardRequest, ForwardResult, FromWorker, ReadyMessage, WorkerInit } from './worker-protocol.js';

/** A batch failed in the worker (backend error, router error, dead worker). */
export class BatchFailedError extends Error {
  readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'BatchFailedError';
    this.code = code;
  }
}

/** The worker's entry file (see builtWorkerUrl). */
export function workerEntry(): URL {
  return builtWorkerUrl(import.meta.url, './inference-worker.js');
}

type Pending = { resolve: (r: ForwardResult) => void; reject: (e: Error) => void };

/** One inference worker. Emits 'exit' (code, expected) when it stops. */
export class WorkerClient extends EventEmitter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopping = false;
  private exited = false;
  /** Batches sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  constructor(readonly index: number) {
    super();
    this.worker = new Worker(fileURLToPath(workerEntry()), { name: `moe-inference-${index}` });
    this.worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    this.worker.on('error', (err) => this.failAll(`inference worker ${index} crashed: ${err.message}`));
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.failAll(`inference worker ${index} exited (code ${code})`);
      this.emit('exit', code, this.stopping);
    });
  }

  /** Sends the init message; resolves when every layer is prepared. */
  start(init: WorkerInit): Promise<ReadyMessage> {
    return new Promise((resolve, reject) => {
      const onMessage = (msg: FromWorker): void => {
        if (msg.type === 'ready') {
          cleanup();
          resolve(msg);
        } else if (msg.type === 'init-error') {
          cleanup();
          reject(new Error(msg.message));
        }
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new Error(`inference worker ${this.index} exited during start (code ${code})`));
      };
      const cleanup = (): void => {
        this.worker.off('message', onMessage);
        this.off('exit', onExit);
      };
      this.worker.on('message', onMessage);
      this.on('exit', onExit);
      this.worker.postMessage(init);
    });
  }

  /** Runs one batch. `x` (and token ids) are transferred: the caller must not reuse them. */
  forward(req: Omit<ForwardRequest, 'type' | 'id'>): Promise<ForwardResult> {
    if (this.exited) return Promise.reject(new BatchFailedError(`inference worker ${this.index} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const transfer = [req.x.buffer as ArrayBuffer];
      if (req.tokenIds) transfer.push(req.tokenIds.buffer as ArrayBuffer);
      this.worker.postMessage({ ...req, type: 'forward', id } satisfies ForwardRequest, transfer);
    });
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type !== 'result' && msg.type !== 'error') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.type === 'result') p.resolve(msg);
    else p.reject(new BatchFailedError(msg.message, msg.code));
  }

  private failAll(message: string): void {
    for (const p of this.pending.values()) p.reject(new BatchFailedError(message));
    this.pending.clear();
  }

  /** Asks the worker to dispose its layers and exit; terminates it if it does not within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    this.stopping = true;
    await stopWorker(this.worker, graceMs);
  }

  /** Ends the worker at once (tests, crash recovery). */
  async terminate(): Promise<void> {
    this.stopping = true;
    await this.worker.terminate();
  }
}
