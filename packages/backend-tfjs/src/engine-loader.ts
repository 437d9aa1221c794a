/**
 * Choosing and starting a tfjs engine: the one the user named, or the best available in the
 * order tensorflow (tfjs-node-gpu, tfjs-node), wasm, cpu.
 */
import { BackendError, errorMessage } from '@moe-runtime/core';
import { TFJS_ENGINES, type TfjsEngine } from './engine-name.js';
import { startNativeEngine } from './native-engine.js';
import { startWasmEngine } from './wasm-engine.js';
import { tf } from './tf.js';

/** A started engine. */
export interface StartedEngine {
  readonly engine: TfjsEngine;
  /** What runs, e.g. `wasm (XNNPACK, SIMD, 1 thread)`. */
  readonly description: string;
  readonly threads?: number;
}

async function startCpuEngine(): Promise<StartedEngine> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) throw new BackendError("tfjs could not start its 'cpu' engine");
  return { engine: 'cpu', description: 'cpu (plain JavaScript)', threads: 1 };
}

/** Starts one engine by name; throws a BackendError that says why it cannot run. */
export async function startEngine(engine: TfjsEngine): Promise<StartedEngine> {
  switch (engine) {
    case 'tensorflow':
      return { engine, ...(await startNativeEngine()) };
    case 'wasm':
      return { engine, ...(await startWasmEngine()) };
    case 'cpu':
      return startCpuEngine();
  }
}

/** Starts the named engine, or the first of tensorflow, wasm, cpu that starts. */
export async function startBestEngine(requested?: TfjsEngine): Promise<StartedEngine> {
  if (requested) return startEngine(requested);
  const reasons: string[] = [];
  for (const engine of TFJS_ENGINES) {
    try {
      return await startEngine(engine);
    } catch (err) {
      reasons.push(`${engine}: ${errorMessage(err)}`);
    }
  }
  throw new BackendError(`no tfjs engine could start; ${reasons.join('; ')}`);
}
