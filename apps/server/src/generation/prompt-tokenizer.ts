/**
 * Tokenizes prompts on a thread of their own (one per model), so the generation worker's loop,
 * which runs every stream's steps, never waits for a long prompt. Prompts are tokenized in
 * arrival order; the work of each is bounded by the main thread's character check
 * (prompt-bound.ts), which refuses a prompt that cannot fit before it gets here.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ModelTokenizer } from '@moe-runtime/model';
import { builtWorkerUrl } from '../shared/worker-thread.js';
import type { GenerateRequest } from './generation-protocol.js';
import type { TokenizeRequest, TokenizeResult, TokenizerInit } from './tokenizer-protocol.js';

interface Waiting {
  resolve(ids: number[]): void;
  reject(err: Error): void;
}

/** A tokenizer thread for one model's prompts. */
export class PromptTokenizer {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private failure?: Error;

  constructor(tokenizer: ModelTokenizer, name: string) {
    const init: TokenizerInit = tokenizer.toJson();
    this.worker = new Worker(fileURLToPath(builtWorkerUrl(import.meta.url, './tokenizer-worker.js')), { name: `moe-tokenizer-${name}`, workerData: init });
    this.worker.on('message', (msg: TokenizeResult) => this.settle(msg));
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => this.failAll(new Error(`tokenizer thread exited (code ${code})`)));
    // An idle tokenizer thread does not keep the process (or the generation worker) alive.
    this.worker.unref();
  }

  /** Prompts sent and not yet answered. */
  get pending(): number {
    return this.waiting.size;
  }

  /** The prompt's token ids; rejects with the tokenizer's error (e.g. a chat template that fails). */
  encode(prompt: GenerateRequest['prompt']): Promise<number[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<number[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'encode', id, prompt } satisfies TokenizeRequest);
    });
  }

  private settle(msg: TokenizeResult): void {
    const w = this.waiting.get(msg.id);
    if (!w) return;
    this.waiting.delete(msg.id);
    if (msg.type === 'encoded') w.resolve(Array.from(msg.ids));
    else w.reject(new Error(msg.message));
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** Stops the thread; prompts still waiting are rejected. */
  async close(): Promise<void> {
    this.failure ??= new Error('tokenizer closed');
    await this.worker.terminate();
    this.failAll(this.failure);
  }
}
