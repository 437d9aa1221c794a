/**
 * Importing backend packages registers their backends in core's registry. The CPU backend is a
 * hard dependency; the others are optional (each may be absent or unable to load here, e.g. a
 * native addon that did not install), so each is imported in its own try/catch. Extra modules
 * from the config (`backendModules`: a path or a package name) register user backends/routers.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import '@moe-runtime/backend-cpu';

/** Optional backend packages tried at start (absent ones are skipped). */
export const OPTIONAL_BACKEND_PACKAGES: readonly string[] = [
  '@moe-runtime/backend-onnx',
  '@moe-runtime/backend-tfjs',
  '@moe-runtime/backend-gpujs',
];

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
 * Imports the optional backend packages (failures recorded, not thrown) and the configured
 * extra modules (a failure there is thrown: the user asked for it by name).
 */
export async function loadBackendModules(extra: readonly string[], optional = OPTIONAL_BACKEND_PACKAGES): Promise<ModuleLoadReport> {
  const report: ModuleLoadReport = { loaded: ['@moe-runtime/backend-cpu'], skipped: [] };
  for (const name of optional) {
    try {
      await import(name);
      report.loaded.push(name);
    } catch (err) {
      report.skipped.push({ name, reason: err instanceof Error ? err.message.split('\n')[0] : String(err) });
    }
  }
  for (const entry of extra) {
    await import(moduleSpecifier(entry));
    report.loaded.push(entry);
  }
  return report;
}
