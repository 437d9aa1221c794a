/**
 * A fixed number of inference workers, each holding every layer. Hands an idle worker to the
 * scheduler, and replaces a worker that died (its batches already failed with a 500), so the
 * server keeps serving.
 */
import { EventEmitter } from 'node:events';
import { WorkerClient } from './worker-client.js';
import type { ReadyMessage, WorkerInit } from './worker-protocol.js';

/** Emits 'idle' when a worker may take a batch, 'replaced' / 'replace-failed' after a crash. */
export class WorkerPool extends EventEmitter {
  private readonly slots: (WorkerClient | undefined)[];
  private readonly ready = new Set<WorkerClient>();
  private stopped = false;
  /** The first worker's report: backend and layers. */
  info?: ReadyMessage;

  constructor(
    private readonly size: number,
    private readonly init: WorkerInit,
  ) {
    super();
    this.slots = new Array(size).fill(undefined);
  }

  /** Starts every worker; resolves once all have prepared their layers. */
  async start(): Promise<ReadyMessage> {
    const reports = await Promise.all(this.slots.map((_, i) => this.spawn(i)));
    this.info = reports[0];
    return reports[0];
  }

  private async spawn(i: number): Promise<ReadyMessage> {
    const client = new WorkerClient(i);
    this.slots[i] = client;
    client.on('exit', (_code: number, expected: boolean) => {
      this.ready.delete(client);
      if (!expected && !this.stopped) this.replace(i);
    });
    try {
      const report = await client.start(this.init);
      this.ready.add(client);
      this.emit('idle');
      return report;
    } catch (err) {
      await client.terminate();
      throw err;
    }
  }

  private replace(i: number): void {
    this.spawn(i).then(
      () => this.emit('replaced', i),
      (err: unknown) => this.emit('replace-failed', i, err),
    );
  }

  /** A started worker with no batch in flight, if any. */
  idleWorker(): WorkerClient | undefined {
    for (const w of this.ready) if (w.inFlight === 0) return w;
    return undefined;
  }

  /** Whether at least one worker is ready. */
  get isReady(): boolean {
    return this.ready.size > 0;
  }

  /** Stops every worker (after their current batch). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.slots.map((w) => w?.stop()));
    this.ready.clear();
  }
}
