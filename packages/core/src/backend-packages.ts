/**
 * Which npm package registers which backend, and loading them by name. Importing a backend
 * package registers its backend in the registry; a caller that wants a backend by name imports
 * its package first. Loading tells a package that is not installed (absent: nothing to report,
 * the caller may skip it) from one that is installed but fails to load (a missing native
 * library, a broken build: a failure with its reason, never a silent skip).
 *
 * The import itself is the caller's (`importer`, e.g. `(s) => import(s)` written in the
 * caller's module): with pnpm's strict layout a package resolves only from a package that
 * depends on it, and core depends on no backend.
 */
import { errorMessage } from './errors.js';

/** Backend name -> the package that registers it. */
export const BACKEND_PACKAGES: Readonly<Record<string, string>> = {
  cpu: '@moe-runtime/backend-cpu',
  onnx: '@moe-runtime/backend-onnx',
  tfjs: '@moe-runtime/backend-tfjs',
  gpujs: '@moe-runtime/backend-gpujs',
};

/** Imports a module specifier from the caller's module (so it resolves from the caller's package). */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

/** The outcome of loading one backend package. */
export interface BackendPackageLoad {
  /** The backend name. */
  readonly backend: string;
  /** Its package (undefined for a name no package registers). */
  readonly pkg?: string;
  /**
   * `loaded`; `absent`: the package is not installed, or no package is known for the name;
   * `failed`: installed, but importing it threw (see `reason`).
   */
  readonly status: 'loaded' | 'absent' | 'failed';
  /** Why it is absent or failed. */
  readonly reason?: string;
}

/**
 * True when `err` says that `specifier` itself cannot be found (not a module it imports, nor
 * a file inside it): Node's ERR_MODULE_NOT_FOUND / MODULE_NOT_FOUND naming that very package.
 */
export function isPackageNotFound(err: unknown, specifier: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  const message = errorMessage(err);
  return message.includes(`Cannot find package '${specifier}'`) || message.includes(`Cannot find module '${specifier}'`);
}

/** Imports the package of backend `name` through `importer` and says what happened (never throws). */
export async function loadBackendPackage(name: string, importer: ModuleImporter): Promise<BackendPackageLoad> {
  const pkg = BACKEND_PACKAGES[name];
  if (!pkg) return { backend: name, status: 'absent', reason: `no package registers backend '${name}'` };
  try {
    await importer(pkg);
    return { backend: name, pkg, status: 'loaded' };
  } catch (err) {
    if (isPackageNotFound(err, pkg)) return { backend: name, pkg, status: 'absent', reason: `${pkg} is not installed` };
    return { backend: name, pkg, status: 'failed', reason: `${pkg} failed to load: ${errorMessage(err).split('\n')[0]}` };
  }
}

/** {@link loadBackendPackage} for each name (default: every known backend), in order, each once. */
export async function loadBackendPackages(importer: ModuleImporter, names: readonly string[] = Object.keys(BACKEND_PACKAGES)): Promise<BackendPackageLoad[]> {
  const out: BackendPackageLoad[] = [];
  for (const name of new Set(names)) out.push(await loadBackendPackage(name, importer));
  return out;
}
