/**
 * Turns a validated forward body into float32 rows, with a 400 that names the field and the
 * expected shape for everything the JSON schema cannot know: the layer's row width, finiteness,
 * the token limit, base64 length and token id count.
 */
import { badRequest, HttpError } from '../http/http-error.js';

/** The forward request body (after JSON-schema validation). */
export interface ForwardBody {
  input?: number[][];
  input_b64?: string;
  shape?: number[];
  token_ids?: number[];
  return_routing?: boolean;
  output_format?: 'json' | 'base64';
}

/** Decoded input rows. */
export interface DecodedInput {
  readonly x: Float32Array;
  readonly rows: number;
  readonly tokenIds?: Int32Array;
  readonly outputFormat: 'json' | 'base64';
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const FLOAT32_MAX = 3.4028234663852886e38;

function tooMany(rows: number, max: number): HttpError {
  return new HttpError(413, 'E_TOO_MANY_TOKENS', `input: ${rows} tokens exceed the limit of ${max} tokens per request; split the request`, { field: 'input' });
}

/** A value past `maxAbs` (a 400 before the batch: it would overflow inside compute and fail the batch it shares). */
function tooLarge(field: string, v: number, maxAbs: number): HttpError {
  return badRequest(field, `is ${v}; expected |x| <= ${maxAbs} (limits.maxAbsInput: larger values overflow float32 inside the experts)`);
}

function fromRows(input: number[][], d: number, max: number, maxAbs: number): Float32Array {
  if (input.length > max) throw tooMany(input.length, max);
  const x = new Float32Array(input.length * d);
  for (let r = 0; r < input.length; r++) {
    const row = input[r];
    if (row.length !== d) throw badRequest(`input[${r}]`, `has ${row.length} values; expected ${d} (rows of the layer's hiddenSize: input is number[T][${d}])`);
    for (let c = 0; c < d; c++) {
      const v = row[c];
      if (!Number.isFinite(v)) throw badRequest(`input[${r}][${c}]`, `is ${v}; inputs must be finite numbers`);
      x[r * d + c] = v;
      // A finite double past the float32 range rounds to Infinity: refuse it here, not in the batch.
      if (!Number.isFinite(x[r * d + c])) throw badRequest(`input[${r}][${c}]`, `is ${v}; expected a float32 value, |x| <= ${FLOAT32_MAX}`);
      if (Math.abs(v) > maxAbs) throw tooLarge(`input[${r}][${c}]`, v, maxAbs);
    }
  }
  return x;
}

function fromBase64(b64: string, shape: number[] | undefined, d: number, max: number, maxAbs: number): Float32Array {
  if (!shape) throw badRequest('shape', `is required with input_b64; expected [T, ${d}]`);
  const [t, width] = shape;
  if (width !== d) throw badRequest('shape', `is [${shape.join(', ')}]; expected [T, ${d}] (the layer's hiddenSize is ${d})`);
  if (t < 1) throw badRequest('shape', `is [${shape.join(', ')}]; expected T >= 1`);
  if (t > max) throw tooMany(t, max);
  if (b64.length % 4 !== 0 || !BASE64.test(b64)) throw badRequest('input_b64', 'is not valid base64 (standard alphabet, padded)');
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length !== t * d * 4) {
    throw badRequest('input_b64', `decodes to ${bytes.length} bytes; shape [${t}, ${d}] needs ${t * d * 4} (little-endian float32)`);
  }
  // Copy into a fresh aligned buffer (Node's pooled Buffers may start at any offset).
  const x = new Float32Array(t * d);
  if (LITTLE_ENDIAN) new Uint8Array(x.buffer).set(bytes);
  else for (let i = 0; i < x.length; i++) x[i] = bytes.readFloatLE(i * 4);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw badRequest(`input_b64[${Math.floor(i / d)}, ${i % d}]`, `is ${x[i]}; inputs must be finite numbers`);
    if (Math.abs(x[i]) > maxAbs) throw tooLarge(`input_b64[${Math.floor(i / d)}, ${i % d}]`, x[i], maxAbs);
  }
  return x;
}

/** Decodes and checks a forward body for a layer of width `d`; entries past `maxAbs` in magnitude are refused. */
export function decodeForwardBody(body: ForwardBody, d: number, maxTokens: number, needsTokenIds: boolean, routerName: string, maxAbs = Infinity): DecodedInput {
  const hasRows = body.input !== undefined;
  const hasB64 = body.input_b64 !== undefined;
  if (hasRows === hasB64) {
    throw badRequest('input', `expected exactly one of input (number[T][${d}]) or input_b64 (base64 float32) with shape [T, ${d}]`);
  }
  if (hasRows && body.shape !== undefined) throw badRequest('shape', 'goes with input_b64 only; JSON rows carry their own shape');
  const x = hasRows ? fromRows(body.input!, d, maxTokens, maxAbs) : fromBase64(body.input_b64!, body.shape, d, maxTokens, maxAbs);
  const rows = x.length / d;
  let tokenIds: Int32Array | undefined;
  if (body.token_ids !== undefined) {
    if (body.token_ids.length !== rows) throw badRequest('token_ids', `has ${body.token_ids.length} entries; expected one per token (${rows})`);
    tokenIds = Int32Array.from(body.token_ids);
  } else if (needsTokenIds) {
    throw badRequest('token_ids', `is required: router '${routerName}' routes by token id; expected integer[${rows}]`);
  }
  return { x, rows, tokenIds, outputFormat: body.output_format ?? (hasRows ? 'json' : 'base64') };
}

/** Float32 rows as JSON rows. */
export function toRows(x: Float32Array, d: number): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r < x.length / d; r++) rows.push(Array.from(x.subarray(r * d, (r + 1) * d)));
  return rows;
}

/**
 * JSON text of a forward answer. Built with JSON.stringify (V8's fast path for arrays of
 * doubles) rather than the schema serialiser, which is several times slower on 10^4 numbers;
 * a float32 value printed as its double round-trips exactly.
 */
export function forwardJson(answer: Record<string, unknown>): string {
  return JSON.stringify(answer);
}

/** Float32 values as base64 little-endian bytes. */
export function toBase64(x: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
  const b = Buffer.alloc(x.length * 4);
  for (let i = 0; i < x.length; i++) b.writeFloatLE(x[i], i * 4);
  return b.toString('base64');
}
