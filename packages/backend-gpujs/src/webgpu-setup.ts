/**
 * Makes gpu.js's `webgpu` mode work in Node 20 through the `webgpu` npm package (Dawn).
 *
 * gpu.js looks for `navigator.gpu` and calls `navigator.gpu.requestAdapter()` with no options.
 * Node 20 has no `navigator`, and on a machine without a Vulkan driver Dawn only offers its
 * OpenGL ES backend (Mesa llvmpipe here), which needs `featureLevel: 'compatibility'` and
 * `EGL_PLATFORM=surfaceless`. So this module creates a Dawn instance, finds an adapter (Dawn's
 * default backend first, then OpenGL ES), and installs a `navigator` whose `gpu.requestAdapter`
 * returns that adapter.
 */
import { errorMessage } from '@moe-runtime/core';

/** What the webgpu probe found. */
export interface WebGpuSetup {
  readonly available: boolean;
  /** Why webgpu cannot run (when not available). */
  readonly reason?: string;
  /** Dawn backend that produced the adapter, e.g. `opengles`, or `default`. */
  readonly dawnBackend?: string;
  /** Adapter description, e.g. `llvmpipe (OpenGL ES 3.2 Mesa 22.3.6)`. */
  readonly adapterName?: string;
  /** True when the adapter is a CPU rasteriser (llvmpipe, lavapipe, SwiftShader). */
  readonly software?: boolean;
  /** The adapter's storage binding limit in bytes. */
  readonly maxStorageBindingBytes?: number;
}

interface AdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
}

interface AdapterLike {
  readonly info?: AdapterInfoLike;
  readonly limits: { readonly maxStorageBufferBindingSize: number };
}

interface DawnGpu {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
}

interface WebGpuModule {
  create(flags: string[]): DawnGpu;
  readonly globals: Record<string, unknown>;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe/i;

const probes = new Map<string, Promise<WebGpuSetup>>();
let installedFor: string | undefined;

function describe(adapter: AdapterLike): string {
  const i = adapter.info ?? {};
  const name = [i.vendor, i.architecture, i.device?.replace(/-+$/, '')].filter((s) => s && s.length > 0).join(' ') || 'unknown adapter';
  return i.description ? `${name} (${i.description})` : name;
}

async function loadModule(): Promise<WebGpuModule | string> {
  try {
    const mod: unknown = await import('webgpu');
    const m = mod as Partial<WebGpuModule>;
    if (typeof m.create !== 'function' || typeof m.globals !== 'object') return 'the webgpu package exports no create()';
    return m as WebGpuModule;
  } catch (err) {
    return `the webgpu package (Dawn) could not be loaded: ${errorMessage(err).split('\n')[0]}`;
  }
}

async function tryBackend(mod: WebGpuModule, backend: string): Promise<{ gpu: DawnGpu; adapter: AdapterLike; options: Record<string, unknown> } | undefined> {
  const flags = backend === 'default' ? [] : [`backend=${backend}`];
  // Dawn's OpenGL ES backend is only offered to compatibility-mode requests.
  const options: Record<string, unknown> = backend === 'opengles' ? { featureLevel: 'compatibility' } : {};
  try {
    const gpu = mod.create(flags);
    const adapter = await gpu.requestAdapter(options);
    return adapter ? { gpu, adapter, options } : undefined;
  } catch {
    return undefined;
  }
}

function install(mod: WebGpuModule, gpu: DawnGpu, adapter: AdapterLike, key: string): void {
  // Dawn's GPU* classes (GPUBufferUsage, GPUMapMode, ...) as globals, without replacing any.
  for (const [name, value] of Object.entries(mod.globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  const shim = {
    requestAdapter: async () => adapter,
    getPreferredCanvasFormat: () => 'rgba8unorm',
  };
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  if (nav === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: shim }, configurable: true, writable: true });
  } else {
    Object.defineProperty(nav, 'gpu', { value: shim, configurable: true, writable: true });
  }
  // Keep a reference so the Dawn instance outlives this call.
  (shim as { instance?: DawnGpu }).instance = gpu;
  installedFor = key;
}

async function probe(dawnBackend: string | undefined): Promise<WebGpuSetup> {
  if (installedFor !== undefined && installedFor !== (dawnBackend ?? 'auto')) {
    return { available: false, reason: `webgpu is already set up on Dawn backend '${installedFor}' in this process; one Dawn backend per process` };
  }
  // Mesa's EGL needs a platform without a display; read when Dawn opens EGL, so set it first.
  process.env.EGL_PLATFORM ??= 'surfaceless';
  const mod = await loadModule();
  if (typeof mod === 'string') return { available: false, reason: mod };
  const candidates = dawnBackend ? [dawnBackend] : ['default', 'opengles'];
  for (const backend of candidates) {
    const found = await tryBackend(mod, backend);
    if (!found) continue;
    install(mod, found.gpu, found.adapter, dawnBackend ?? 'auto');
    const adapterName = describe(found.adapter);
    return {
      available: true,
      dawnBackend: backend,
      adapterName,
      software: SOFTWARE.test(adapterName),
      maxStorageBindingBytes: found.adapter.limits.maxStorageBufferBindingSize,
    };
  }
  return {
    available: false,
    reason: `Dawn found no adapter on backend(s) ${candidates.join(', ')} (no GPU driver; for Mesa's OpenGL ES route EGL_PLATFORM=${process.env.EGL_PLATFORM})`,
  };
}

/** Sets up webgpu once per Dawn backend choice (cached); never throws. */
export function setupWebGpu(dawnBackend?: string): Promise<WebGpuSetup> {
  const key = dawnBackend ?? 'auto';
  let p = probes.get(key);
  if (!p) {
    p = probe(dawnBackend).catch((err: unknown) => ({ available: false, reason: errorMessage(err) }));
    probes.set(key, p);
  }
  return p;
}
