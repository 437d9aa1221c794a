/**
 * Errors that become HTTP answers: a status, a stable code and a message that names the field
 * and what was expected. The error handler turns every one into the route's error shape:
 * `{ error: <status text>, code, message, field? }` on the layer RPC routes, OpenAI's
 * `{ error: { message, type, param, code } }` on the OpenAI-compatible ones.
 */

/** An error with an HTTP status. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  /** The request field at fault (`input`, `token_ids`, ...), when one is. */
  readonly field?: string;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Readonly<Record<string, string>>;
  /** OpenAI's `error.code` when it is more precise than the mapped code (e.g. `unknown_parameter`). */
  readonly openaiCode?: string;

  constructor(statusCode: number, code: string, message: string, options: { field?: string; headers?: Record<string, string>; openaiCode?: string } = {}) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
    this.openaiCode = options.openaiCode;
  }
}

/**
 * A client-supplied value as it may appear in an error message: at most `max` characters, then
 * how many were left out (an error must not echo a 10 KB id back whole).
 */
export function clip(value: string, max = 80): string {
  return value.length <= max ? value : `${value.slice(0, max)}... (${value.length} characters)`;
}

/** 400 for a bad request field. */
export function badRequest(field: string, message: string): HttpError {
  return new HttpError(400, 'E_INVALID_INPUT', `${field}: ${message}`, { field });
}
