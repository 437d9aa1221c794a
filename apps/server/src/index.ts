/**
 * @moe-runtime/server: an HTTP server (Fastify 5) that serves MoE layers on a chosen
 * moe-runtime backend. Inference runs on worker threads; concurrent requests for a layer are
 * batched dynamically. Start it with the `moe-server` command or {@link createServer}.
 *
 * @packageDocumentation
 */
export { createServer, type CreateServerOptions, type MoeServer, type ServerReady } from './http/server.js';
export { DEMO_MODEL_TYPES, demoModelSpec, modelSpecFromFlag, validateModelSpec, type DemoModelSpec, type DemoModelType, type FolderModelSpec, type ModelSpec } from './generation/model-spec.js';
export type { ModelInfo } from './generation/generation-protocol.js';
export { GenerationMetrics } from './generation/generation-metrics.js';
export {
  BATCHING_MODES,
  DEFAULT_CONFIG,
  DEMO_LAYER,
  DEMO_LAYER_CONFIG,
  overlayConfig,
  resolveConfig,
  type BatchingConfig,
  type BatchingMode,
  type GenerationConfig,
  type LimitsConfig,
  type PartialServerConfig,
  type ServerConfig,
} from './config.js';
export { effectiveConfig, loadLayerSource, validateLayerSpec, type LayerSource, type LayerSpec, type RandomLayerSpec, type SafetensorsLayerSpec } from './layers/layer-spec.js';
export { batchesAcrossRequests } from './layers/batch-policy.js';
export { buildProgram, configFromArgs } from './cli-args.js';
export { HttpError } from './http/http-error.js';
export { ServerMetrics } from './layers/layer-metrics.js';
export type { ServerState, ServedLayer } from './http/server-state.js';
export type { BackendReport, LayerInfo } from './layers/worker-protocol.js';
