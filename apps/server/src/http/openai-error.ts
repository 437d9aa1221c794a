/**
 * OpenAI's error shape for the OpenAI-compatible routes: `{ error: { message, type, param,
 * code } }`, which the official SDKs read (status, `error.code`, `error.param`,
 * `error.message`). The layer RPC routes keep their own shape (see errors-handler.ts). The
 * server's own codes (`E_CONTEXT_LENGTH`, ...) map to OpenAI's where OpenAI has one
 * (`context_length_exceeded`, `model_not_found`, `invalid_api_key`), else to a snake_case name.
 */
import type { FastifyRequest } from 'fastify';
import type { HttpError } from './http-error.js';

/** The body of an OpenAI error. */
export interface OpenAIErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null; readonly code: string | null };
}

const CODES: Readonly<Record<string, string>> = {
  E_CONTEXT_LENGTH: 'context_length_exceeded',
  E_UNKNOWN_MODEL: 'model_not_found',
  E_UNAUTHORIZED: 'invalid_api_key',
  E_MAX_TOKENS: 'invalid_value',
  E_INVALID_INPUT: 'invalid_value',
  E_NOT_FOUND: 'unknown_url',
  E_MEDIA_TYPE: 'unsupported_media_type',
};

/** OpenAI's `type` for a status. */
export function openaiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** OpenAI's `code` for an error: its own (validation keywords), a mapped one, or the server's code in snake_case. */
export function openaiErrorCode(e: HttpError): string {
  return e.openaiCode ?? CODES[e.code] ?? e.code.replace(/^E_/, '').toLowerCase();
}

/** The OpenAI error body of an HttpError. */
export function openaiErrorBody(e: HttpError): OpenAIErrorBody {
  return { error: { message: e.message, type: openaiErrorType(e.statusCode), param: e.field ?? null, code: openaiErrorCode(e) } };
}

/** Route patterns answered in OpenAI's format. */
function isOpenAIPattern(pattern: string): boolean {
  return pattern === '/v1/completions' || pattern === '/v1/chat/completions' || pattern === '/v1/models' || pattern.startsWith('/v1/models/');
}

/**
 * Whether a request gets OpenAI's error shape: an OpenAI route, or an unmatched target under
 * `/v1/` that is not a layer RPC path (an OpenAI client calling an endpoint this server lacks).
 */
export function wantsOpenAIErrors(request: FastifyRequest): boolean {
  const pattern = request.routeOptions.url;
  if (pattern !== undefined) return isOpenAIPattern(pattern);
  const path = (request.raw.url ?? '').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  return path.startsWith('/v1/') && !/^\/v1\/(layers|backends)(\/|\?|$)/.test(path);
}
