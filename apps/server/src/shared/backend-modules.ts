/**
 * Importing backend packages (core's BACKEND_PACKAGES) registers their backends in core's registry. The CPU backend is
 * always imported; the others (onnx, tfjs, gpujs) are imported only when the backend list names
 * them, each in its own try/catch (a native addon may be missing here), so an unused backend
 * costs no start-up time. Extra modules from the config (`backendModules`: a path or a package
 * name) register user backends or routers; a failure there is an error (the user asked for it).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import '@moe-runtime/backend-cpu';
import { BACKEND_PACKAGES, loadBackendPackage } from '@moe-runtime/core';

/** What happened to each module import. */
export interface ModuleLoadReport {
  readonly loaded: string[];
  readonly skipped: { name: string; reason: string }[];
}

/** An import specifier for a config entry: paths become file URLs, package names stay. */
export function moduleSpecifier(entry: string, cwd = process.cwd()): string {
  if (entry.startsWith('file:')) return entry;
  if (entry.startsWith('.') || isAbsolute(entry)) return pathToFileURL(isAbsolute(entry) ? entry : resolve(cwd, entry)).href;
  return entry;
}

/**
 * Imports the packages of the optional backends in `names` (failures recorded, not thrown: the
 * fallback list goes on to the next backend) and then the extra modules (failures thrown).
 */
export async function loadBackendModules(names: readonly string[], extra: readonly string[]): Promise<ModuleLoadReport> {
  const report: ModuleLoadReport = { loaded: ['@moe-runtime/backend-cpu'], skipped: [] };
  for (const name of new Set(names)) {
    if (name === 'cpu' || !BACKEND_PACKAGES[name]) continue;
    // Absent ("is not installed") and broken ("failed to load: ...") both go on to the next backend, with the reason.
    const load = await loadBackendPackage(name, (specifier) => import(specifier));
    if (load.status === 'loaded') report.loaded.push(load.pkg!);
    else report.skipped.push({ name: load.pkg!, reason: load.reason! });
  }
  for (const entry of extra) {
    await import(moduleSpecifier(entry));
    report.loaded.push(entry);
  }
  return report;
}
