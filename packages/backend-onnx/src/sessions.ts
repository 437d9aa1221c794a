/**
 * Creating onnxruntime-node sessions with the backend's options, and checking that the
 * execution providers asked for are actually installed before any session is made.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BackendError, errorMessage } from '@moe-runtime/core';
import * as ort from 'onnxruntime-node';
import type { ResolvedOnnxOptions } from './options.js';

/** The onnxruntime-node version this backend runs. */
export const ORT_VERSION: string = ort.env.versions.node ?? 'unknown';

/** How to get the CUDA provider, for error messages. */
export const CUDA_INSTALL_HINT =
  "onnxruntime-node ships only the CPU provider in its npm package; its install script downloads the CUDA 12 provider " +
  "when run with the flag --onnxruntime-node-install=cuda12 (or the environment variable ONNXRUNTIME_NODE_INSTALL=cuda12; " +
  "the older --onnxruntime-node-install-cuda / ONNXRUNTIME_NODE_INSTALL_CUDA still work). With pnpm 12 the script also " +
  "needs `allowBuilds: { onnxruntime-node: true }` in pnpm-workspace.yaml. CUDA 12 and cuDNN 9 must be installed (Linux x64 only).";

function cudaProviderLibrary(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(dirname(require.resolve('onnxruntime-node')));
  return join(pkgDir, 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so');
}

/** Whether onnxruntime-node can load the CUDA execution provider here. */
export function cudaProviderInstalled(): boolean {
  const lib = cudaProviderLibrary();
  const listed = ort.listSupportedBackends().some((b) => b.name === 'cuda');
  return listed && lib !== undefined && existsSync(lib);
}

/** Throws a BackendError with install instructions when a requested provider is missing. */
export function checkProviders(options: ResolvedOnnxOptions): void {
  if (options.executionProviders.includes('cuda') && !cudaProviderInstalled()) {
    throw new BackendError(`backend.options.executionProviders asks for 'cuda' but the CUDA execution provider is not installed: ${CUDA_INSTALL_HINT}`);
  }
}

/** onnxruntime session options for this backend's settings. */
export function sessionOptions(options: ResolvedOnnxOptions): ort.InferenceSession.SessionOptions {
  const providers: ort.InferenceSession.ExecutionProviderConfig[] = options.executionProviders.map((p) =>
    p === 'cuda' ? { name: 'cuda', deviceId: options.deviceId } : 'cpu',
  );
  if (!options.executionProviders.includes('cpu')) providers.push('cpu');
  return {
    executionProviders: providers,
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // One layer owns several sessions; pools that spin after a run steal cores from the next.
    extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
  };
}

/** Creates a session from model bytes, wrapping onnxruntime's error in a BackendError. */
export async function createSession(what: string, model: Uint8Array, options: ResolvedOnnxOptions): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, sessionOptions(options));
  } catch (err) {
    throw new BackendError(`onnxruntime could not create the session for ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Runs a session, wrapping onnxruntime's error in a BackendError. */
export async function runSession(what: string, session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  try {
    return (await session.run(feeds)) as Record<string, ort.Tensor>;
  } catch (err) {
    throw new BackendError(`onnxruntime failed running ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The float32 data of an output tensor. */
export function float32Output(what: string, t: ort.Tensor | undefined, expected: number): Float32Array {
  const data = t?.data;
  if (!(data instanceof Float32Array) || data.length !== expected) {
    throw new BackendError(`onnxruntime returned ${what} of ${data?.length ?? 0} values (${t?.type}), expected ${expected} float32`);
  }
  return data;
}
