/** `GET /v1/backends` and `GET /v1/layers`. */
import type { FastifyInstance } from 'fastify';
import { backendsResponseSchema, layerSchema } from '../../layers/layer-schemas.js';
import { errorResponses } from '../error-schemas.js';
import type { ServerState } from '../server-state.js';

/** Registers the listing routes. */
export function infoRoutes(app: FastifyInstance, state: ServerState): void {
  app.get(
    '/v1/backends',
    { schema: { tags: ['info'], summary: 'The active backend, the preference list, registered backends and routers', response: { 200: backendsResponseSchema, 401: errorResponses[401] } } },
    async () => {
      const b = state.backend;
      return {
        active: b ? { name: b.name, engine: b.engine, threads: b.threads, nice: b.nice } : null,
        preference: state.config.backend.map((c) => (typeof c === 'string' ? c : c.name)),
        registered: b?.registered ?? [],
        modules: b?.modules ?? { loaded: [], skipped: [] },
        routers: b?.routers ?? [],
      };
    },
  );
  app.get(
    '/v1/layers',
    {
      schema: {
        tags: ['info'],
        summary: 'The served layers: shape, router, batching policy, queue depth',
        response: { 200: { type: 'object', properties: { ready: { type: 'boolean' }, layers: { type: 'array', items: layerSchema } } }, 401: errorResponses[401] },
      },
    },
    async () => ({
      ready: state.ready,
      layers: [...state.layers.values()].map((l) => ({
        id: l.id,
        source: l.source,
        config: l.config,
        router: l.router,
        needs_token_ids: l.needsTokenIds,
        batching: l.batchAcrossRequests ? 'across-requests' : 'per-request',
        parameters: l.parameters,
        input_shape: ['T', l.config.hiddenSize],
        queue_depth: state.scheduler?.queueDepth(l.id) ?? 0,
      })),
    }),
  );
}
