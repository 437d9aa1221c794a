/**
 * A small typed facade over the parts of gpu.js 2.24 this backend uses. gpu.js ships stale
 * typings (no `webgpu`/`webasm` modes, no async kernels, `any` in many signatures), so the
 * package never imports them: the module is loaded as `unknown` and narrowed to these types.
 */

/** The gpu.js modes this backend can run. */
export type GpuJsMode = 'webgpu' | 'headlessgl' | 'webasm' | 'cpu';

/** Every mode, most capable first (the order `auto` considers them in). */
export const GPUJS_MODES: readonly GpuJsMode[] = ['webgpu', 'headlessgl', 'webasm', 'cpu'];

/** `this` inside a kernel function. */
export interface KernelThis {
  readonly thread: { readonly x: number; readonly y: number; readonly z: number };
  readonly constants: Readonly<Record<string, number>>;
}

/** A kernel argument: a flat float array, or a device-resident result of another kernel. */
export type KernelArgument = Float32Array | DeviceHandle;

/**
 * A pipeline kernel's result that stays on the device: a storage buffer (webgpu, type
 * `WebGPUBuffer`) or a texture (GL modes, type `NumberTexture`).
 */
export interface DeviceHandle {
  readonly type: string;
  toArray(): unknown;
  delete(): void;
}

/** How a kernel argument is declared to gpu.js. */
export type ArgumentType = 'Array' | 'NumberTexture';

/** The kernel settings this backend passes to `createKernel`. */
export interface KernelSettings {
  readonly output: readonly number[];
  readonly constants: Readonly<Record<string, number>>;
  readonly loopMaxIterations: number;
  readonly immutable: true;
  readonly pipeline: boolean;
  readonly dynamicOutput: true;
  readonly dynamicArguments: true;
  readonly precision: 'single';
  readonly asyncMode: boolean;
  readonly argumentTypes: Readonly<Record<string, ArgumentType>>;
  readonly returnType?: 'Array(4)' | 'Number';
  readonly tactic?: 'precision';
}

/** The Kernel object behind a kernel function (it may be replaced when gpu.js falls back). */
export interface KernelInstance {
  readonly constructor: { readonly mode?: string };
  readonly fallbackReason?: string | null;
}

/** What `gpu.createKernel` returns: a callable with its Kernel instance attached. */
export interface KernelFunction {
  (...args: KernelArgument[]): unknown;
  readonly kernel?: KernelInstance;
  setOutput(output: readonly number[]): unknown;
  destroy(removeCanvasReferences?: boolean): void;
}

/** A function a kernel may call, with its types declared for the translators. */
export interface AddFunctionSettings {
  readonly argumentTypes: Readonly<Record<string, 'Number'>>;
  readonly returnType: 'Number';
}

/** A `GPU` instance. */
export interface GpuInstance {
  /** The mode gpu.js actually chose (it may differ from the one asked for). */
  readonly mode: string;
  createKernel(source: (this: KernelThis, ...args: never[]) => unknown, settings: KernelSettings): KernelFunction;
  addFunction(source: (...args: number[]) => number, settings: AddFunctionSettings): unknown;
  destroy(): Promise<void>;
}

/** The `gpu.js` module. */
export interface GpuJsModule {
  readonly GPU: {
    new (settings: { mode: GpuJsMode }): GpuInstance;
    readonly isWebAssemblySupported?: boolean;
  };
  /** The headless-gl kernel class: GL kernels all report `mode` 'gpu', so it is told by class. */
  readonly HeadlessGLKernel?: abstract new (...args: never[]) => object;
}
