/** `createRuntime`: resolve a backend by preference and build layers on it. */
import type { Backend } from './backend.js';
import { resolveBackend, type BackendChoice } from './backend-registry.js';
import type { MoELayerConfig } from './layer-config.js';
import { MoELayer } from './moe-layer.js';
import type { Router } from './router.js';
import type { MoEWeights } from './weights.js';

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /** A backend name, a `{ name, options }`, or a list in order of preference. Default: by priority. */
  readonly backend?: BackendChoice | readonly BackendChoice[];
}

/** A resolved backend and a way to build layers on it. */
export interface Runtime {
  readonly backend: Backend;
  /** Builds an MoE layer on this runtime's backend. */
  createLayer(config: MoELayerConfig, weights: MoEWeights, router?: Router): Promise<MoELayer>;
}

/**
 * Resolves a backend (falling back along the preference list) and returns a runtime on it.
 * Backend packages register themselves when imported, e.g. `import '@moe-runtime/backend-cpu'`.
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const backend = await resolveBackend(options.backend);
  return {
    backend,
    createLayer: (config, weights, router) => MoELayer.create({ config, weights, backend, router }),
  };
}
