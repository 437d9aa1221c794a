/**
 * Runs async tasks one at a time. gpu.js kernels are stateful (output size, argument buffers),
 * so concurrent backend calls (routed and shared experts run together) take turns.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
