/**
 * The options `registerBackend('tfjs', ...)` accepts, validated into typed ConfigErrors that
 * name `backend.options.<key>`.
 */
import { ConfigError, type BackendOptions } from '@moe-runtime/core';
import { TFJS_ENGINES, type TfjsEngine } from './engine-name.js';

/** The wasm heap of tfjs-backend-wasm is a 32-bit WebAssembly memory: 4 GiB at most. */
export const WASM_HEAP_LIMIT_BYTES = 4 * 1024 ** 3;

/** Options of the `tfjs` backend. */
export interface TfjsBackendOptions {
  /**
   * The tfjs engine to run on. Default: the best one available, in the order `tensorflow`
   * (tfjs-node-gpu, then tfjs-node), `wasm`, `cpu`. Naming an engine that cannot start is an
   * error (no silent fallback).
   */
  readonly engine?: TfjsEngine;
  /**
   * Bytes of the wasm heap this backend may plan to fill (weights counted twice, since XNNPACK
   * keeps a packed copy). Default and maximum: 4 GiB. Only the `wasm` engine is bounded.
   */
  readonly wasmHeapLimitBytes?: number;
}

const KEYS = ['engine', 'wasmHeapLimitBytes'] as const;

/** Validates raw registry options; throws a ConfigError naming the bad key. */
export function parseTfjsOptions(options: BackendOptions | TfjsBackendOptions = {}): TfjsBackendOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError('backend.options', `expected an object, got ${JSON.stringify(options)}`);
  }
  const raw = options as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`backend.options.${key}`, `unknown option of backend 'tfjs'; expected one of ${KEYS.join(', ')}`);
    }
  }
  const { engine, wasmHeapLimitBytes } = raw;
  if (engine !== undefined && !TFJS_ENGINES.includes(engine as TfjsEngine)) {
    throw new ConfigError('backend.options.engine', `expected one of ${TFJS_ENGINES.map((e) => `'${e}'`).join(', ')}, got ${JSON.stringify(engine)}`);
  }
  if (wasmHeapLimitBytes !== undefined) {
    const ok = typeof wasmHeapLimitBytes === 'number' && Number.isInteger(wasmHeapLimitBytes) && wasmHeapLimitBytes > 0 && wasmHeapLimitBytes <= WASM_HEAP_LIMIT_BYTES;
    if (!ok) {
      throw new ConfigError('backend.options.wasmHeapLimitBytes', `expected a positive integer of at most ${WASM_HEAP_LIMIT_BYTES} (4 GiB), got ${JSON.stringify(wasmHeapLimitBytes)}`);
    }
  }
  return { engine: engine as TfjsEngine | undefined, wasmHeapLimitBytes: wasmHeapLimitBytes as number | undefined };
}
