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

/** Error responses shared by every route. */
export const errorResponses = {
  400: { description: 'invalid request', ...errorBody },
  401: { description: 'missing or wrong API key', ...errorBody },
  404: { description: 'unknown layer or route', ...errorBody },
  413: { description: 'body too large', ...errorBody },
  500: { description: 'the backend failed on this batch', ...errorBody },
  503: { description: 'queue full (see Retry-After) or not ready', ...errorBody },
  504: { description: 'request timed out', ...errorBody },
} as const;
