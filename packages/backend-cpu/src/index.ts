/**
 * @moe-runtime/backend-cpu: the portable CPU backend. WebAssembly SIMD kernels (AssemblyScript)
 * on worker threads over shared memories (as many as the weights need: no 4 GiB ceiling), on
 * weights in their stored formats, with a plain TypeScript fallback. Importing this module
 * registers it as backend `cpu` (priority 10).
 *
 * @packageDocumentation
 */
import { registerBackend } from '@moe-runtime/core';
import { createCpuBackend } from './create.js';

export { CpuBackend } from './cpu-backend.js';
export { createCpuBackend } from './create.js';
export {
  ACTIVATION_MODES,
  MAX_THREADS,
  SIMD_MODES,
  resolveCpuOptions,
  type ActivationMode,
  type CpuBackendOptions,
  type ResolvedCpuOptions,
  type SimdMode,
} from './options.js';

registerBackend('cpu', {
  priority: 10,
  description: 'portable CPU: WebAssembly SIMD kernels on worker threads (plain TypeScript fallback)',
  create: (options) => createCpuBackend(options),
});
