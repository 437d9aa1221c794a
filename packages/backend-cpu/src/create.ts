/** Creating a CPU backend: validate options, pick the engine. */
import type { BackendOptions } from '@moe-runtime/core';
import { CpuBackend } from './cpu-backend.js';
import { JsEngine } from './js/js-engine.js';
import { resolveCpuOptions, type CpuBackendOptions } from './options.js';

/**
 * Creates a CPU backend. Throws a ConfigError naming `backend.options.<key>` for a bad option.
 */
export async function createCpuBackend(options: CpuBackendOptions | BackendOptions = {}): Promise<CpuBackend> {
  const resolved = resolveCpuOptions(options);
  void resolved;
  return new CpuBackend(new JsEngine());
}
