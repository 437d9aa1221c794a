/**
 * A typed wrapper around one gpu.js kernel: fixed constants, a per-call output size, and a
 * check after every call that the kernel ran in the mode it was built for (gpu.js replaces a
 * kernel it cannot build by a cpu one and only warns).
 */
import { BackendError } from '@moe-runtime/core';
import { kernelModeOf } from './gpujs-loader.js';
import type { ArgumentType, DeviceHandle, GpuInstance, GpuJsMode, KernelArgument, KernelFunction, KernelThis } from './gpujs-types.js';

/** How to build a kernel. */
export interface KernelSpec {
  readonly name: string;
  readonly source: (this: KernelThis, ...args: never[]) => unknown;
  /** Argument names in order, with how each is passed (flat arrays, or GL textures). */
  readonly args: readonly (readonly [name: string, type: ArgumentType])[];
  readonly constants: Readonly<Record<string, number>>;
  /** The longest loop in the kernel: `loopMaxIterations` is set to it explicitly. */
  readonly longestLoop: number;
  /** Result stays on the device (webgpu only). */
  readonly pipeline: boolean;
  /** Values per output cell (4 for the row-quad kernels, 1 for copies). */
  readonly components: 1 | 4;
}

function isHandle(value: unknown): value is DeviceHandle {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || Array.isArray(value)) return false;
  const v = value as { type?: unknown; delete?: unknown };
  return typeof v.type === 'string' && typeof v.delete === 'function';
}

/** Copies gpu.js's result (a flat array, or rows/cells of typed arrays) into a new flat array. */
export function flattenResult(value: unknown, length: number, what: string): Float32Array {
  const out = new Float32Array(length);
  let n = 0;
  const walk = (v: unknown): void => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const a = v as unknown as ArrayLike<number>;
      if (n + a.length > length) throw new BackendError(`${what}: gpu.js returned more than the ${length} values expected`);
      out.set(a, n);
      n += a.length;
    } else if (Array.isArray(v)) {
      for (const item of v) walk(item);
    } else if (typeof v === 'number') {
      if (n >= length) throw new BackendError(`${what}: gpu.js returned more than the ${length} values expected`);
      out[n++] = v;
    } else {
      throw new BackendError(`${what}: gpu.js returned an unexpected ${v === null ? 'null' : typeof v}`);
    }
  };
  walk(value);
  if (n !== length) throw new BackendError(`${what}: gpu.js returned ${n} values, expected ${length}`);
  return out;
}

/** One compiled (lazily, on first call) gpu.js kernel. */
export class TypedKernel {
  private readonly fn: KernelFunction;

  constructor(
    gpu: GpuInstance,
    readonly spec: KernelSpec,
    readonly mode: GpuJsMode,
    asyncMode: boolean,
  ) {
    const argumentTypes: Record<string, ArgumentType> = {};
    for (const [name, type] of spec.args) argumentTypes[name] = type;
    this.fn = gpu.createKernel(spec.source, {
      output: spec.components === 4 ? [1, 1] : [1],
      constants: spec.constants,
      // Loops are bounded by constants; this makes sure gpu.js never truncates them either.
      loopMaxIterations: Math.max(1000, spec.longestLoop + 1),
      // A result must never be overwritten by the next call.
      immutable: true,
      pipeline: spec.pipeline,
      dynamicOutput: true,
      dynamicArguments: true,
      precision: 'single',
      asyncMode,
      argumentTypes,
      tactic: 'precision',
    });
  }

  private async call(output: readonly number[], args: readonly KernelArgument[]): Promise<unknown> {
    this.fn.setOutput(output);
    let result: unknown;
    try {
      result = await this.fn(...args);
    } catch (err) {
      throw new BackendError(`gpu.js kernel '${this.spec.name}' (${this.mode}) failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const ran = kernelModeOf(this.fn.kernel);
    if (ran !== this.mode) {
      const why = this.fn.kernel?.fallbackReason;
      throw new BackendError(`gpu.js ran kernel '${this.spec.name}' in mode '${ran}' instead of '${this.mode}'${why ? ` (${why})` : ''}; refusing a silent fallback`);
    }
    return result;
  }

  /** Runs over `output` cells and returns the values as a new flat array. */
  async run(output: readonly number[], args: readonly KernelArgument[]): Promise<Float32Array> {
    const cells = output.reduce((a, b) => a * b, 1) * this.spec.components;
    let result = await this.call(output, args);
    if (isHandle(result)) {
      const handle = result;
      try {
        result = await handle.toArray();
      } finally {
        handle.delete();
      }
    }
    return flattenResult(result, cells, `kernel '${this.spec.name}'`);
  }

  /** Runs and keeps the result on the device (pipeline kernels in webgpu and GL modes). */
  async runResident(output: readonly number[], args: readonly KernelArgument[]): Promise<DeviceHandle> {
    const result = await this.call(output, args);
    if (!isHandle(result)) throw new BackendError(`kernel '${this.spec.name}' was expected to return a device buffer in ${this.mode} mode`);
    return result;
  }

  destroy(): void {
    this.fn.destroy();
  }
}
