/**
 * The main-thread side of text generation: starts the generation worker, keeps one queue per
 * model, and lets at most `generation.maxConcurrent` generations of a model run at once (the
 * worker interleaves them token by token); the rest wait, up to `limits.maxQueuedRequests`
 * (then 503 with Retry-After). Every generation has a deadline (`limits.requestTimeoutMs`,
 * 504) and stops when its caller hangs up (the worker is told to cancel, so it moves on).
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { GenerationConfig, LimitsConfig } from '../config.js';
import { clip, HttpError } from '../http/http-error.js';
import { builtWorkerUrl, stopWorker } from '../shared/worker-thread.js';
import type { GenerationMetrics } from './generation-metrics.js';
import { promptBoundError } from './prompt-bound.js';
import type {
  FromGenerationWorker,
  GenerateRequest,
  GenerationDone,
  GenerationInit,
  GenerationReady,
  GenerationStarted,
  ModelInfo,
  WireLogprob,
} from './generation-protocol.js';

/** A piece of one choice's text, as the route receives it. */
export interface StreamedText {
  /** Which of the request's choices. */
  readonly choice: number;
  readonly text: string;
  /** One per token, when log-probabilities were asked for. */
  readonly logprobs?: readonly WireLogprob[];
}

/** The worker's entry file (see builtWorkerUrl). */
function workerEntry(): URL {
  return builtWorkerUrl(import.meta.url, './generation-worker.js');
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
  reject(e: Error): void;
}

/** A promise with its resolvers; a rejection nobody awaits is not an unhandled rejection. */
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** One generation as the route sees it. */
export interface GenerationHandle {
  /** Resolves when the prompt is tokenized and decoding began; rejects with an HttpError (400, 503, 504, ...). */
  readonly started: Promise<GenerationStarted>;
  /** Resolves with the statistics when it finished; rejects with an HttpError (500, 504, 499). */
  readonly done: Promise<GenerationDone>;
  /** Receives each text chunk (chunks that came before are replayed). */
  onChunk(sink: (chunk: StreamedText) => void): void;
}

type Job = Omit<GenerateRequest, 'type' | 'id'>;

interface Entry {
  readonly id: number;
  readonly job: Job;
  readonly enqueuedAt: number;
  startedAt?: number;
  state: 'queued' | 'running' | 'finished';
  timer?: NodeJS.Timeout;
  readonly buffered: StreamedText[];
  /** Generated tokens counted in the metrics so far (from chunks). */
  countedTokens: number;
  sink?: (chunk: StreamedText) => void;
  resolveStarted(s: GenerationStarted): void;
  rejectStarted(e: Error): void;
  resolveDone(d: GenerationDone): void;
  rejectDone(e: Error): void;
}

interface ModelQueue {
  readonly waiting: Entry[];
  running: number;
  /** Recent generation time in seconds (EWMA), for Retry-After. */
  secondsPerGeneration: number;
}

/** Starts the generation worker and schedules generations on it. Emits 'crashed', 'restarted', 'restart-failed'. */
export class GenerationService extends EventEmitter {
  private worker?: Worker;
  private readonly entries = new Map<number, Entry>();
  private readonly queues = new Map<string, ModelQueue>();
  private nextId = 1;
  private stopping = false;
  /** The loaded models, once ready. */
  models: readonly ModelInfo[] = [];
  ready = false;

  constructor(
    private readonly init: GenerationInit,
    private readonly generation: GenerationConfig,
    private readonly limits: LimitsConfig,
    private readonly metrics: GenerationMetrics,
  ) {
    super();
    for (const m of init.models) {
      this.queues.set(m.id, { waiting: [], running: 0, secondsPerGeneration: 0 });
      metrics.addModel(m.id);
    }
  }

  /** Starts the worker; resolves when every model is loaded. A worker that dies later is replaced. */
  start(): Promise<GenerationReady> {
    const worker = new Worker(fileURLToPath(workerEntry()), { name: 'moe-generation' });
    this.worker = worker;
    let loaded = false;
    let lastError = '';
    return new Promise((resolve, reject) => {
      worker.on('message', (msg: FromGenerationWorker) => {
        if (msg.type === 'ready') {
          loaded = true;
          this.models = msg.models;
          this.ready = true;
          resolve(msg);
          this.pump();
        } else if (msg.type === 'init-error') reject(new Error(msg.message));
        else this.onMessage(msg);
      });
      worker.on('error', (err) => (lastError = `: ${err.message}`));
      worker.on('exit', (code) => {
        if (!loaded) reject(new Error(`generation worker exited during start (code ${code})${lastError}`));
        if (worker !== this.worker || this.stopping || !loaded) return;
        this.crashed(`generation worker exited (code ${code})${lastError}`);
        // Queued generations wait for the new worker (their deadlines still run).
        this.start().then(
          () => this.emit('restarted'),
          (err: unknown) => this.emit('restart-failed', err),
        );
      });
      worker.postMessage(this.init);
    });
  }

  /** Ends the worker at once, as a crash would (tests; the service starts a new one). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  /** Generations of `model` waiting to start. */
  queueDepth(model: string): number {
    return this.queues.get(model)?.waiting.length ?? 0;
  }

  /** The 503 a request for `model` gets when its queue is full (counted), or undefined. */
  queueFullError(model: string): HttpError | undefined {
    const q = this.queues.get(model);
    // Only a generation that would have to wait counts against the queue limit.
    if (!q || q.running + q.waiting.length < this.generation.maxConcurrent || q.waiting.length < this.limits.maxQueuedRequests) return undefined;
    this.metrics.requests.inc({ model, status: 'queue_full' });
    // Each waiting generation needs about one generation time per concurrent slot.
    const retry = Math.max(1, Math.ceil((q.secondsPerGeneration || 1) * Math.ceil((q.waiting.length + 1) / this.generation.maxConcurrent)));
    return new HttpError(503, 'E_QUEUE_FULL', `queue for model '${model}' is full (${q.waiting.length} generations waiting, limit ${this.limits.maxQueuedRequests}); retry later`, {
      headers: { 'retry-after': String(retry) },
    });
  }

  /** Queues a generation. `signal`: the caller hung up. */
  submit(job: Job, signal?: AbortSignal): GenerationHandle {
    const id = this.nextId++;
    const started = deferred<GenerationStarted>();
    const done = deferred<GenerationDone>();
    const entry: Entry = {
      id,
      job,
      enqueuedAt: performance.now(),
      state: 'queued',
      buffered: [],
      countedTokens: 0,
      resolveStarted: started.resolve,
      rejectStarted: started.reject,
      resolveDone: done.resolve,
      rejectDone: done.reject,
    };
    const handle: GenerationHandle = {
      started: started.promise,
      done: done.promise,
      onChunk: (sink) => {
        entry.sink = sink;
        for (const t of entry.buffered.splice(0)) sink(t);
      },
    };
    const q = this.queues.get(job.model);
    const info = this.models.find((m) => m.id === job.model);
    // Refused by its characters before it waits or tokenizes (a huge prompt would hold the worker).
    const tooLong = info && promptBoundError(job.prompt, info);
    if (tooLong) this.metrics.requests.inc({ model: job.model, status: 'invalid' });
    const full = tooLong ? undefined : this.queueFullError(job.model);
    if (!q || tooLong || full) {
      entry.state = 'finished';
      entry.rejectStarted(tooLong || full || new HttpError(404, 'E_UNKNOWN_MODEL', `unknown model '${clip(job.model)}'`, { field: 'model' }));
      return handle;
    }
    this.entries.set(id, entry);
    q.waiting.push(entry);
    this.metrics.queueDepth.set({ model: job.model }, q.waiting.length);
    entry.timer = setTimeout(() => this.expire(entry), this.limits.requestTimeoutMs);
    signal?.addEventListener('abort', () => this.abandon(entry), { once: true });
    this.pump();
    return handle;
  }

  private pump(): void {
    if (!this.ready || !this.worker) return;
    for (const [model, q] of this.queues) {
      while (q.waiting.length && q.running < this.generation.maxConcurrent) {
        const entry = q.waiting.shift()!;
        q.running++;
        entry.state = 'running';
        entry.startedAt = performance.now();
        this.worker.postMessage({ type: 'generate', id: entry.id, ...entry.job } satisfies GenerateRequest);
      }
      this.metrics.queueDepth.set({ model }, q.waiting.length);
    }
  }

  private onMessage(msg: Exclude<FromGenerationWorker, GenerationReady | { type: 'init-error' }>): void {
    const entry = this.entries.get(msg.id);
    if (!entry || entry.state === 'finished') return;
    const model = entry.job.model;
    switch (msg.type) {
      case 'started':
        this.metrics.promptTokens.inc({ model }, msg.promptTokens);
        entry.resolveStarted(msg);
        break;
      case 'chunk': {
        // Counted as they are made: a generation cut by a timeout or a hang-up made its tokens too.
        this.metrics.generatedTokens.inc({ model }, msg.tokens);
        entry.countedTokens += msg.tokens;
        const chunk: StreamedText = { choice: msg.choice, text: msg.text, ...(msg.logprobs ? { logprobs: msg.logprobs } : {}) };
        if (entry.sink) entry.sink(chunk);
        else entry.buffered.push(chunk);
        break;
      }
      case 'done': {
        const queueMs = entry.startedAt! - entry.enqueuedAt;
        // Tokens no chunk carried (held back by a stop sequence) count at the end.
        if (msg.completionTokens > entry.countedTokens) this.metrics.generatedTokens.inc({ model }, msg.completionTokens - entry.countedTokens);
        this.metrics.observeDone(model, msg, queueMs);
        const q = this.queues.get(model)!;
        const seconds = (performance.now() - entry.startedAt!) / 1000;
        q.secondsPerGeneration = q.secondsPerGeneration === 0 ? seconds : 0.8 * q.secondsPerGeneration + 0.2 * seconds;
        this.finish(entry, 'ok');
        entry.resolveDone(msg);
        break;
      }
      case 'failed': {
        const err = new HttpError(msg.status, msg.code, msg.message, { field: msg.field });
        this.finish(entry, msg.status < 500 ? 'invalid' : 'error');
        entry.rejectStarted(err);
        entry.rejectDone(err);
        break;
      }
    }
  }

  /** Marks an entry finished, frees its slot (telling the worker to stop if it still runs) and counts it. */
  private finish(entry: Entry, status: string, cancel = false): void {
    if (entry.state === 'finished') return;
    const q = this.queues.get(entry.job.model)!;
    if (entry.state === 'queued') q.waiting.splice(q.waiting.indexOf(entry), 1);
    else {
      q.running--;
      if (cancel) this.worker?.postMessage({ type: 'cancel', id: entry.id });
    }
    entry.state = 'finished';
    clearTimeout(entry.timer);
    this.entries.delete(entry.id);
    this.metrics.requests.inc({ model: entry.job.model, status });
    this.metrics.queueDepth.set({ model: entry.job.model }, q.waiting.length);
    // Let the next one start after this turn (the worker gets the cancel first).
    setImmediate(() => this.pump());
  }

  private abandon(entry: Entry): void {
    if (entry.state === 'finished') return;
    this.finish(entry, 'client_gone', true);
    const err = new HttpError(499, 'E_CLIENT_CLOSED', 'the client closed the connection');
    entry.rejectStarted(err);
    entry.rejectDone(err);
  }

  private expire(entry: Entry): void {
    if (entry.state === 'finished') return;
    const where = entry.state === 'queued' ? 'waiting in the queue' : 'generating';
    this.finish(entry, 'timeout', true);
    const err = new HttpError(504, 'E_TIMEOUT', `generation for model '${entry.job.model}' timed out after ${this.limits.requestTimeoutMs} ms (${where})`);
    entry.rejectStarted(err);
    entry.rejectDone(err);
  }

  /** The worker died: its running generations fail with a 500. */
  private crashed(reason: string): void {
    this.ready = false;
    for (const entry of [...this.entries.values()]) {
      if (entry.state !== 'running') continue;
      this.finish(entry, 'error');
      const err = new HttpError(500, 'E_GENERATION', `generation failed: ${reason}`);
      entry.rejectStarted(err);
      entry.rejectDone(err);
    }
    this.emit('crashed', reason);
  }

  /** Stops the worker (after what runs now; the caller drains requests first). */
  async stop(graceMs = 5000): Promise<void> {
    const worker = this.worker;
    if (!worker || this.stopping) return;
    this.stopping = true;
    // Generations still running (their callers gone) are cut: cancel, then shut down.
    for (const entry of [...this.entries.values()]) this.abandon(entry);
    await stopWorker(worker, graceMs);
  }
}
