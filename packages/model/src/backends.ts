/**
 * Loads the backend packages that are installed (core's BACKEND_PACKAGES), so a model can run
 * on any of them by name. Each registers itself with core when imported; one that is not
 * installed is skipped, one that is installed but fails to load is reported.
 */
import { loadBackendPackages, type BackendPackageLoad } from '@moe-runtime/core';

/** Imports every installed backend package; returns the ones present but failing to load, with the reason. */
export async function importBackends(): Promise<BackendPackageLoad[]> {
  const loads = await loadBackendPackages((specifier) => import(specifier));
  return loads.filter((l) => l.status === 'failed');
}
