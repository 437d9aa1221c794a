/**
 * Which gpu.js modes can run here, and why not. gpu.js itself silently falls back (a missing
 * `gl` addon gives `webasm`, an unsupported kernel gives `cpu`), so every mode is checked
 * before it is used and the backend checks the mode of every kernel after it runs.
 */
import { loadGpuJs, loadHeadlessGl } from './gpujs-loader.js';
import type { GpuJsMode } from './gpujs-types.js';
import { setupWebGpu } from './webgpu-setup.js';

/** The verdict on one mode. */
export interface ModeProbe {
  readonly mode: GpuJsMode;
  readonly available: boolean;
  /** Why the mode cannot run (when not available). */
  readonly reason?: string;
  /** What runs, e.g. `gpu.js webgpu (Dawn opengles, llvmpipe ...)`. */
  readonly engine: string;
  /** Bytes one kernel argument may hold (storage binding cap), when the mode has one. */
  readonly maxBindingBytes: number;
  /** webgpu on a CPU rasteriser: available, but `auto` prefers webasm over it. */
  readonly software?: boolean;
}

/** Per-argument cap for webasm: every argument lives in one 32-bit WebAssembly memory. */
const WEBASM_BINDING_BYTES = 256 * 1024 * 1024;
/** The cpu mode has no binding limit; chunks still bound the size of a single array. */
const CPU_BINDING_BYTES = 1024 * 1024 * 1024;
/** WebGL textures: 4096 x 4096 texels (one float each) is the portable ceiling. */
const GL_BINDING_BYTES = 4096 * 4096 * 4;

function modeOfNewGpu(mode: GpuJsMode): string | undefined {
  try {
    const { GPU } = loadGpuJs();
    const gpu = new GPU({ mode });
    const actual = gpu.mode;
    void gpu.destroy();
    return actual;
  } catch {
    return undefined;
  }
}

async function probeWebGpu(dawnBackend?: string): Promise<ModeProbe> {
  const setup = await setupWebGpu(dawnBackend);
  if (!setup.available) return { mode: 'webgpu', available: false, reason: setup.reason, engine: 'gpu.js webgpu', maxBindingBytes: 0 };
  const actual = modeOfNewGpu('webgpu');
  if (actual !== 'webgpu') {
    return { mode: 'webgpu', available: false, reason: `gpu.js chose '${actual ?? 'nothing'}' when asked for webgpu`, engine: 'gpu.js webgpu', maxBindingBytes: 0 };
  }
  return {
    mode: 'webgpu',
    available: true,
    engine: `gpu.js webgpu (Dawn ${setup.dawnBackend}, ${setup.adapterName})`,
    maxBindingBytes: setup.maxStorageBindingBytes ?? 128 * 1024 * 1024,
    software: setup.software,
  };
}

function probeHeadlessGl(): ModeProbe {
  const base = { mode: 'headlessgl' as const, engine: 'gpu.js headlessgl', maxBindingBytes: GL_BINDING_BYTES };
  const gl = loadHeadlessGl();
  if (!gl.create) {
    return { ...base, available: false, reason: `${gl.reason}; building it needs Debian's libxi-dev and allowBuilds gl: true` };
  }
  if (!process.env.DISPLAY) return { ...base, available: false, reason: 'no X display (DISPLAY is unset); run under xvfb-run -a' };
  let context: unknown;
  try {
    context = gl.create(1, 1);
  } catch {
    context = null;
  }
  if (!context) return { ...base, available: false, reason: `the gl addon could not create a context on display ${process.env.DISPLAY}` };
  const actual = modeOfNewGpu('headlessgl');
  if (actual !== 'headlessgl') return { ...base, available: false, reason: `gpu.js chose '${actual ?? 'nothing'}' when asked for headlessgl` };
  return { ...base, available: true, engine: `gpu.js headlessgl (display ${process.env.DISPLAY})` };
}

function probeSimple(mode: 'webasm' | 'cpu'): ModeProbe {
  const maxBindingBytes = mode === 'webasm' ? WEBASM_BINDING_BYTES : CPU_BINDING_BYTES;
  if (mode === 'webasm' && (globalThis as { WebAssembly?: unknown }).WebAssembly === undefined) {
    return { mode, available: false, reason: 'WebAssembly is not available in this runtime', engine: 'gpu.js webasm', maxBindingBytes };
  }
  const actual = modeOfNewGpu(mode);
  if (actual !== mode) return { mode, available: false, reason: `gpu.js chose '${actual ?? 'nothing'}' when asked for ${mode}`, engine: `gpu.js ${mode}`, maxBindingBytes };
  return { mode, available: true, engine: mode === 'webasm' ? 'gpu.js webasm (WebAssembly f32x4 SIMD)' : 'gpu.js cpu (JavaScript)', maxBindingBytes };
}

/** Probes one mode; never throws. */
export async function probeMode(mode: GpuJsMode, dawnBackend?: string): Promise<ModeProbe> {
  switch (mode) {
    case 'webgpu':
      return probeWebGpu(dawnBackend);
    case 'headlessgl':
      return probeHeadlessGl();
    case 'webasm':
    case 'cpu':
      return probeSimple(mode);
  }
}

/**
 * The mode `auto` picks: a hardware webgpu adapter, then headlessgl, then webasm; webgpu on a
 * CPU rasteriser (llvmpipe) only after webasm, since it computes on the same cores with more
 * overhead (measured here: about 0.9 vs 2.4 GFLOP/s); cpu last.
 */
export async function chooseMode(dawnBackend?: string): Promise<{ chosen: ModeProbe; tried: ModeProbe[] }> {
  const webgpu = await probeWebGpu(dawnBackend);
  const tried: ModeProbe[] = [webgpu];
  if (webgpu.available && !webgpu.software) return { chosen: webgpu, tried };
  const order: (() => ModeProbe)[] = [probeHeadlessGl, () => probeSimple('webasm')];
  for (const next of order) {
    const p = next();
    tried.push(p);
    if (p.available) return { chosen: p, tried };
  }
  if (webgpu.available) return { chosen: webgpu, tried };
  const cpu = probeSimple('cpu');
  tried.push(cpu);
  return { chosen: cpu, tried };
}
