/** Options of the CPU backend and their validation. */
import { availableParallelism } from 'node:os';
import { ConfigError, type BackendOptions } from '@moe-runtime/core';

/** Which kernels run: WebAssembly relaxed SIMD, plain SIMD, plain TypeScript, or the best available. */
export type SimdMode = 'auto' | 'relaxed' | 'simd' | 'none';

/** Every SIMD mode, for validation messages. */
export const SIMD_MODES: readonly SimdMode[] = ['auto', 'relaxed', 'simd', 'none'];

/** Most threads the backend uses (beyond this the hand-off costs more than it saves on small layers). */
export const MAX_THREADS = 16;

/** Options of {@link createCpuBackend}. */
export interface CpuBackendOptions {
  /** Compute threads, the calling thread included. Default: `os.availableParallelism()`, capped at 16. */
  readonly threads?: number;
  /** Kernel set. Default `auto`: relaxed SIMD when the engine validates it, else SIMD, else TypeScript. */
  readonly simd?: SimdMode;
  /**
   * Activations of the WebAssembly dot products with block-format weights on few rows
   * (decode): `float32` (default, the tight path) or `q8` (8-bit codes with a scale per 32
   * values, per 256 for the k-quants, as llama.cpp does: faster, less exact; see the README
   * for the bound). The TypeScript engine
   * computes in float32 either way.
   */
  readonly activations?: ActivationMode;
}

/** What the activations of the dot products with 8-bit-capable formats are. */
export type ActivationMode = 'float32' | 'q8';

/** Every activation mode, for validation messages. */
export const ACTIVATION_MODES: readonly ActivationMode[] = ['float32', 'q8'];

/** Options after validation, with defaults filled in. */
export interface ResolvedCpuOptions {
  readonly threads: number;
  readonly simd: SimdMode;
  readonly activations: ActivationMode;
}

const KNOWN_KEYS = ['threads', 'simd', 'activations'];

/** Validates backend options, throwing a ConfigError naming `backend.options.<key>`. */
export function resolveCpuOptions(options: BackendOptions | CpuBackendOptions = {}): ResolvedCpuOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError('backend.options', `expected an object, got ${JSON.stringify(options)}`);
  }
  const record = options as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!KNOWN_KEYS.includes(key)) {
      throw new ConfigError(`backend.options.${key}`, `unknown option; the cpu backend accepts ${KNOWN_KEYS.join(', ')}`);
    }
  }
  const threads = record.threads ?? Math.min(availableParallelism(), MAX_THREADS);
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new ConfigError('backend.options.threads', `expected an integer from 1 to ${MAX_THREADS}, got ${JSON.stringify(record.threads)}`);
  }
  const simd = record.simd ?? 'auto';
  if (typeof simd !== 'string' || !SIMD_MODES.includes(simd as SimdMode)) {
    throw new ConfigError('backend.options.simd', `expected one of ${SIMD_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(record.simd)}`);
  }
  const activations = record.activations ?? 'float32';
  if (typeof activations !== 'string' || !ACTIVATION_MODES.includes(activations as ActivationMode)) {
    throw new ConfigError('backend.options.activations', `expected one of ${ACTIVATION_MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(record.activations)}`);
  }
  return { threads, simd: simd as SimdMode, activations: activations as ActivationMode };
}
