/**
 * What both worker kinds (the inference workers and the generation worker) do to get a
 * backend: lower the thread's priority, import the backend packages, resolve the backend list,
 * and describe the result for `/v1/backends`. Written once here; each worker adds its own
 * layers or models on top.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { listBackends, listRouters, resolveBackend, type Backend, type BackendChoice } from '@moe-runtime/core';
import { loadBackendModules, type ModuleLoadReport } from './backend-modules.js';

/** The part of a worker's init message that picks the backend. */
export interface BackendInit {
  readonly backend: readonly BackendChoice[];
  readonly backendModules: readonly string[];
  /** Nice value for this thread (and the backend threads it creates); 0: unchanged. */
  readonly nice: number;
}

/** Facts about the backend a worker resolved. */
export interface BackendReport {
  readonly name: string;
  readonly engine: string;
  readonly threads?: number;
  /** The nice value the worker thread runs at, or why it could not be set. */
  readonly nice: number | string;
  /** Backend packages imported / skipped in the worker. */
  readonly modules: { loaded: string[]; skipped: { name: string; reason: string }[] };
  /** Every backend registered in the worker, most preferred first. */
  readonly registered: { name: string; priority: number; description?: string }[];
  /** Every router registered in the worker. */
  readonly routers: { name: string; description?: string; needs_token_ids: boolean }[];
}

/**
 * Lowers this thread's priority (Linux: nice is per thread, and threads created from here, such
 * as a backend's compute threads, inherit it). Returns the value set, or why not.
 */
export function renice(nice: number): number | string {
  if (nice === 0) return 0;
  if (process.platform !== 'linux') return `not set (${process.platform})`;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, nice);
    return nice;
  } catch (err) {
    return `not set (${err instanceof Error ? err.message : String(err)})`;
  }
}

/** A resolved backend and what `describe()` reports about it. */
export interface StartedBackend {
  readonly backend: Backend;
  /** The report (routers listed as registered now: call it after loading layers or models). */
  describe(): BackendReport;
}

/** Picks the backend from the preference list (default: the first that starts, `resolveBackend`). */
export type BackendChooser = (choices: readonly BackendChoice[]) => Promise<Backend>;

/**
 * Renices the thread (before the backend starts its threads, so they inherit it), imports the
 * packages and resolves the backend (through `choose` when given: the generation worker takes
 * the first backend the models fit).
 */
export async function startBackend(init: BackendInit, choose: BackendChooser = resolveBackend): Promise<StartedBackend> {
  const nice = renice(init.nice);
  const modules: ModuleLoadReport = await loadBackendModules(
    init.backend.map((c) => (typeof c === 'string' ? c : c.name)),
    init.backendModules,
  );
  const backend = await choose(init.backend);
  return {
    backend,
    describe: () => ({
      name: backend.name,
      engine: backend.engine,
      threads: backend.threads,
      nice,
      modules,
      registered: listBackends(),
      routers: listRouters().map((r) => ({ name: r.name, description: r.description, needs_token_ids: r.needsTokenIds ?? false })),
    }),
  };
}
