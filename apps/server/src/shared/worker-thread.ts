/**
 * Main-thread helpers both worker kinds use: where a worker's built entry file is, and a
 * graceful stop with a deadline.
 */
import type { Worker } from 'node:worker_threads';

/**
 * The built entry file `file` beside the calling module (`import.meta.url`). Worker threads
 * cannot run TypeScript on Node 20, so when the caller itself runs from `src/` (under vitest)
 * the worker still comes from the same place under `dist/`.
 */
export function builtWorkerUrl(moduleUrl: string, file: string): URL {
  if (!moduleUrl.endsWith('.ts')) return new URL(file, moduleUrl);
  const at = moduleUrl.lastIndexOf('/src/');
  return new URL(file, `${moduleUrl.slice(0, at)}/dist/${moduleUrl.slice(at + 5)}`);
}

/** Asks the worker to free everything and exit (`{type: 'shutdown'}`); terminates it if it has not within `graceMs`. */
export async function stopWorker(worker: Worker, graceMs: number): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage({ type: 'shutdown' });
  const timer = setTimeout(() => void worker.terminate(), graceMs);
  await exited;
  clearTimeout(timer);
}
