/**
 * @moe-runtime/backend-tfjs: the `tfjs` backend (TensorFlow.js 4.22): tfjs-node-gpu (CUDA) or
 * tfjs-node when installed, else WebAssembly (XNNPACK SIMD), else plain JavaScript.
 * Importing this module registers the backend as `tfjs` (priority 15).
 *
 * @packageDocumentation
 */
import { registerBackend } from '@moe-runtime/core';
import { parseTfjsOptions, type TfjsBackendOptions } from './options.js';
import { TfjsBackend } from './tfjs-backend.js';

export { TfjsBackend } from './tfjs-backend.js';
export type { TfjsEngine } from './engine-name.js';
export { TFJS_ENGINES } from './engine-name.js';
export { parseTfjsOptions, WASM_HEAP_LIMIT_BYTES, type TfjsBackendOptions } from './options.js';
export { estimateExpertBytes, estimateLinearBytes } from './memory-budget.js';
export { TENSORFLOW_INSTALL_HINT } from './install-hints.js';
export { wasmBinaryFolder } from './wasm-engine.js';

/** Priority of `tfjs` in the registry (higher is preferred when no backend is named). */
export const TFJS_BACKEND_PRIORITY = 15;

/** Creates a `tfjs` backend (the same as `TfjsBackend.create`). */
export function createTfjsBackend(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
  return TfjsBackend.create(options);
}

registerBackend('tfjs', {
  priority: TFJS_BACKEND_PRIORITY,
  description: 'TensorFlow.js 4.22: tfjs-node-gpu (CUDA) / tfjs-node when installed, else wasm (XNNPACK SIMD), else cpu',
  create: async (options) => TfjsBackend.create(parseTfjsOptions(options)),
});
