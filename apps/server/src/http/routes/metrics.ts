/** `GET /metrics`: Prometheus text format. */
import type { FastifyInstance } from 'fastify';
import type { ServerState } from '../server-state.js';

/** Registers the metrics route. */
export function metricsRoutes(app: FastifyInstance, state: ServerState): void {
  app.get('/metrics', { schema: { tags: ['probes'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } }, async (_req, reply) => {
    const body = await state.metrics.registry.metrics();
    return reply.type(state.metrics.registry.contentType).send(body);
  });
}
