/**
 * Every failure gets its status and one of two shapes. The layer RPC routes, probes and
 * metrics answer `{ error: <status text>, code, message, field? }` (`code` a stable `E_...`
 * name); the OpenAI-compatible routes answer OpenAI's `{ error: { message, type, param, code } }`
 * (see openai-error.ts), which the official SDKs read. Schema-validation errors name the field
 * as a path (`input[3][5]`) and say what was expected; Fastify's own errors (body too large,
 * bad JSON, wrong content type) keep their status.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { CHAT_EXPECTED, COMPLETION_EXPECTED } from '../generation/openai-schemas.js';
import { HttpError } from './http-error.js';
import { openaiErrorBody, wantsOpenAIErrors } from './openai-error.js';

interface ValidationItem {
  readonly instancePath?: string;
  readonly keyword?: string;
  readonly message?: string;
  readonly params?: Record<string, unknown>;
}

/** `/input/3/5` -> `input[3][5]`. */
export function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .filter(Boolean)
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('');
}

const EXPECTED: Readonly<Record<string, string>> = {
  input: 'number[T][D], finite numbers (JSON rows of the layer hiddenSize)',
  shape: '[T, D] (two non-negative integers)',
  token_ids: 'integer[T] in [0, 2^31)',
  return_routing: 'a boolean',
  output_format: "'json' or 'base64'",
  input_b64: 'a base64 string of little-endian float32',
};

/** The field expectations of a route: the generation routes have their own. */
function expectedOf(route: string | undefined): Readonly<Record<string, string>> {
  if (route === '/v1/completions') return COMPLETION_EXPECTED;
  if (route === '/v1/chat/completions') return CHAT_EXPECTED;
  return EXPECTED;
}

function expectedFor(field: string, expected: Readonly<Record<string, string>>): string {
  const top = field.split(/[[.]/)[0];
  return expected[top] ? `; expected ${field === top ? '' : `${top} as `}${expected[top]}` : '';
}

/** Turns an Ajv validation error into a 400 naming the field and the expected shape. */
export function validationError(items: readonly ValidationItem[], context: string, expected: Readonly<Record<string, string>> = EXPECTED): HttpError {
  const v = items[0] ?? {};
  let field = fieldPath(v.instancePath ?? '');
  if (v.keyword === 'additionalProperties' && typeof v.params?.additionalProperty === 'string') {
    field = field ? `${field}.${v.params.additionalProperty}` : v.params.additionalProperty;
    return new HttpError(400, 'E_VALIDATION', `${field}: unknown field in the ${context}; expected only ${Object.keys(expected).join(', ')}`, { field, openaiCode: 'unknown_parameter' });
  }
  const required = v.keyword === 'required' && typeof v.params?.missingProperty === 'string';
  if (required) field = field ? `${field}.${v.params!.missingProperty as string}` : (v.params!.missingProperty as string);
  const name = field || context;
  const openaiCode = required ? 'missing_required_parameter' : v.keyword === 'type' ? 'invalid_type' : 'invalid_value';
  return new HttpError(400, 'E_VALIDATION', `${name}: ${v.message ?? 'is invalid'}${expectedFor(field, expected)}`, { field: field || undefined, openaiCode });
}

function fromFastify(err: FastifyError): HttpError {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'E_BODY_TOO_LARGE', `request body is larger than the limit (${err.message.replace(/^.*?limit/i, 'limit') || 'see limits.bodyLimitBytes'}); send fewer tokens per request or use input_b64`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'E_MEDIA_TYPE', `${err.message}; send Content-Type: application/json`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, 'E_VALIDATION', 'body: is empty; expected a JSON object');
  }
  if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new HttpError(400, 'E_INVALID_JSON', `body is not valid JSON (${err.message}); NaN and Infinity are not JSON numbers: send finite values`);
  }
  return new HttpError(status, status >= 500 ? 'E_INTERNAL' : (err.code ?? 'E_REQUEST'), err.message);
}

/** The Fastify error handler. */
export function handleError(err: FastifyError | HttpError, request: FastifyRequest, reply: FastifyReply): void {
  let e: HttpError;
  if (err instanceof HttpError) e = err;
  else if ((err as FastifyError).validation) {
    e = validationError((err as FastifyError).validation as ValidationItem[], (err as FastifyError).validationContext ?? 'body', expectedOf(request.routeOptions.url));
  }
  else e = fromFastify(err as FastifyError);
  if (e.statusCode >= 500 && e.statusCode !== 503 && e.statusCode !== 504) request.log.error({ err }, e.message);
  for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
  if (e.statusCode === 401) reply.header('www-authenticate', 'Bearer');
  const body = wantsOpenAIErrors(request) ? openaiErrorBody(e) : { error: STATUS_CODES[e.statusCode] ?? 'Error', code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) };
  void reply.status(e.statusCode).send(body);
}
