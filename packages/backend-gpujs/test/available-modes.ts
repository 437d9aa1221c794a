/**
 * The modes the suite runs here: webasm and cpu always; webgpu where Dawn finds an adapter
 * (Mesa llvmpipe through its OpenGL ES backend on a plain Linux machine); headlessgl only where
 * the optional `gl` addon was built and an X display exists. Each skipped mode states why.
 */
import { probeMode, type GpuJsMode } from '../src/index.js';

export interface SuiteMode {
  readonly mode: GpuJsMode;
  readonly available: boolean;
  readonly reason: string;
}

async function probeAll(): Promise<SuiteMode[]> {
  const out: SuiteMode[] = [];
  for (const mode of ['webasm', 'cpu', 'webgpu', 'headlessgl'] as const) {
    if (mode === 'webgpu' && process.env.MOE_GPUJS_SKIP_WEBGPU) {
      out.push({ mode, available: false, reason: 'MOE_GPUJS_SKIP_WEBGPU is set' });
      continue;
    }
    const p = await probeMode(mode);
    out.push({ mode, available: p.available, reason: p.available ? p.engine : (p.reason ?? 'unavailable') });
  }
  return out;
}

let cached: Promise<SuiteMode[]> | undefined;

/** Probes once per test file and logs which modes run and why the others do not. */
export function suiteModes(): Promise<SuiteMode[]> {
  cached ??= probeAll().then((modes) => {
    for (const m of modes) console.log(`[backend-gpujs] mode ${m.mode}: ${m.available ? `runs (${m.reason})` : `skipped: ${m.reason}`}`);
    return modes;
  });
  return cached;
}
