/** `POST /v1/layers/:id/forward`: one request's rows through one layer (batched with others). */
import type { FastifyInstance } from 'fastify';
import { clip, HttpError } from '../http-error.js';
import { decodeForwardBody, forwardJson, toBase64, toRows, type ForwardBody } from '../../layers/input.js';
import { forwardBodySchema, forwardResponseSchema } from '../../layers/layer-schemas.js';
import { errorResponses } from '../error-schemas.js';
import type { ServerState } from '../server-state.js';

/** Registers the forward route. */
export function forwardRoutes(app: FastifyInstance, state: ServerState): void {
  app.post<{ Params: { id: string }; Body: ForwardBody }>(
    '/v1/layers/:id/forward',
    {
      schema: {
        tags: ['inference'],
        summary: 'Run input rows through a layer',
        description:
          'Input as JSON rows or base64 little-endian float32 with a shape. Concurrent requests for a layer share backend batches ' +
          "when its router's per-token result does not depend on the batch (see GET /v1/layers: batching).",
        params: { type: 'object', properties: { id: { type: 'string', description: 'layer id' } }, required: ['id'] },
        body: forwardBodySchema,
        response: { 200: forwardResponseSchema, ...errorResponses },
      },
      // Refuse before the body is read when the layer's queue is already full.
      onRequest: async (request) => {
        const full = state.scheduler?.queueFullError(request.params.id);
        if (full) throw full;
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const layer = state.layers.get(id);
      if (!layer) {
        if (!state.ready && state.layers.size === 0) throw new HttpError(503, 'E_NOT_READY', 'layers are still being prepared', { headers: { 'retry-after': '1' } });
        throw new HttpError(404, 'E_UNKNOWN_LAYER', `unknown layer '${clip(id)}'; serving: ${[...state.layers.keys()].map((k) => `'${k}'`).join(', ')}`, { field: 'id' });
      }
      if (!state.ready || !state.scheduler) throw new HttpError(503, 'E_NOT_READY', 'layers are still being prepared', { headers: { 'retry-after': '1' } });
      const d = layer.config.hiddenSize;
      const input = decodeForwardBody(request.body, d, state.config.limits.maxTokensPerRequest, layer.needsTokenIds, layer.router, state.config.limits.maxAbsInput);
      // A caller that hangs up while its request waits frees its place (nothing is computed).
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      const result = await state.scheduler.submit({
        signal: gone.signal,
        layer: id,
        x: input.x,
        rows: input.rows,
        tokenIds: input.tokenIds,
        wantRouting: request.body.return_routing === true,
      });
      const answer = {
        layer: id,
        shape: [input.rows, d],
        ...(input.outputFormat === 'json' ? { output: toRows(result.output, d) } : { output_b64: toBase64(result.output) }),
        ...(result.routing ? { routing: result.routing } : {}),
        batch: result.batch,
        timing: { queue_ms: result.queueMs, compute_ms: result.computeMs },
      };
      // Pre-serialised (see forwardJson); the response schema still documents the shape.
      return reply.type('application/json; charset=utf-8').send(forwardJson(answer));
    },
  );
}
