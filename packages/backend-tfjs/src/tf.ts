/**
 * The one place that imports `@tensorflow/tfjs-core`. Its Node entry is CommonJS; Node's ESM
 * loader exposes its named exports, and every tfjs package (wasm, cpu, tfjs-node) resolves to
 * the same process-wide engine (tfjs keeps it on the global object), so engines registered by
 * any of them are visible here.
 */
import * as tf from '@tensorflow/tfjs-core';

export { tf };
export type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
