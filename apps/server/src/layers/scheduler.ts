/**
 * Dynamic batching. Each layer has a queue of waiting requests. A queue becomes ripe when its
 * oldest request has waited `windowMs` or it holds `maxBatchTokens` tokens; whenever a worker is
 * idle, the ripe queue whose head waited longest gives it one batch: its requests in arrival
 * order, up to `maxBatchTokens` (a single larger request runs alone). While every worker is
 * busy, requests keep piling up and the next batch is bigger: throughput grows with load.
 *
 * Each caller gets exactly its own rows back: a batch is the concatenation of its requests'
 * rows, and the output is sliced at the same offsets. Back-pressure: a queue holding
 * `maxQueuedRequests` answers 503 with a Retry-After estimated from the recent token rate.
 * Every request has a deadline (`requestTimeoutMs`): past it, a waiting request leaves the
 * queue and a running one stops waiting for its batch; both get a 504.
 */
import type { BatchingConfig, LimitsConfig } from '../config.js';
import { clip, HttpError } from '../http/http-error.js';
import type { ServerMetrics } from './layer-metrics.js';
import { sliceRouting } from './routing-output.js';
import { BatchFailedError } from './worker-client.js';
import type { WorkerPool } from './worker-pool.js';
import type { ForwardResult } from './worker-protocol.js';

/** One request's work. */
export interface Job {
  readonly layer: string;
  /** `[rows, D]` float32. */
  readonly x: Float32Array;
  readonly rows: number;
  readonly tokenIds?: Int32Array;
  readonly wantRouting: boolean;
  /** Aborted when the caller hung up: a request still waiting then leaves the queue unrun. */
  readonly signal?: AbortSignal;
}

/** What a request gets back. */
export interface JobResult {
  /** `[rows, D]` float32: this request's rows only. */
  readonly output: Float32Array;
  readonly routing?: { experts: number[][]; weights: number[][] };
  /** The batch this request ran in, and the inference worker that ran it. */
  readonly batch: { readonly requests: number; readonly tokens: number; readonly worker: number };
  readonly queueMs: number;
  readonly computeMs: number;
}

interface Entry extends Job {
  readonly enqueuedAt: number;
  readonly resolve: (r: JobResult) => void;
  readonly reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  settled: boolean;
  /** Runs in a batch of its own: its shared batch failed, so it is retried alone. */
  solo?: boolean;
}

/** Per-layer facts the scheduler needs. */
export interface LayerQueueInfo {
  readonly id: string;
  readonly hiddenSize: number;
  /** False: every request is its own batch (batch-dependent routers, see batch-policy.ts). */
  readonly batchAcrossRequests: boolean;
}

class LayerQueue {
  readonly entries: Entry[] = [];
  tokens = 0;
  /** When the head of the queue arrived (window start). */
  headSince = 0;
  /** Recent throughput in tokens/s (EWMA), for Retry-After. */
  tokenRate = 0;
  constructor(readonly info: LayerQueueInfo) {}
}

/** Batches requests per layer and runs them on the worker pool. */
export class Scheduler {
  private readonly queues = new Map<string, LayerQueue>();
  private windowTimer?: NodeJS.Timeout;
  private running = 0;

  constructor(
    private readonly pool: WorkerPool,
    layers: readonly LayerQueueInfo[],
    private readonly batching: BatchingConfig,
    private readonly limits: LimitsConfig,
    private readonly metrics?: ServerMetrics,
  ) {
    for (const l of layers) this.queues.set(l.id, new LayerQueue(l));
    pool.on('idle', () => this.pump());
  }

  /** Requests waiting (not running) for `layer`. */
  queueDepth(layer: string): number {
    return this.queues.get(layer)?.entries.length ?? 0;
  }

  /** Batches running now. */
  get batchesRunning(): number {
    return this.running;
  }

  /**
   * The 503 a request for `layer` gets when its queue is full (counted in the metrics), or
   * undefined. The forward route asks before reading the body, so a flood of refused requests
   * costs no JSON parsing.
   */
  queueFullError(layer: string): HttpError | undefined {
    const q = this.queues.get(layer);
    if (!q || q.entries.length < this.limits.maxQueuedRequests) return undefined;
    this.metrics?.rejected.inc({ layer, reason: 'queue_full' });
    const retry = Math.max(1, Math.ceil(q.tokenRate > 0 ? q.tokens / q.tokenRate : 1));
    return new HttpError(503, 'E_QUEUE_FULL', `queue for layer '${layer}' is full (${q.entries.length} requests waiting, limit ${this.limits.maxQueuedRequests}); retry later`, {
      headers: { 'retry-after': String(retry) },
    });
  }

  /** Queues a request; resolves with its rows, or rejects with an HttpError (503, 504, 500). */
  submit(job: Job): Promise<JobResult> {
    const q = this.queues.get(job.layer);
    if (!q) return Promise.reject(new HttpError(404, 'E_UNKNOWN_LAYER', `unknown layer '${clip(job.layer)}'`));
    const full = this.queueFullError(job.layer);
    if (full) return Promise.reject(full);
    return new Promise<JobResult>((resolve, reject) => {
      const entry: Entry = { ...job, enqueuedAt: performance.now(), resolve, reject, settled: false };
      entry.timer = setTimeout(() => this.expire(q, entry), this.limits.requestTimeoutMs);
      job.signal?.addEventListener('abort', () => this.abandon(q, entry), { once: true });
      if (q.entries.length === 0) q.headSince = entry.enqueuedAt;
      q.entries.push(entry);
      q.tokens += job.rows;
      this.metrics?.queueDepth.set({ layer: q.info.id }, q.entries.length);
      this.pump();
    });
  }

  /** Removes a waiting request (true) or reports that it already runs or ran (false). */
  private unqueue(q: LayerQueue, entry: Entry): boolean {
    const i = q.entries.indexOf(entry);
    if (i < 0) return false;
    q.entries.splice(i, 1);
    q.tokens -= entry.rows;
    if (i === 0 && q.entries.length) q.headSince = q.entries[0].enqueuedAt;
    this.metrics?.queueDepth.set({ layer: q.info.id }, q.entries.length);
    return true;
  }

  private abandon(q: LayerQueue, entry: Entry): void {
    if (entry.settled || !this.unqueue(q, entry)) return;
    this.metrics?.rejected.inc({ layer: q.info.id, reason: 'client_gone' });
    this.settle(entry, undefined, new HttpError(499, 'E_CLIENT_CLOSED', 'the client closed the connection before the request ran'));
  }

  private expire(q: LayerQueue, entry: Entry): void {
    if (entry.settled) return;
    const where = this.unqueue(q, entry) ? 'waiting in the queue' : 'running';
    this.metrics?.rejected.inc({ layer: q.info.id, reason: 'timeout' });
    this.settle(entry, undefined, new HttpError(504, 'E_TIMEOUT', `request for layer '${q.info.id}' timed out after ${this.limits.requestTimeoutMs} ms (${where})`));
  }

  private settle(entry: Entry, result: JobResult | undefined, error?: Error): void {
    if (entry.settled) return;
    entry.settled = true;
    clearTimeout(entry.timer);
    if (error) entry.reject(error);
    else entry.resolve(result!);
  }

  private isRipe(q: LayerQueue, now: number): boolean {
    if (q.entries.length === 0) return false;
    return !q.info.batchAcrossRequests || q.tokens >= this.batching.maxBatchTokens || now - q.headSince >= this.batching.windowMs;
  }

  /** Gives idle workers batches from ripe queues (oldest head first); arms the window timer. */
  private pump(): void {
    for (;;) {
      const now = performance.now();
      let best: LayerQueue | undefined;
      for (const q of this.queues.values()) {
        if (this.isRipe(q, now) && (!best || q.headSince < best.headSince)) best = q;
      }
      if (!best) break;
      const worker = this.pool.idleWorker();
      if (!worker) return; // 'idle' calls pump again
      this.dispatch(best, worker);
    }
    this.armWindow();
  }

  private armWindow(): void {
    if (this.windowTimer) return;
    let earliest = Infinity;
    for (const q of this.queues.values()) if (q.entries.length) earliest = Math.min(earliest, q.headSince + this.batching.windowMs);
    if (earliest === Infinity) return;
    const delay = Math.max(0, earliest - performance.now());
    this.windowTimer = setTimeout(() => {
      this.windowTimer = undefined;
      this.pump();
    }, delay);
  }

  private take(q: LayerQueue): Entry[] {
    const batch: Entry[] = [q.entries.shift()!];
    let tokens = batch[0].rows;
    if (q.info.batchAcrossRequests && !batch[0].solo) {
      while (q.entries.length && !q.entries[0].solo && tokens + q.entries[0].rows <= this.batching.maxBatchTokens) {
        const next = q.entries.shift()!;
        batch.push(next);
        tokens += next.rows;
      }
    }
    q.tokens -= tokens;
    if (q.entries.length) q.headSince = q.entries[0].enqueuedAt;
    this.metrics?.queueDepth.set({ layer: q.info.id }, q.entries.length);
    return batch;
  }

  private dispatch(q: LayerQueue, worker: ReturnType<WorkerPool['idleWorker']> & object): void {
    const batch = this.take(q);
    const d = q.info.hiddenSize;
    const rows = batch.reduce((s, e) => s + e.rows, 0);
    const x = new Float32Array(rows * d);
    const withIds = batch.every((e) => e.tokenIds);
    const tokenIds = withIds ? new Int32Array(rows) : undefined;
    let offset = 0;
    for (const e of batch) {
      x.set(e.x, offset * d);
      if (tokenIds) tokenIds.set(e.tokenIds!, offset);
      offset += e.rows;
    }
    const wantRouting = batch.some((e) => e.wantRouting);
    const started = performance.now();
    this.running++;
    this.metrics?.observeBatch(q.info.id, batch.length, rows);
    worker
      .forward({ layer: q.info.id, x, rows, tokenIds, wantRouting })
      .then(
        (result) => this.deliver(q, batch, rows, started, result, worker.index),
        (err: unknown) => this.fail(q, batch, err),
      )
      .finally(() => {
        this.running--;
        this.pump();
      });
  }

  private deliver(q: LayerQueue, batch: Entry[], rows: number, started: number, result: ForwardResult, worker: number): void {
    const d = q.info.hiddenSize;
    const seconds = (performance.now() - started) / 1000;
    if (seconds > 0) q.tokenRate = q.tokenRate === 0 ? rows / seconds : 0.8 * q.tokenRate + 0.2 * (rows / seconds);
    this.metrics?.observeResult(q.info.id, rows, result);
    // Hand the rows back one caller per event-loop turn: each answer is serialised right after
    // it settles, and a batch of dozens settled in one go would hold the loop (and /healthz)
    // for the whole burst.
    let offset = 0;
    let i = 0;
    const next = (): void => {
      const e = batch[i++];
      const output = result.output.slice(offset * d, (offset + e.rows) * d);
      const routing = e.wantRouting && result.routing ? sliceRouting(result.routing, offset, e.rows) : undefined;
      this.settle(e, { output, routing, batch: { requests: batch.length, tokens: rows, worker }, queueMs: started - e.enqueuedAt, computeMs: result.computeMs });
      offset += e.rows;
      if (i < batch.length) setImmediate(next);
    };
    next();
  }

  private fail(q: LayerQueue, batch: Entry[], err: unknown): void {
    this.metrics?.backendErrors.inc({ layer: q.info.id });
    const pending = batch.filter((e) => !e.settled);
    if (pending.length > 1) {
      // One request's input (or a crash it caused) must not fail the others that shared its
      // batch: run each again alone, at the head of the queue, so only the culprit gets the 500.
      for (const e of pending) e.solo = true;
      q.entries.unshift(...pending);
      q.tokens += pending.reduce((s, e) => s + e.rows, 0);
      q.headSince = q.entries[0].enqueuedAt;
      this.metrics?.queueDepth.set({ layer: q.info.id }, q.entries.length);
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof BatchFailedError && err.code ? err.code : 'E_BACKEND';
    for (const e of batch) {
      this.settle(e, undefined, new HttpError(500, code, `forward failed for layer '${q.info.id}' (batch of ${batch.length} request(s)): ${message}`));
    }
  }

  /** Fails every waiting request (used when the server cannot serve any more). */
  rejectAll(reason: string): void {
    for (const q of this.queues.values()) {
      for (const e of q.entries.splice(0)) this.settle(e, undefined, new HttpError(503, 'E_UNAVAILABLE', reason));
      q.tokens = 0;
    }
  }
}
