/**
 * @moe-runtime/backend-gpujs: the gpu.js backend for moe-runtime. Importing this module
 * registers the backend as `gpujs` (priority 5); options: {@link GpuJsBackendOptions}.
 *
 * @packageDocumentation
 */
import { registerBackend } from '@moe-runtime/core';
import { GpuJsBackend } from './gpujs-backend.js';
import { parseOptions } from './options.js';

export { GpuJsBackend, createGpuJsBackend } from './gpujs-backend.js';
export type { GpuJsBackendOptions } from './options.js';
export type { GpuJsMode } from './gpujs-types.js';
export { GPUJS_MODES } from './gpujs-types.js';
export { probeMode, chooseMode, type ModeProbe } from './mode-probe.js';

registerBackend('gpujs', {
  priority: 5,
  description: 'gpu.js kernels: webgpu (Dawn), headlessgl, webasm (WebAssembly SIMD) or cpu',
  create: async (options) => GpuJsBackend.create(parseOptions(options)),
});
