/**
 * @moe-runtime/backend-onnx: the `onnx` backend on onnxruntime-node. Importing this module
 * registers it (priority 20); {@link OnnxBackend.create} builds one explicitly.
 *
 * @packageDocumentation
 */
import { registerBackend } from '@moe-runtime/core';
import { OnnxBackend } from './onnx-backend.js';
import { ORT_VERSION } from './sessions.js';

export { OnnxBackend } from './onnx-backend.js';
export { DEFAULT_EXPERTS_PER_GRAPH, resolveOnnxOptions, type OnnxBackendOptions, type OnnxExecutionProvider, type ExpertGraphLayout, type ResolvedOnnxOptions } from './options.js';
export { cudaProviderInstalled, CUDA_INSTALL_HINT, ORT_VERSION } from './sessions.js';
export { MicrosoftMoEOperator, buildMicrosoftMoEGraph, type MicrosoftMoEOptions } from './microsoft-moe.js';
export { OnnxGraphBuilder, IR_VERSION, OPSET, type AttributeValue, type Dim, type InitializerData, type OnnxElementType } from './onnx-graph.js';

/** Registry priority of the `onnx` backend. */
export const ONNX_BACKEND_PRIORITY = 20;

registerBackend('onnx', {
  priority: ONNX_BACKEND_PRIORITY,
  description: `onnxruntime-node ${ORT_VERSION}: expert groups as one graph built in TypeScript, weights pre-packed by MLAS (CPU; CUDA when installed)`,
  create: (options) => OnnxBackend.create(options),
});
