/** Test helpers: start a server on 127.0.0.1 with an ephemeral port, and call it over real HTTP. */
import { fileURLToPath } from 'node:url';
import { createServer, resolveConfig, type MoeServer, type PartialServerConfig } from '../src/index.js';

/** The test-double backends module (naive, flaky, broken). */
export const TEST_BACKENDS = fileURLToPath(new URL('./fixtures/test-backends.mjs', import.meta.url));

/** A small SwiGLU layer config for tests. */
export function smallConfig(hiddenSize = 32, numExperts = 4, topK = 2, ffnSize = 48, router: { name: string; options?: Record<string, unknown> } = { name: 'topk-softmax' }) {
  return { hiddenSize, numExperts, topK, expert: { kind: 'swiglu' as const, ffnSize }, router };
}

/** A started server and its base URL. */
export interface TestServer {
  readonly server: MoeServer;
  readonly url: string;
  close(): Promise<void>;
}

/** Starts a server (port 0 on 127.0.0.1, silent, test backends loaded) and waits until ready. */
export async function startServer(partial: PartialServerConfig): Promise<TestServer> {
  const config = resolveConfig({ host: '127.0.0.1', port: 0, logLevel: 'silent', backendModules: [TEST_BACKENDS], ...partial });
  const server = await createServer(config, { defaultMetrics: false });
  try {
    const url = await server.listen();
    await server.prepared;
    return { server, url, close: () => server.close() };
  } catch (err) {
    // A server that failed to start must not leave its workers and listener behind.
    await server.close();
    throw err;
  }
}

/** A JSON response. */
export interface JsonResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** POSTs JSON (or a raw string) and parses the JSON answer. */
export async function post<T = Record<string, unknown>>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as T };
}

/** GETs and parses JSON. */
export async function get<T = Record<string, unknown>>(url: string, headers: Record<string, string> = {}): Promise<JsonResponse<T>> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T };
}

/** Rows of a flat float32 array, as JSON numbers. */
export function rowsOf(x: Float32Array, d: number): number[][] {
  return Array.from({ length: x.length / d }, (_, r) => Array.from(x.subarray(r * d, (r + 1) * d)));
}

/** Float32 values of JSON rows. */
export function flat(rows: number[][]): Float32Array {
  return Float32Array.from(rows.flat());
}

/** Base64 of little-endian float32 (this machine is little-endian). */
export function b64(x: Float32Array): string {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
}

/** Float32 values of base64 little-endian bytes. */
export function fromB64(s: string): Float32Array {
  const bytes = Buffer.from(s, 'base64');
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** True when two float32 arrays are equal bit for bit. */
export function bitwiseEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

/** Relative L2 error ||a - b|| / ||b||. */
export function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
