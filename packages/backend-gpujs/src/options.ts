/** Options of the gpu.js backend, validated with ConfigErrors naming `backend.options.<key>`. */
import { ConfigError, type BackendOptions } from '@moe-runtime/core';
import { GPUJS_MODES, type GpuJsMode } from './gpujs-types.js';

/** Options of {@link createGpuJsBackend}. */
export interface GpuJsBackendOptions {
  /**
   * The gpu.js mode: `webgpu`, `headlessgl`, `webasm` or `cpu`. Default `auto`: the best mode
   * that runs here (a hardware webgpu adapter, headlessgl, webasm, a software webgpu adapter,
   * cpu). A named mode that cannot run is an error, never a silent fallback.
   */
  readonly mode?: GpuJsMode | 'auto';
  /**
   * Dawn backend for webgpu (`opengles`, `vulkan`, `metal`, `d3d12`, or `default` for Dawn's
   * own choice). Default: Dawn's choice, then `opengles` (Mesa, compatibility mode).
   */
  readonly dawnBackend?: string;
  /**
   * Largest array one kernel argument may hold, in bytes: weight matrices and row blocks are
   * split to fit. Default: the mode's limit (webgpu: the adapter's storage binding size).
   * A smaller value is accepted (useful to exercise splitting); a larger one is capped.
   */
  readonly maxBindingBytes?: number;
  /** webasm only: run kernels on gpu.js's worker pool (its async contract). Default false. */
  readonly threads?: boolean;
}

const KEYS = ['mode', 'dawnBackend', 'maxBindingBytes', 'threads'];
const DAWN_BACKENDS = ['default', 'opengles', 'opengl', 'vulkan', 'metal', 'd3d12', 'd3d11', 'null'];

/** Validates raw registry options into {@link GpuJsBackendOptions}. */
export function parseOptions(options: BackendOptions | GpuJsBackendOptions | undefined): GpuJsBackendOptions {
  const o = (options === undefined ? {} : options) as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ConfigError('backend.options', `expected an object, got ${JSON.stringify(o)}`);
  for (const key of Object.keys(o)) {
    if (!KEYS.includes(key)) throw new ConfigError(`backend.options.${key}`, `unknown option; expected one of ${KEYS.join(', ')}`);
  }
  const { mode, dawnBackend, maxBindingBytes, threads } = o;
  if (mode !== undefined && mode !== 'auto' && !GPUJS_MODES.includes(mode as GpuJsMode)) {
    throw new ConfigError('backend.options.mode', `expected one of auto, ${GPUJS_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  if (dawnBackend !== undefined && (typeof dawnBackend !== 'string' || !DAWN_BACKENDS.includes(dawnBackend))) {
    throw new ConfigError('backend.options.dawnBackend', `expected one of ${DAWN_BACKENDS.join(', ')}, got ${JSON.stringify(dawnBackend)}`);
  }
  if (maxBindingBytes !== undefined && (typeof maxBindingBytes !== 'number' || !Number.isInteger(maxBindingBytes) || maxBindingBytes < 1024)) {
    throw new ConfigError('backend.options.maxBindingBytes', `expected an integer of at least 1024 (bytes), got ${JSON.stringify(maxBindingBytes)}`);
  }
  if (threads !== undefined && typeof threads !== 'boolean') {
    throw new ConfigError('backend.options.threads', `expected a boolean, got ${JSON.stringify(threads)}`);
  }
  // With a named mode other than webasm the option could only be ignored: say so instead.
  if (threads === true && mode !== undefined && mode !== 'auto' && mode !== 'webasm') {
    throw new ConfigError('backend.options.threads', `only applies to mode 'webasm' (gpu.js's worker pool), got mode ${JSON.stringify(mode)}`);
  }
  return {
    mode: mode as GpuJsMode | 'auto' | undefined,
    dawnBackend: dawnBackend as string | undefined,
    maxBindingBytes: maxBindingBytes as number | undefined,
    threads: threads as boolean | undefined,
  };
}
