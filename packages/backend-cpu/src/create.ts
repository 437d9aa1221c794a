/** Creating a CPU backend: validate options, pick the engine. */
import { BackendError, type BackendOptions } from '@moe-runtime/core';
import { CpuBackend } from './cpu-backend.js';
import type { Engine } from './engine.js';
import { JsEngine } from './js/js-engine.js';
import { resolveCpuOptions, type ActivationMode, type CpuBackendOptions } from './options.js';
import { WasmEngine } from './wasm/wasm-engine.js';

async function pickEngine(simd: CpuBackendOptions['simd'], threads: number, activations: ActivationMode): Promise<Engine> {
  switch (simd) {
    case 'none':
      return new JsEngine();
    case 'relaxed':
    case 'simd': {
      const engine = await WasmEngine.create(simd, threads, { activations });
      if (!engine) throw new BackendError(`backend.options.simd is '${simd}' but this JavaScript engine cannot run ${simd === 'relaxed' ? 'relaxed ' : ''}WebAssembly SIMD; use 'auto'`);
      return engine;
    }
    default:
      return (await WasmEngine.create('relaxed', threads, { activations })) ?? (await WasmEngine.create('simd', threads, { activations })) ?? new JsEngine();
  }
}

/**
 * Creates a CPU backend. `simd: 'auto'` (the default) takes relaxed SIMD when V8 validates it,
 * else SIMD, else the plain TypeScript engine; naming a WebAssembly build that cannot run here
 * fails with a BackendError. Throws a ConfigError naming `backend.options.<key>` for a bad option.
 */
export async function createCpuBackend(options: CpuBackendOptions | BackendOptions = {}): Promise<CpuBackend> {
  const { simd, threads, activations } = resolveCpuOptions(options);
  return new CpuBackend(await pickEngine(simd, threads, activations));
}
