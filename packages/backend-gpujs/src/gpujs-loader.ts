/**
 * Loads gpu.js (CommonJS) as `unknown` and checks the surface this backend relies on, so a
 * different major version fails with a clear message instead of deep inside a kernel.
 */
import { createRequire } from 'node:module';
import { BackendError, errorMessage } from '@moe-runtime/core';
import type { GpuJsModule, KernelInstance } from './gpujs-types.js';

const require = createRequire(import.meta.url);

let cached: GpuJsModule | undefined;

function isGpuJsModule(value: unknown): value is GpuJsModule {
  if (typeof value !== 'object' || value === null) return false;
  const gpu = (value as { GPU?: unknown }).GPU;
  return typeof gpu === 'function' && typeof (gpu as { prototype?: { createKernel?: unknown } }).prototype?.createKernel === 'function';
}

/** The gpu.js module, loaded once. */
export function loadGpuJs(): GpuJsModule {
  if (cached) return cached;
  let mod: unknown;
  try {
    mod = require('gpu.js');
  } catch (err) {
    throw new BackendError(`gpu.js could not be loaded: ${errorMessage(err)}`, { cause: err });
  }
  if (!isGpuJsModule(mod)) throw new BackendError('gpu.js loaded but exports no GPU class with createKernel; expected gpu.js 2.24.x');
  cached = mod;
  return mod;
}

/**
 * Loads the optional `gl` addon the way gpu.js does (it is gpu.js's optional dependency, so it
 * is resolved from gpu.js's own location). Returns the reason when it cannot be loaded.
 */
export function loadHeadlessGl(): { create?: (w: number, h: number) => unknown; reason?: string } {
  try {
    const fromGpuJs = createRequire(require.resolve('gpu.js'));
    const gl: unknown = fromGpuJs('gl');
    if (typeof gl !== 'function') return { reason: 'the gl module exports no context factory' };
    return { create: gl as (w: number, h: number) => unknown };
  } catch (err) {
    return { reason: `the optional 'gl' addon is not built or not installed (${errorMessage(err).split('\n')[0]})` };
  }
}

/**
 * The mode a kernel instance actually runs in. gpu.js's cpu, webasm and webgpu kernels name
 * their mode; every GL kernel class reports 'gpu', so headless-gl is recognised by its class.
 */
export function kernelModeOf(kernel: KernelInstance | undefined): string | undefined {
  const mode = kernel?.constructor.mode;
  if (mode !== 'gpu') return mode;
  const headless = loadGpuJs().HeadlessGLKernel;
  return headless && kernel instanceof headless ? 'headlessgl' : `gpu (${(kernel?.constructor as { name?: string }).name ?? 'unknown GL kernel'})`;
}
