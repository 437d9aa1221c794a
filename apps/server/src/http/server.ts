/**
 * `createServer`: Fastify app + metrics + inference worker pool + scheduler. The HTTP side
 * starts at once (probes answer while weights are prepared); `/readyz` turns ready when every
 * worker has built every layer. `close()` is graceful: stop accepting, finish every accepted
 * request, then stop the workers.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { batchesAcrossRequests } from '../layers/batch-policy.js';
import { moduleSpecifier } from '../shared/backend-modules.js';
import type { ServerConfig } from '../config.js';
import { exposureWarning, registerAccess } from './access.js';
import { registerBodyPolicy } from './body-policy.js';
import { Drain } from './drain.js';
import { JsonParseWorker, registerJsonParser } from './json-body.js';
import { handleError } from './errors-handler.js';
import { clip, HttpError } from './http-error.js';
import { ServerMetrics } from '../layers/layer-metrics.js';
import { forwardRoutes } from './routes/forward.js';
import { healthRoutes } from './routes/health.js';
import { infoRoutes } from './routes/info.js';
import { metricsRoutes } from './routes/metrics.js';
import { Scheduler } from '../layers/scheduler.js';
import type { ServerState } from './server-state.js';
import { WorkerPool } from '../layers/worker-pool.js';
import { GenerationMetrics } from '../generation/generation-metrics.js';
import type { ModelInfo } from '../generation/generation-protocol.js';
import { GenerationService } from '../generation/generation-service.js';
import { openaiRoutes } from './routes/openai.js';
import type { ReadyMessage } from '../layers/worker-protocol.js';

/** What a ready server serves: the layers' report plus the text models. */
export interface ServerReady extends ReadyMessage {
  readonly models: readonly ModelInfo[];
}

/** A running (or starting) server. */
export interface MoeServer {
  readonly app: FastifyInstance;
  readonly state: ServerState;
  /** Resolves when every layer is prepared and every model loaded; rejects when that failed. */
  readonly prepared: Promise<ServerReady>;
  /** Starts listening; resolves with the base URL (e.g. `http://127.0.0.1:43125`). */
  listen(): Promise<string>;
  /**
   * Graceful stop: refuse new connections (and, with a 503, new requests on kept-alive ones),
   * answer the accepted requests within `limits.drainTimeoutMs` (then cut them), stop the workers.
   */
  close(): Promise<void>;
  /** After close(): how many requests the drain deadline cut (0 when all were answered). */
  readonly cutAtDrain: number;
}

/** Options that are not configuration (tests). */
export interface CreateServerOptions {
  /** Collect Node process metrics (default true). */
  readonly defaultMetrics?: boolean;
}

async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'moe-runtime server', version: '0.1.0', description: 'Serves Mixture-of-Experts layers on a moe-runtime backend, with dynamic batching, and MoE text models through OpenAI-compatible endpoints.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  // swagger-ui serves its assets from the installed package: nothing is fetched from a CDN.
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

/** Builds the server for a resolved config and starts preparing the layers in the workers. */
export async function createServer(config: ServerConfig, options: CreateServerOptions = {}): Promise<MoeServer> {
  const metrics = new ServerMetrics({ defaultMetrics: options.defaultMetrics });
  const state: ServerState = { config, metrics, ready: false, draining: false, layers: new Map() };
  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    // Per-request log lines would cost more than a forward pass's bookkeeping under load.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.limits.bodyLimitBytes,
    // Requests are validated strictly: no type coercion, unknown fields are errors.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // The drain answers requests that arrive on kept-alive connections itself (drain.ts), in the route's error shape.
    return503OnClosing: false,
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    handleError(new HttpError(404, 'E_NOT_FOUND', `no route ${request.method} ${clip(request.url)}; see /docs`), request, reply);
  });
  registerBodyPolicy(app);
  const jsonWorker = new JsonParseWorker();
  registerJsonParser(app, jsonWorker, config.limits.maxAbsInput, () => metrics.bodiesParsedInWorker.inc());
  const drain = new Drain();
  drain.register(app);
  await registerAccess(app, config);
  // While draining, answer and hang up: a keep-alive connection left open would hold close().
  app.addHook('onSend', async (_request, reply, payload) => {
    if (state.draining) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    // A stream that began before the drain went out keep-alive: hang up once it is finished.
    if (state.draining) request.raw.socket?.end();
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  await registerDocs(app);
  healthRoutes(app, state);
  infoRoutes(app, state);
  forwardRoutes(app, state);
  metricsRoutes(app, state);
  openaiRoutes(app, state);

  // The layers' worker pool starts only when layers are served (a models-only server needs none).
  const pool = config.layers.length
    ? new WorkerPool(config.workers, {
        type: 'init',
        backend: config.backend,
        backendModules: config.backendModules.map((m) => moduleSpecifier(m)),
        layers: config.layers,
        nice: config.workerNice,
      })
    : undefined;
  pool?.on('replace-failed', (i: number, err: unknown) => app.log.error({ err }, `could not restart inference worker ${i}`));
  const layersPrepared = pool
    ? pool.start().then((report) => {
        for (const layer of report.layers) {
          state.layers.set(layer.id, { ...layer, batchAcrossRequests: batchesAcrossRequests(layer.config, config.batching.mode) });
          metrics.addLayer(layer.id, layer.config.numExperts);
        }
        state.scheduler = new Scheduler(
          pool,
          [...state.layers.values()].map((l) => ({ id: l.id, hiddenSize: l.config.hiddenSize, batchAcrossRequests: l.batchAcrossRequests })),
          config.batching,
          config.limits,
          metrics,
        );
        return report;
      })
    : undefined;
  if (config.models.length) {
    state.generationMetrics = new GenerationMetrics(metrics.registry);
    state.generation = new GenerationService(
      { type: 'init', backend: config.backend, backendModules: config.backendModules.map((m) => moduleSpecifier(m)), models: config.models, nice: config.workerNice },
      config.generation,
      config.limits,
      state.generationMetrics,
    );
    // While a dead generation worker is replaced, /readyz says so.
    state.generation.on('crashed', (reason: string) => {
      app.log.error(`${reason}; starting a new one`);
      if (state.ready) state.ready = false;
    });
    state.generation.on('restarted', () => {
      app.log.info('generation worker restarted');
      void prepared.then(() => (state.ready = true));
    });
    state.generation.on('restart-failed', (err: unknown) => {
      state.startError = `generation worker could not be restarted: ${err instanceof Error ? err.message : String(err)}`;
      app.log.error(state.startError);
    });
  }
  const modelsPrepared = state.generation?.start();
  const prepared: Promise<ServerReady> = Promise.all([layersPrepared, modelsPrepared]).then(
    ([layers, models]) => {
      const backend = layers?.backend ?? models!.backend;
      state.backend = backend;
      state.ready = true;
      const report: ServerReady = { type: 'ready', backend, layers: layers?.layers ?? [], models: models?.models ?? [] };
      app.log.info(`ready: ${report.layers.length} layer(s), ${report.models.length} model(s) on backend ${backend.name} (${backend.engine})`);
      return report;
    },
    (err: unknown) => {
      state.startError = err instanceof Error ? err.message : String(err);
      throw err;
    },
  );
  // The caller awaits `prepared` when it cares; an unobserved failure must not crash the process.
  prepared.catch(() => undefined);

  let closing: Promise<void> | undefined;
  let lastCut = 0;
  return {
    app,
    state,
    prepared,
    get cutAtDrain() {
      return lastCut;
    },
    async listen() {
      const warning = exposureWarning(config);
      if (warning) process.stderr.write(`${warning}\n`);
      return app.listen({ host: config.host, port: config.port });
    },
    close() {
      closing ??= (async () => {
        state.draining = true;
        const cut = await drain.run(app, config.limits.drainTimeoutMs);
        if (cut) app.log.warn(`drain deadline (${config.limits.drainTimeoutMs} ms) passed: cut ${cut} unfinished request(s)`);
        lastCut = cut;
        await prepared.catch(() => undefined);
        await Promise.all([pool?.stop(), state.generation?.stop(), jsonWorker.stop()]);
      })();
      return closing;
    },
  };
}
