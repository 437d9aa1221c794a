/**
 * The `application/json` body parser: small bodies are parsed inline; bodies of at least
 * `LARGE_BODY_BYTES` go to a parse worker (json-parse-worker.ts), so a few maximum-size
 * uploads cannot hold the event loop (and `/healthz`) for the half second each takes to parse.
 */
import type { FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { builtWorkerUrl } from '../shared/worker-thread.js';
import { HttpError } from './http-error.js';
import { parseJson } from './json-parse.js';
import type { ParseRequest, ParseResult } from './json-parse-worker.js';

/** Bodies from this size on are parsed in the worker (below, parsing inline takes a few ms). */
export const LARGE_BODY_BYTES = 1 << 20;

/** One parse worker, started on first use; parses one body at a time in arrival order. */
export class JsonParseWorker {
  private worker?: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private start(): Worker {
    const worker = new Worker(fileURLToPath(builtWorkerUrl(import.meta.url, './json-parse-worker.js')), { name: 'moe-json-parse' });
    worker.on('message', (r: ParseResult) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (!p) return;
      if (r.ok) p.resolve(r.body);
      else p.reject(new HttpError(r.status, r.code, r.message, { openaiCode: r.openaiCode }));
    });
    worker.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new HttpError(500, 'E_INTERNAL', 'the JSON parse worker stopped'));
      this.pending.clear();
      if (this.worker === worker) this.worker = undefined;
    });
    // Idle, it must not keep the process alive.
    worker.unref();
    return worker;
  }

  /** Parses `bytes` (transferred: the caller must not use them again). */
  parse(bytes: Uint8Array, maxAbs: number): Promise<unknown> {
    this.worker ??= this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ id, bytes, maxAbs } satisfies ParseRequest, [bytes.buffer as ArrayBuffer]);
    });
  }

  /** Stops the worker. */
  async stop(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** Replaces Fastify's JSON parser with one that sends large bodies to `worker`. */
export function registerJsonParser(app: FastifyInstance, worker: JsonParseWorker, maxAbs: number, onWorkerParse: () => void): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, async (_request: unknown, body: Buffer) => {
    if (body.length < LARGE_BODY_BYTES) return parseJson(body.toString('utf8'));
    // A view of a larger (pooled) buffer is copied: only a buffer of its own can be transferred.
    onWorkerParse();
    const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : Uint8Array.prototype.slice.call(body);
    return worker.parse(own, maxAbs);
  });
}
