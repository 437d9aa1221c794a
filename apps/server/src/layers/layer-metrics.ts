/**
 * Prometheus metrics (prom-client, one registry per server): HTTP latency, tokens processed,
 * batch sizes, queue depth, per-expert token counts and the load imbalance of each layer.
 *
 * Load imbalance is max/mean of the cumulative kept tokens per expert since start (1 = every
 * expert got the same number of tokens); the per-batch max/mean is a histogram beside it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ForwardResult } from './worker-protocol.js';

/** The server's metrics. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly tokens: Counter<'layer'>;
  readonly batchTokens: Histogram<'layer'>;
  readonly batchRequests: Histogram<'layer'>;
  readonly batchCompute: Histogram<'layer'>;
  readonly queueDepth: Gauge<'layer'>;
  readonly expertTokens: Counter<'layer' | 'expert'>;
  readonly droppedTokens: Counter<'layer'>;
  readonly imbalance: Gauge<'layer'>;
  readonly batchImbalance: Histogram<'layer'>;
  readonly rejected: Counter<'layer' | 'reason'>;
  readonly backendErrors: Counter<'layer'>;
  readonly bodiesParsedInWorker: Counter;
  private readonly perExpert = new Map<string, number[]>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'moe_server_' });
    this.httpDuration = new Histogram({
      name: 'moe_http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.tokens = new Counter({ name: 'moe_tokens_processed_total', help: 'Tokens (rows) run through each layer', labelNames: ['layer'], registers });
    this.batchTokens = new Histogram({
      name: 'moe_batch_size_tokens',
      help: 'Tokens per backend batch',
      labelNames: ['layer'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
      registers,
    });
    this.batchRequests = new Histogram({
      name: 'moe_batch_size_requests',
      help: 'Requests per backend batch',
      labelNames: ['layer'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.batchCompute = new Histogram({
      name: 'moe_batch_compute_seconds',
      help: 'Time the worker spent on one batch (router + experts)',
      labelNames: ['layer'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.queueDepth = new Gauge({ name: 'moe_queue_depth', help: 'Requests waiting for a batch, per layer', labelNames: ['layer'], registers });
    this.expertTokens = new Counter({ name: 'moe_expert_tokens_total', help: 'Kept (token, expert) rows per expert', labelNames: ['layer', 'expert'], registers });
    this.droppedTokens = new Counter({ name: 'moe_dropped_tokens_total', help: 'Tokens left with no expert by capacity', labelNames: ['layer'], registers });
    this.imbalance = new Gauge({
      name: 'moe_layer_load_imbalance',
      help: 'max/mean of cumulative tokens per expert since start (1 = balanced)',
      labelNames: ['layer'],
      registers,
    });
    this.batchImbalance = new Histogram({
      name: 'moe_batch_load_imbalance',
      help: 'max/mean tokens per expert within one batch',
      labelNames: ['layer'],
      buckets: [1, 1.1, 1.25, 1.5, 2, 3, 4, 8],
      registers,
    });
    this.rejected = new Counter({ name: 'moe_requests_rejected_total', help: 'Requests refused (queue_full), expired (timeout) or dropped unrun because the client left (client_gone)', labelNames: ['layer', 'reason'], registers });
    this.bodiesParsedInWorker = new Counter({ name: 'moe_request_bodies_parsed_in_worker_total', help: 'JSON request bodies large enough to be parsed on the parse worker thread', registers });
    this.backendErrors = new Counter({ name: 'moe_backend_errors_total', help: 'Batches that failed in the worker', labelNames: ['layer'], registers });
  }

  /** Declares a layer so its series exist (at 0) before traffic. */
  addLayer(layer: string, numExperts: number): void {
    this.perExpert.set(layer, new Array(numExperts).fill(0));
    this.tokens.inc({ layer }, 0);
    this.queueDepth.set({ layer }, 0);
    this.droppedTokens.inc({ layer }, 0);
    this.backendErrors.inc({ layer }, 0);
    for (let e = 0; e < numExperts; e++) this.expertTokens.inc({ layer, expert: String(e) }, 0);
  }

  /** A batch was sent to a worker. */
  observeBatch(layer: string, requests: number, tokens: number): void {
    this.batchRequests.observe({ layer }, requests);
    this.batchTokens.observe({ layer }, tokens);
  }

  /** A batch came back. */
  observeResult(layer: string, tokens: number, result: ForwardResult): void {
    this.tokens.inc({ layer }, tokens);
    this.batchCompute.observe({ layer }, result.computeMs / 1000);
    if (result.droppedTokens) this.droppedTokens.inc({ layer }, result.droppedTokens);
    const totals = this.perExpert.get(layer);
    const load = result.tokensPerExpert;
    load.forEach((n, e) => {
      if (n) this.expertTokens.inc({ layer, expert: String(e) }, n);
      if (totals) totals[e] += n;
    });
    const batchMean = load.reduce((s, v) => s + v, 0) / load.length;
    if (batchMean > 0) this.batchImbalance.observe({ layer }, Math.max(...load) / batchMean);
    if (totals) {
      const mean = totals.reduce((s, v) => s + v, 0) / totals.length;
      if (mean > 0) this.imbalance.set({ layer }, Math.max(...totals) / mean);
    }
  }
}
