/**
 * JSON schemas of the layer RPC routes: Fastify validates requests with them (400 naming the
 * field), serialises responses with them, and @fastify/swagger turns them into the OpenAPI
 * document.
 */

const layerConfig = {
  type: 'object',
  additionalProperties: true,
  description: 'the MoELayerConfig: hiddenSize, numExperts, topK, expert, sharedExperts, router',
} as const;

/** `GET /v1/layers` item. */
export const layerSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    source: { type: 'string', enum: ['random', 'safetensors'] },
    config: layerConfig,
    router: { type: 'string' },
    needs_token_ids: { type: 'boolean' },
    batching: { type: 'string', enum: ['across-requests', 'per-request'], description: 'whether concurrent requests share backend batches' },
    parameters: { type: 'integer' },
    input_shape: { type: 'array', items: { type: ['integer', 'string'] }, description: "['T', hiddenSize]" },
    queue_depth: { type: 'integer' },
  },
} as const;

/** `POST /v1/layers/:id/forward` body. */
export const forwardBodySchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Give either `input` (JSON rows) or `input_b64` with `shape`.',
  properties: {
    input: {
      type: 'array',
      minItems: 1,
      description: 'rows [T][D] of numbers (D = the layer hiddenSize)',
      items: { type: 'array', items: { type: 'number' } },
    },
    input_b64: { type: 'string', description: 'base64 of T*D little-endian float32 values, row-major' },
    shape: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 2, maxItems: 2, description: '[T, D] of input_b64' },
    token_ids: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 2147483647 }, description: '[T] token ids, for routers that need them (hash)' },
    return_routing: { type: 'boolean', default: false, description: "return each token's chosen experts and combine weights" },
    output_format: { type: 'string', enum: ['json', 'base64'], description: 'default: the input format' },
  },
} as const;

/** `POST /v1/layers/:id/forward` 200 response. */
export const forwardResponseSchema = {
  type: 'object',
  properties: {
    layer: { type: 'string' },
    shape: { type: 'array', items: { type: 'integer' }, description: '[T, D]' },
    output: { type: 'array', items: { type: 'array', items: { type: 'number' } }, description: 'rows [T][D] (output_format json)' },
    output_b64: { type: 'string', description: 'base64 little-endian float32 [T, D] (output_format base64)' },
    routing: {
      type: 'object',
      properties: {
        experts: { type: 'array', items: { type: 'array', items: { type: 'integer' } }, description: "per token: chosen experts, router order (empty: dropped)" },
        weights: { type: 'array', items: { type: 'array', items: { type: 'number' } }, description: 'per token: combine weights' },
      },
    },
    batch: {
      type: 'object',
      properties: { requests: { type: 'integer' }, tokens: { type: 'integer' }, worker: { type: 'integer' } },
      description: 'the backend batch this request ran in, and the inference worker that ran it',
    },
    timing: { type: 'object', properties: { queue_ms: { type: 'number' }, compute_ms: { type: 'number' } } },
  },
} as const;

/** `GET /v1/backends` response. */
export const backendsResponseSchema = {
  type: 'object',
  properties: {
    active: {
      type: 'object',
      properties: { name: { type: 'string' }, engine: { type: 'string' }, threads: { type: 'integer' }, nice: { type: ['integer', 'string'] } },
      description: 'the backend the layers run on (null until ready)',
      nullable: true,
    },
    preference: { type: 'array', items: { type: 'string' }, description: 'configured preference list' },
    registered: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, priority: { type: 'number' }, description: { type: 'string' } } },
    },
    modules: {
      type: 'object',
      properties: {
        loaded: { type: 'array', items: { type: 'string' } },
        skipped: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, reason: { type: 'string' } } } },
      },
    },
    routers: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, description: { type: 'string' }, needs_token_ids: { type: 'boolean' } } } },
  },
} as const;
