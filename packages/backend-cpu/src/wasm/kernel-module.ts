/**
 * Loading the AssemblyScript kernels (`build/kernels-relaxed.wasm`, `build/kernels-simd.wasm`)
 * and detecting what this engine can run. Both files sit next to `src/` and `dist/`, so the
 * same relative URL works from the sources (tests) and from the built package.
 */
import { readFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import { BackendError } from '@moe-runtime/core';

/** The two kernel builds. */
export type KernelFlavor = 'relaxed' | 'simd';

/** File name of a kernel build, also what `engine` reports. */
export const FLAVOR_ENGINE: Readonly<Record<KernelFlavor, string>> = { relaxed: 'wasm-relaxed-simd', simd: 'wasm-simd' };

function kernelUrl(flavor: KernelFlavor): URL {
  return new URL(`../../build/kernels-${flavor}.wasm`, import.meta.url);
}

/** The exports of a kernel instance that the engine calls. */
export interface KernelExports {
  /** Chunks a batch of `count` descriptors is cut into for `nthreads` threads. */
  batchChunks(desc: number, count: number, nthreads: number): number;
  /**
   * Takes and runs chunks [base, end) from the counter at `counter` until none is left; `work`
   * is this thread's work buffer (row-format weights decode into it).
   */
  runBatch(desc: number, count: number, counter: number, base: number, end: number, nthreads: number, kc: number, work: number): void;
  /** Bytes of work buffer one thread needs for weight rows of `k` values. */
  workBytes(k: number): number;
  /** Bytes of work buffer one thread needs for attention over heads of these sizes (`group` query heads per KV head). */
  attendWorkBytes(keyDim: number, valueDim: number, group: number): number;
  /**
   * Whether this instance's 8-bit-activation kernels use relaxed SIMD's i8 x i7 dot (1): the
   * relaxed build checks once that the engine computes it as specified; 0 in the SIMD build
   * or where that check fails (then exact i16 products do the same sums).
   */
  relaxedDotInUse(): number;
}

async function readKernel(flavor: KernelFlavor): Promise<Uint8Array<ArrayBuffer>> {
  const url = kernelUrl(flavor);
  try {
    return new Uint8Array(await readFile(url));
  } catch (err) {
    throw new BackendError(`cannot read the cpu kernels at ${url.pathname}; build the package first (pnpm --filter @moe-runtime/backend-cpu build)`, { cause: err });
  }
}

/**
 * Whether V8 accepts the bytes. Relaxed SIMD is behind a flag in Node 20 (V8 11.3): when the
 * module does not validate, the flag is turned on once and validation retried.
 */
function validates(flavor: KernelFlavor, bytes: Uint8Array<ArrayBuffer>): boolean {
  if (WebAssembly.validate(bytes)) return true;
  if (flavor !== 'relaxed') return false;
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes);
}

/** A compiled kernel module, or undefined when this engine cannot run that build. */
export async function compileKernels(flavor: KernelFlavor): Promise<WebAssembly.Module | undefined> {
  const bytes = await readKernel(flavor);
  if (!validates(flavor, bytes)) return undefined;
  return WebAssembly.compile(bytes);
}

/** Instantiates the kernels on a shared memory. */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: () => {
        throw new BackendError('the cpu kernels aborted');
      },
    },
  });
  return instance.exports as unknown as KernelExports;
}
