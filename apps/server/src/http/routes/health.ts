/** Liveness and readiness probes: answered on the main thread, never waiting on inference. */
import type { FastifyInstance } from 'fastify';
import type { ServerState } from '../server-state.js';

const probe = {
  type: 'object',
  properties: { status: { type: 'string' }, reason: { type: 'string' } },
} as const;

/** `GET /healthz` (alive) and `GET /readyz` (weights prepared, not draining). */
export function healthRoutes(app: FastifyInstance, state: ServerState): void {
  app.get('/healthz', { schema: { tags: ['probes'], summary: 'Liveness: the process answers', response: { 200: probe } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { tags: ['probes'], summary: 'Readiness: every layer is prepared on the backend', response: { 200: probe, 503: probe } } },
    async (_req, reply) => {
      if (state.ready && !state.draining) return { status: 'ready' };
      const reason = state.draining ? 'shutting down' : state.startError ? `start failed: ${state.startError}` : 'preparing weights';
      return reply.status(503).header('retry-after', '1').send({ status: 'not ready', reason });
    },
  );
}
