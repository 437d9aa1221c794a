/**
 * Starting tfjs-backend-wasm in Node. Its Emscripten loader finds the `.wasm` binaries next to
 * its own script (`__dirname`), which works from the package alone; we still point it at the
 * package's `dist/` explicitly (resolved with createRequire), so a bundled or relocated copy of
 * this package cannot pick up a stray binary. Node gets the SIMD build with one thread
 * (tfjs reports no wasm thread support under Node).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { BackendError, errorMessage } from '@moe-runtime/core';
import { tf } from './tf.js';

interface WasmModule {
  setWasmPaths(prefix: string): void;
  getThreadsCount(): number;
}

const require = createRequire(import.meta.url);

/** The folder holding tfjs-backend-wasm's `.wasm` files, with a trailing slash. */
export function wasmBinaryFolder(): string {
  return `${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`;
}

type Listener = (...args: unknown[]) => void;

/** Listeners of a process event (Node's typings overload `listeners` per event name). */
function listenersOf(ev: string): Listener[] {
  return (process.listeners as (ev: string) => Listener[])(ev);
}

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'];

/**
 * Emscripten's Node glue installs process-wide `uncaughtException` / `unhandledRejection`
 * handlers that rethrow; they would change how the host application handles errors, so the
 * ones added while the module starts are removed again.
 */
async function withoutEmscriptenHandlers<T>(start: () => Promise<T>): Promise<T> {
  const before = new Map(PROCESS_EVENTS.map((ev) => [ev, new Set(listenersOf(ev))]));
  try {
    return await start();
  } finally {
    for (const ev of PROCESS_EVENTS) {
      for (const l of listenersOf(ev)) if (!before.get(ev)!.has(l)) process.removeListener(ev, l);
    }
  }
}

/** Loads and activates the wasm engine; returns its description and thread count. */
export async function startWasmEngine(): Promise<{ description: string; threads: number }> {
  let mod: WasmModule;
  try {
    mod = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmModule;
  } catch (err) {
    throw new BackendError(`could not load @tensorflow/tfjs-backend-wasm: ${errorMessage(err)}`, { cause: err });
  }
  // setWasmPaths only has an effect before the engine's first start.
  if (!tf.engine().registry['wasm']) mod.setWasmPaths(wasmBinaryFolder());
  const ok = await withoutEmscriptenHandlers(() => tf.setBackend('wasm'));
  if (!ok) throw new BackendError(`tfjs could not start its wasm engine (binaries looked up in ${wasmBinaryFolder()})`);
  await tf.ready();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const threads = mod.getThreadsCount();
  return { description: `wasm (XNNPACK${simd ? ', SIMD' : ', no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'})`, threads };
}
