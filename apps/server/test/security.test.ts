/**
 * The API key, the Host check and CORS, over raw sockets: the request targets a client sends
 * as it likes (percent-encoded, absolute-form, double slashes, dot segments) must not reach a
 * protected route without the key; without a key, a browser page under another host name
 * (DNS rebinding) gets nothing; CORS is off unless origins are configured.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomInput } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf, smallConfig, startServer, TEST_BACKENDS, type TestServer } from './helpers.js';
import { tinyModelDir } from './openai-helpers.js';
import { rawRequest, type RawResponse } from './raw-http.js';

const D = 8;
const KEY = 'security-key-0123456';
const layer = { id: 'l', source: 'random' as const, seed: 1, config: smallConfig(D, 4, 2, 12) };

function errorOf(res: RawResponse): { message?: string; code?: string } {
  const body = JSON.parse(res.body) as { error?: unknown; message?: string; code?: string };
  return typeof body.error === 'object' && body.error !== null ? (body.error as { message?: string; code?: string }) : body;
}

describe('API key: every spelling of a protected route needs it', () => {
  let srv: TestServer;
  let port: string;
  beforeAll(async () => {
    const dir = await tinyModelDir({ modelType: 'mixtral', seed: 5 });
    srv = await startServer({ apiKey: KEY, backend: ['naive'], layers: [layer], models: [{ id: 'm', source: 'folder', path: dir }] });
    port = new URL(srv.url).port;
  });
  afterAll(() => srv?.close());

  const gets = ['/%761/layers', '/%6detrics', '/v%31/models', '/v1/%6dodels', '//v1/layers', '/v1//layers', '/./v1/layers', '/v1/./layers', '/x/../v1/layers', '/v1/layers/', '/V1/layers', '/%2Fv1/layers', '/v1/layers?x=1', '/v1/layers#frag', '/metrics/'];
  it.each(gets)('GET %s without the key: 401', async (target) => {
    const res = await rawRequest(srv.url, { method: 'GET', target, headers: { connection: 'close' } });
    expect(res.status).toBe(401);
    expect(res.body).not.toContain('mixtral');
  });

  it('absolute-form targets without the key: 401 (GET and POST)', async () => {
    for (const path of ['/v1/layers', '/metrics', '/%761/models', '/v1/backends']) {
      const res = await rawRequest(srv.url, { method: 'GET', target: `http://127.0.0.1:${port}${path}`, headers: { connection: 'close' } });
      expect([path, res.status]).toEqual([path, 401]);
    }
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    for (const target of [`http://127.0.0.1:${port}/v1/chat/completions`, '/%761/chat/completions', `http://127.0.0.1:${port}/%761/chat/completions`]) {
      const res = await rawRequest(srv.url, { method: 'POST', target, headers: { 'content-type': 'application/json', connection: 'close' }, body });
      expect([target, res.status]).toEqual([target, 401]);
    }
    const fwd = JSON.stringify({ input: rowsOf(randomInput(1, D, 7).data, D) });
    const res = await rawRequest(srv.url, { method: 'POST', target: '/v1/layers/%6c/forward', headers: { 'content-type': 'application/json', connection: 'close' }, body: fwd });
    expect(res.status).toBe(401);
  });

  it('the key opens the same spellings; the scheme is case-insensitive; probes and docs stay open', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await rawRequest(srv.url, { method: 'GET', target: '/%761/layers', headers: { authorization: `${scheme} ${KEY}`, connection: 'close' } });
      expect([scheme, res.status]).toEqual([scheme, 200]);
    }
    const wrong = await rawRequest(srv.url, { method: 'GET', target: '/v1/layers', headers: { authorization: `bearer ${KEY}x`, connection: 'close' } });
    expect([wrong.status, errorOf(wrong).message]).toEqual([401, 'invalid API key']);
    for (const target of ['/healthz', '/readyz', '/openapi.json', `http://127.0.0.1:${port}/healthz`]) {
      const res = await rawRequest(srv.url, { method: 'GET', target, headers: { connection: 'close' } });
      expect([target, res.status]).toEqual([target, 200]);
    }
  });

  it('an unknown route without the key is 401, not a 404 that says what exists', async () => {
    const res = await rawRequest(srv.url, { method: 'GET', target: '/v2/secret', headers: { connection: 'close' } });
    expect(res.status).toBe(401);
  });
});

describe('Host check (no key set)', () => {
  let srv: TestServer;
  let port: string;
  beforeAll(async () => {
    srv = await startServer({ backend: ['naive'], layers: [layer], allowedHosts: ['moe.internal'] });
    port = new URL(srv.url).port;
  });
  afterAll(() => srv?.close());

  it('a foreign Host (DNS rebinding) gets 403 on the API; loopback names and configured hosts pass', async () => {
    const evil = await rawRequest(srv.url, { method: 'GET', target: '/v1/layers', headers: { host: `evil.example:${port}`, connection: 'close' } });
    expect(evil.status).toBe(403);
    expect(errorOf(evil).message).toContain("host 'evil.example'");
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST', `moe.internal:${port}`, 'app.localhost']) {
      const res = await rawRequest(srv.url, { method: 'GET', target: '/v1/layers', headers: { host, connection: 'close' } });
      expect([host, res.status]).toEqual([host, 200]);
    }
  });

  it('an absolute-form target names the host that is checked; a request with no Host is refused', async () => {
    const res = await rawRequest(srv.url, { method: 'GET', target: `http://evil.example:${port}/v1/layers`, headers: { host: `127.0.0.1:${port}`, connection: 'close' } });
    expect(res.status).toBe(403);
    const ok = await rawRequest(srv.url, { method: 'GET', target: `http://localhost:${port}/v1/layers`, headers: { host: `localhost:${port}`, connection: 'close' } });
    expect(ok.status).toBe(200);
  });

  it('probes answer whatever the Host (a load balancer probes by address)', async () => {
    const res = await rawRequest(srv.url, { method: 'GET', target: '/healthz', headers: { host: '10.1.2.3', connection: 'close' } });
    expect(res.status).toBe(200);
  });
});

describe('CORS', () => {
  let plain: TestServer;
  let cors: TestServer;
  beforeAll(async () => {
    [plain, cors] = await Promise.all([
      startServer({ backend: ['naive'], layers: [layer] }),
      startServer({ apiKey: KEY, backend: ['naive'], layers: [layer], corsOrigins: ['https://app.example'] }),
    ]);
  });
  afterAll(() => Promise.all([plain?.close(), cors?.close()]));

  const preflight = { method: 'OPTIONS', target: '/v1/layers', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization', connection: 'close' } };

  it('off by default: no Access-Control headers, a preflight is not approved', async () => {
    const pre = await rawRequest(plain.url, preflight);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const res = await rawRequest(plain.url, { method: 'GET', target: '/v1/layers', headers: { origin: 'https://app.example', connection: 'close' } });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('with corsOrigins: the preflight (no key) is approved for that origin only, and answers carry the header', async () => {
    const pre = await rawRequest(cors.url, preflight);
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(pre.headers['access-control-allow-headers']?.toLowerCase()).toContain('authorization');
    const other = await rawRequest(cors.url, { ...preflight, headers: { ...preflight.headers, origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const res = await rawRequest(cors.url, { method: 'GET', target: '/v1/layers', headers: { origin: 'https://app.example', authorization: `Bearer ${KEY}`, connection: 'close' } });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    // An OPTIONS request that is not a preflight still needs the key.
    const bare = await rawRequest(cors.url, { method: 'OPTIONS', target: '/v1/layers', headers: { connection: 'close' } });
    expect(bare.status).toBe(401);
  });
});

describe('binding a non-loopback address without a key', () => {
  const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

  /** Starts the CLI, waits for its "listening" line, stops it; resolves with everything it printed. */
  async function startOutput(args: string[]): Promise<string> {
    const proc = spawn(process.execPath, [CLI, '--port', '0', '--log-level', 'warn', '-b', 'naive', '--backend-module', TEST_BACKENDS, '--hidden', '8', '--ffn', '12', '--experts', '4', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const onData = (b: Buffer): void => {
        out += b.toString();
        if (out.includes('listening on')) resolve();
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      void exited.then(() => reject(new Error(`exited before listening:\n${out}`)));
    });
    proc.kill('SIGKILL');
    await exited;
    return out;
  }

  it('warns on stderr at 0.0.0.0 with no key; not with a key, not on loopback', async () => {
    expect(await startOutput(['--host', '0.0.0.0'])).toContain('moe-server: warning: listening on 0.0.0.0 (reachable from other machines) with no API key');
    expect(await startOutput(['--host', '0.0.0.0', '--api-key', KEY])).not.toContain('warning');
    expect(await startOutput(['--host', '127.0.0.1'])).not.toContain('warning');
  });
});
