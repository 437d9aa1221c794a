/**
 * JSON request bodies, parsed as Fastify's own parser does (`__proto__` and
 * `constructor.prototype` keys refused) but with errors that say which it was, and one step
 * more for large bodies (see json-parse-worker.ts): layer input rows become the equivalent
 * `input_b64` + `shape`, so the main thread neither parses nor validates millions of numbers.
 */
import sjson from 'secure-json-parse';
import { HttpError } from './http-error.js';

/** The parse failed: malformed JSON, or a key refused as prototype pollution. */
export function parseFailure(err: unknown): HttpError {
  const message = err instanceof Error ? err.message : String(err);
  if (/forbidden (prototype|constructor) property/.test(message)) {
    return new HttpError(400, 'E_FORBIDDEN_KEY', 'body: has a "__proto__" key (or "constructor" with "prototype"), which is refused as prototype pollution; remove that key', { openaiCode: 'forbidden_key' });
  }
  return new HttpError(400, 'E_INVALID_JSON', `body is not valid JSON (${message}); NaN and Infinity are not JSON numbers: send finite values`);
}

/** Parses a body's text; throws the HttpError of parseFailure. */
export function parseJson(text: string): unknown {
  if (text.length === 0) throw new HttpError(400, 'E_VALIDATION', 'body: is empty; expected a JSON object');
  try {
    return sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    throw parseFailure(err);
  }
}

/**
 * When `body.input` is rows of numbers of one width with every value inside `maxAbs` (and
 * float32), the same body with `input_b64` + `shape` instead (the answer format kept: JSON
 * rows in, JSON rows out); otherwise `body` unchanged, so the route's checks give their exact
 * messages for anything wrong.
 */
export function packInputRows(body: unknown, maxAbs: number): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const { input, ...rest } = body as Record<string, unknown>;
  if (!Array.isArray(input) || input.length === 0 || 'input_b64' in rest || 'shape' in rest) return body;
  const width = Array.isArray(input[0]) ? (input[0] as unknown[]).length : -1;
  if (width <= 0) return body;
  const x = new Float32Array(input.length * width);
  for (let r = 0; r < input.length; r++) {
    const row = input[r] as unknown;
    if (!Array.isArray(row) || row.length !== width) return body;
    for (let c = 0; c < width; c++) {
      const v = row[c] as unknown;
      if (typeof v !== 'number' || !(Math.abs(v) <= maxAbs)) return body;
      x[r * width + c] = v;
      if (!Number.isFinite(x[r * width + c])) return body;
    }
  }
  return { ...rest, input_b64: Buffer.from(x.buffer).toString('base64'), shape: [input.length, width], output_format: rest.output_format ?? 'json' };
}
