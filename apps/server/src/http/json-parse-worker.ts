/**
 * The JSON parse worker (a worker_threads entry, run from dist/): parses a large request body
 * off the event loop, so probes and small requests keep being answered while it runs, and packs
 * layer input rows (json-parse.ts) so what comes back is one string, not a million numbers to
 * copy.
 */
import { parentPort } from 'node:worker_threads';
import { packInputRows, parseJson } from './json-parse.js';
import { HttpError } from './http-error.js';

/** A body to parse. */
export interface ParseRequest {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly maxAbs: number;
}

/** The parsed body, or the refusal. */
export type ParseResult =
  | { readonly id: number; readonly ok: true; readonly body: unknown }
  | { readonly id: number; readonly ok: false; readonly status: number; readonly code: string; readonly message: string; readonly openaiCode?: string };

const port = parentPort;
if (!port) throw new Error('json-parse-worker.js must run as a worker thread');
const decoder = new TextDecoder();

port.on('message', (msg: ParseRequest) => {
  let result: ParseResult;
  try {
    result = { id: msg.id, ok: true, body: packInputRows(parseJson(decoder.decode(msg.bytes)), msg.maxAbs) };
  } catch (err) {
    const e = err instanceof HttpError ? err : new HttpError(400, 'E_INVALID_JSON', String(err));
    result = { id: msg.id, ok: false, status: e.statusCode, code: e.code, message: e.message, openaiCode: e.openaiCode };
  }
  port.postMessage(result);
});
