/**
 * Weights laid out once for the kernels: transposed to `[in, out]`, split into column chunks
 * so no chunk exceeds the mode's binding limit (webgpu storage bindings: 128 MiB on Dawn's
 * OpenGL ES backend), and in webgpu mode uploaded once into device buffers.
 */
import { ShapeError } from '@moe-runtime/core';
import type { KernelArgument } from './gpujs-types.js';

/** One column chunk of a packed matrix. */
export interface WeightChunk {
  /** First output column of the chunk. */
  readonly start: number;
  /** Output columns in the chunk. */
  readonly width: number;
  /** `[in, width]` (gated: `[in, 2 * width]`, gate columns then up columns). */
  readonly weight: KernelArgument;
  /** `[width]` (gated: `[2 * width]`); zeros when the layer has no bias. */
  readonly bias: KernelArgument;
}

/** A host-packed chunk before upload. */
export interface HostChunk {
  readonly start: number;
  readonly width: number;
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** Output columns per chunk so that `in * width * columnsPerOut` floats fit `maxBytes`. */
export function chunkWidth(inFeatures: number, outFeatures: number, perColumn: number, maxBytes: number, what: string): number {
  const bytesPerColumn = inFeatures * perColumn * 4;
  const width = Math.floor(maxBytes / bytesPerColumn);
  if (width < 1) throw new ShapeError(`${what}: one output column needs ${bytesPerColumn} bytes, more than the binding limit of ${maxBytes} bytes`);
  return Math.min(width, outFeatures);
}

/** Packs W `[out, in]` (+ b `[out]`) into transposed column chunks. */
export function packLinear(weight: Float32Array, bias: Float32Array | undefined, outFeatures: number, inFeatures: number, maxBytes: number, what: string): HostChunk[] {
  const step = chunkWidth(inFeatures, outFeatures, 1, maxBytes, what);
  const chunks: HostChunk[] = [];
  for (let start = 0; start < outFeatures; start += step) {
    const width = Math.min(step, outFeatures - start);
    const w = new Float32Array(inFeatures * width);
    for (let j = 0; j < width; j++) {
      const src = (start + j) * inFeatures;
      for (let d = 0; d < inFeatures; d++) w[d * width + j] = weight[src + d];
    }
    const b = new Float32Array(width);
    if (bias) b.set(bias.subarray(start, start + width));
    chunks.push({ start, width, weight: w, bias: b });
  }
  return chunks;
}

/** Packs gate and up `[out, in]` (+ biases) into chunks of `[in, 2 * width]`: gate columns, then up columns. */
export function packGated(
  gate: Float32Array,
  up: Float32Array,
  gateBias: Float32Array | undefined,
  upBias: Float32Array | undefined,
  outFeatures: number,
  inFeatures: number,
  maxBytes: number,
  what: string,
): HostChunk[] {
  const step = chunkWidth(inFeatures, outFeatures, 2, maxBytes, what);
  const chunks: HostChunk[] = [];
  for (let start = 0; start < outFeatures; start += step) {
    const width = Math.min(step, outFeatures - start);
    const w = new Float32Array(inFeatures * width * 2);
    for (let j = 0; j < width; j++) {
      const src = (start + j) * inFeatures;
      for (let d = 0; d < inFeatures; d++) {
        w[d * 2 * width + j] = gate[src + d];
        w[d * 2 * width + width + j] = up[src + d];
      }
    }
    const b = new Float32Array(width * 2);
    if (gateBias) b.set(gateBias.subarray(start, start + width));
    if (upBias) b.set(upBias.subarray(start, start + width), width);
    chunks.push({ start, width, weight: w, bias: b });
  }
  return chunks;
}
