/**
 * Loads the backend packages that are installed, so a model can run on any of them by name.
 * Each backend package registers itself with core when imported; a missing one is skipped.
 */
const BACKEND_PACKAGES = ['@moe-runtime/backend-cpu', '@moe-runtime/backend-onnx', '@moe-runtime/backend-tfjs', '@moe-runtime/backend-gpujs'];

/** Imports every installed backend package; returns the ones that failed, with the reason. */
export async function importBackends(): Promise<{ name: string; reason: string }[]> {
  const failed: { name: string; reason: string }[] = [];
  for (const name of BACKEND_PACKAGES) {
    try {
      await import(name);
    } catch (err) {
      failed.push({ name, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  return failed;
}
