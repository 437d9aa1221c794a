/**
 * The `tensorflow` engine: tfjs-node-gpu (CUDA) or tfjs-node (libtensorflow on the CPU). Both
 * are optional peer dependencies, so they are imported dynamically with a computed specifier:
 * their absence is normal, must not break install or import, and is reported only when the
 * engine is asked for.
 *
 * Before importing one, we check that it resolves and that its native addon
 * (`lib/napi-v<N>/tfjs_binding.node`, put there by its install script) exists: importing a copy
 * whose addon is missing fails only after it has registered hundreds of kernels and the `cpu`
 * engine as a side effect (a pnpm workspace installs a package's optional peers for
 * development, with their build scripts denied, so this case is common).
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BackendError, errorMessage } from '@moe-runtime/core';
import { TENSORFLOW_INSTALL_HINT } from './install-hints.js';
import { tf } from './tf.js';

/** The native packages, best first. */
export const NATIVE_PACKAGES = [
  { name: '@tensorflow/tfjs-node-gpu', description: 'tensorflow (CUDA, tfjs-node-gpu)' },
  { name: '@tensorflow/tfjs-node', description: 'tensorflow (libtensorflow CPU, tfjs-node)' },
] as const;

const require = createRequire(import.meta.url);

/** Why a native package cannot be imported, or undefined when it looks usable. */
export function nativePackageProblem(name: string): string | undefined {
  let dir: string;
  try {
    dir = dirname(require.resolve(`${name}/package.json`));
  } catch {
    return `${name} is not installed`;
  }
  const lib = join(dir, 'lib');
  const addon = existsSync(lib) && readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(join(lib, d, 'tfjs_binding.node')));
  return addon
    ? undefined
    : `${name} is installed but its native addon (lib/napi-v<N>/tfjs_binding.node) is missing: its install script, which downloads libtensorflow, was skipped or failed`;
}

function isNotInstalled(err: unknown, name: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && errorMessage(err).includes(name);
}

/** Imports a package by a computed name (TypeScript must not require its types). */
async function importOptional(name: string): Promise<unknown> {
  const specifier: string = name;
  return import(specifier);
}

/**
 * Loads the first native package that imports and activates its `tensorflow` engine. Throws a
 * BackendError with install instructions (and why each package failed) when none works.
 */
export async function startNativeEngine(): Promise<{ description: string }> {
  const reasons: string[] = [];
  for (const pkg of NATIVE_PACKAGES) {
    const problem = nativePackageProblem(pkg.name);
    if (problem) {
      reasons.push(problem);
      continue;
    }
    try {
      await importOptional(pkg.name);
    } catch (err) {
      reasons.push(isNotInstalled(err, pkg.name) ? `${pkg.name} is not installed` : `${pkg.name} is installed but failed to load (${errorMessage(err)})`);
      continue;
    }
    if (!tf.findBackendFactory('tensorflow')) {
      reasons.push(`${pkg.name} loaded but registered no 'tensorflow' engine with this @tensorflow/tfjs-core (expected version ${tf.version_core})`);
      continue;
    }
    if (!(await tf.setBackend('tensorflow'))) {
      reasons.push(`${pkg.name} loaded but its 'tensorflow' engine failed to start`);
      continue;
    }
    return { description: pkg.description };
  }
  throw new BackendError(`the 'tensorflow' engine is unavailable: ${reasons.join('; ')}. To use it, ${TENSORFLOW_INSTALL_HINT}`);
}
