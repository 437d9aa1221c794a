/** What the routes share: config, metrics, the worker pool's report and the scheduler. */
import type { ServerConfig } from '../config.js';
import type { GenerationMetrics } from '../generation/generation-metrics.js';
import type { GenerationService } from '../generation/generation-service.js';
import type { ServerMetrics } from '../layers/layer-metrics.js';
import type { Scheduler } from '../layers/scheduler.js';
import type { BackendReport, LayerInfo } from '../layers/worker-protocol.js';

/** A served layer as the routes see it. */
export interface ServedLayer extends LayerInfo {
  readonly batchAcrossRequests: boolean;
}

/** Mutable server state; `ready` turns true once every worker has prepared every layer and every model is loaded. */
export interface ServerState {
  readonly config: ServerConfig;
  readonly metrics: ServerMetrics;
  ready: boolean;
  /** Set on shutdown: /readyz answers 503 so load balancers stop sending. */
  draining: boolean;
  /** Why preparing the layers failed, if it did. */
  startError?: string;
  backend?: BackendReport;
  layers: Map<string, ServedLayer>;
  scheduler?: Scheduler;
  /** Text generation (the OpenAI-compatible endpoints), when models are configured. */
  generation?: GenerationService;
  generationMetrics?: GenerationMetrics;
}
