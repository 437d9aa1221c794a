/** JSON schemas of the error bodies every route may answer with (for the OpenAPI document). */

const errorBody = {
  type: 'object',
  properties: {
    error: { type: 'string', description: 'HTTP status text' },
    code: { type: 'string', description: 'stable machine-readable code, e.g. E_INVALID_INPUT' },
    message: { type: 'string', description: 'what was wrong: the field and the expected value' },
    field: { type: 'string', description: 'the request field at fault, when one is' },
  },
  required: ['error', 'code', 'message'],
} as const;

/** Error responses of the layer RPC routes, probes and metrics. */
export const errorResponses = {
  400: { description: 'invalid request', ...errorBody },
  401: { description: 'missing or wrong API key', ...errorBody },
  404: { description: 'unknown layer or route', ...errorBody },
  413: { description: 'body too large', ...errorBody },
  500: { description: 'the backend failed on this batch', ...errorBody },
  503: { description: 'queue full (see Retry-After) or not ready', ...errorBody },
  504: { description: 'request timed out', ...errorBody },
} as const;

const openaiErrorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        message: { type: 'string', description: 'what was wrong: the field and the expected value' },
        type: { type: 'string', description: 'invalid_request_error, authentication_error, permission_error, server_error or timeout' },
        param: { type: ['string', 'null'], description: 'the request field at fault, when one is' },
        code: { type: ['string', 'null'], description: 'e.g. context_length_exceeded, model_not_found, invalid_api_key, unknown_parameter' },
      },
      required: ['message', 'type', 'param', 'code'],
    },
  },
  required: ['error'],
} as const;

/** Error responses of the OpenAI-compatible routes (OpenAI's shape). */
export const openaiErrorResponses = {
  400: { description: 'invalid request', ...openaiErrorBody },
  401: { description: 'missing or wrong API key', ...openaiErrorBody },
  404: { description: 'unknown model', ...openaiErrorBody },
  413: { description: 'body too large', ...openaiErrorBody },
  500: { description: 'the generation failed', ...openaiErrorBody },
  503: { description: 'queue full (see Retry-After) or not ready', ...openaiErrorBody },
  504: { description: 'request timed out', ...openaiErrorBody },
} as const;
