/**
 * Every refusal has its status and a message that names the field and what was expected:
 * schema errors, wrong row width, NaN/Infinity, too many tokens, unknown layer, body limit,
 * full queue (503 + Retry-After), timeout, API key, and a failing backend (500 for that batch,
 * then the server keeps serving).
 */
import { randomInput } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, get, post, rowsOf, smallConfig, startServer, type TestServer } from './helpers.js';

const D = 8;
const KEY = 'test-key-0123456789';

interface ErrorBody {
  error: string;
  code: string;
  message: string;
  field?: string;
}

describe('input validation', () => {
  let srv: TestServer;
  let fwd: string;
  beforeAll(async () => {
    srv = await startServer({
      backend: ['naive'],
      layers: [
        { id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) },
        { id: 'hashed', source: 'random', seed: 2, config: smallConfig(D, 4, 1, 12, { name: 'hash' }) },
      ],
      limits: { maxTokensPerRequest: 4, bodyLimitBytes: 4096 },
    });
    fwd = `${srv.url}/v1/layers/l/forward`;
  });
  afterAll(() => srv?.close());

  const x = (t: number) => rowsOf(randomInput(t, D, 5).data, D);

  it('400 names a non-number entry', async () => {
    const rows = x(2) as unknown[][];
    rows[1][3] = 'oops';
    const res = await post<ErrorBody>(fwd, { input: rows });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('input[1][3]');
    expect(res.body.message).toMatch(/^input\[1\]\[3\]: must be number; expected input as number\[T\]\[D\], finite numbers/);
  });

  it('400 for wrong types and unknown fields', async () => {
    let res = await post<ErrorBody>(fwd, { input: 'nope' });
    expect([res.status, res.body.field]).toEqual([400, 'input']);
    expect(res.body.message).toContain('must be array');
    res = await post<ErrorBody>(fwd, { input: x(1), return_routing: 'yes' });
    expect([res.status, res.body.field]).toEqual([400, 'return_routing']);
    expect(res.body.message).toContain('must be boolean');
    res = await post<ErrorBody>(fwd, { input: x(1), temperature: 1 });
    expect([res.status, res.body.field]).toEqual([400, 'temperature']);
    expect(res.body.message).toContain('unknown field');
    res = await post<ErrorBody>(fwd, {});
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('expected exactly one of input');
    res = await post<ErrorBody>(fwd, '{"input": [[1, 2,');
    expect([res.status, res.body.code]).toEqual([400, 'E_INVALID_JSON']);
  });

  it('400 for a row of the wrong width, with the expected shape', async () => {
    const rows = x(3);
    rows[2] = rows[2].slice(0, 5);
    const res = await post<ErrorBody>(fwd, { input: rows });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('input[2]');
    expect(res.body.message).toBe(`input[2]: has 5 values; expected ${D} (rows of the layer's hiddenSize: input is number[T][${D}])`);
  });

  it('400 for Infinity (1e999 in JSON) and NaN (in base64)', async () => {
    let res = await post<ErrorBody>(fwd, `{"input": [[1e999, 0, 0, 0, 0, 0, 0, 0]]}`);
    // JSON parses 1e999 to Infinity; the schema check (finite numbers only) refuses it.
    expect([res.status, res.body.field]).toEqual([400, 'input[0][0]']);
    expect(res.body.message).toBe('input[0][0]: must be number; expected input as number[T][D], finite numbers (JSON rows of the layer hiddenSize)');
    const bad = randomInput(2, D, 6).data;
    bad[D + 4] = NaN;
    res = await post<ErrorBody>(fwd, { input_b64: b64(bad), shape: [2, D] });
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('input_b64[1, 4]: is NaN; inputs must be finite numbers');
  });

  it('400 for a finite JSON number beyond the float32 range (it would become Infinity)', async () => {
    const rows = x(2);
    rows[1][6] = -1e39;
    const res = await post<ErrorBody>(fwd, { input: rows });
    expect([res.status, res.body.code, res.body.field]).toEqual([400, 'E_INVALID_INPUT', 'input[1][6]']);
    expect(res.body.message).toBe('input[1][6]: is -1e+39; expected a float32 value, |x| <= 3.4028234663852886e+38');
  });

  it('400 for base64 of the wrong length or shape', async () => {
    let res = await post<ErrorBody>(fwd, { input_b64: b64(randomInput(2, D, 7).data), shape: [3, D] });
    expect(res.status).toBe(400);
    expect(res.body.message).toBe(`input_b64: decodes to ${2 * D * 4} bytes; shape [3, ${D}] needs ${3 * D * 4} (little-endian float32)`);
    res = await post<ErrorBody>(fwd, { input_b64: b64(randomInput(2, D, 7).data), shape: [2, 5] });
    expect(res.body.message).toBe(`shape: is [2, 5]; expected [T, ${D}] (the layer's hiddenSize is ${D})`);
    res = await post<ErrorBody>(fwd, { input_b64: b64(randomInput(2, D, 7).data) });
    expect(res.body.message).toBe(`shape: is required with input_b64; expected [T, ${D}]`);
  });

  it('413 for too many tokens, naming the limit', async () => {
    const res = await post<ErrorBody>(fwd, { input: x(5) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('E_TOO_MANY_TOKENS');
    expect(res.body.message).toBe('input: 5 tokens exceed the limit of 4 tokens per request; split the request');
  });

  it('413 for a body over the size limit', async () => {
    const res = await post<ErrorBody>(fwd, { input: x(1), pad: 'x'.repeat(5000) });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('E_BODY_TOO_LARGE');
  });

  it('404 for an unknown layer, listing the served ones', async () => {
    const res = await post<ErrorBody>(`${srv.url}/v1/layers/nope/forward`, { input: x(1) });
    expect(res.status).toBe(404);
    expect(res.body.message).toBe("unknown layer 'nope'; serving: 'l', 'hashed'");
  });

  it('400 when a router needs token ids and none are given; 200 with them', async () => {
    const url = `${srv.url}/v1/layers/hashed/forward`;
    let res = await post<ErrorBody>(url, { input: x(2) });
    expect(res.status).toBe(400);
    expect(res.body.message).toBe("token_ids: is required: router 'hash' routes by token id; expected integer[2]");
    res = await post<ErrorBody>(url, { input: x(2), token_ids: [1] });
    expect(res.body.message).toBe('token_ids: has 1 entries; expected one per token (2)');
    res = await post<ErrorBody>(url, { input: x(2), token_ids: [5, -1] });
    expect([res.status, res.body.field]).toEqual([400, 'token_ids[1]']);
    res = await post(url, { input: x(2), token_ids: [5, 9], return_routing: true });
    expect(res.status).toBe(200);
  });
});

describe('back-pressure, timeouts and backend failures', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({
      backend: [{ name: 'flaky', options: { delayMs: 150 } }],
      layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }],
      batching: { mode: 'per-request', windowMs: 0 },
      limits: { maxQueuedRequests: 2, requestTimeoutMs: 1000 },
    });
  });
  afterAll(() => srv?.close());
  const fwd = () => `${srv.url}/v1/layers/l/forward`;

  it('503 with Retry-After when the queue is full; the accepted requests still succeed', async () => {
    // One runs, two wait, the rest overflow.
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => post<ErrorBody>(fwd(), { input: rowsOf(randomInput(1, D, 50 + i).data, D) })));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3);
    const full = answers.filter((a) => a.status === 503);
    expect(full.length).toBeGreaterThan(0);
    for (const a of full) {
      expect(a.body.code).toBe('E_QUEUE_FULL');
      expect(a.body.message).toMatch(/^queue for layer 'l' is full \(2 requests waiting, limit 2\); retry later$/);
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  });

  it('504 when a request waits past its timeout', async () => {
    // After the overflow above, requests within the limits are served again.
    const answers = await Promise.all(Array.from({ length: 3 }, (_, i) => post<ErrorBody>(fwd(), { input: rowsOf(randomInput(1, D, 60 + i).data, D) })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // A batch takes 400 ms, the timeout is 300 ms: the request times out while running.
    const slow = await startServer({
      backend: [{ name: 'naive', options: { delayMs: 400 } }],
      layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }],
      batching: { mode: 'per-request' },
      limits: { requestTimeoutMs: 300 },
    });
    try {
      const res = await post<ErrorBody>(`${slow.url}/v1/layers/l/forward`, { input: rowsOf(randomInput(1, D, 9).data, D) });
      expect(res.status).toBe(504);
      expect(res.body.message).toBe("request for layer 'l' timed out after 300 ms (running)");
    } finally {
      await slow.close();
    }
  });

  it('a caller that hangs up while waiting leaves the queue without being computed', async () => {
    const running = post(fwd(), { input: rowsOf(randomInput(1, D, 90).data, D) });
    await new Promise((r) => setTimeout(r, 30));
    const ctl = new AbortController();
    const gone = fetch(fwd(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: rowsOf(randomInput(1, D, 91).data, D) }), signal: ctl.signal });
    await new Promise((r) => setTimeout(r, 30));
    ctl.abort();
    await expect(gone).rejects.toThrow();
    expect((await running).status).toBe(200);
    const metrics = (await get<string>(`${srv.url}/metrics`)).body;
    expect(metrics).toMatch(/moe_requests_rejected_total\{layer="l",reason="client_gone"\} 1\n/);
  });

  it('a crashed inference worker fails its batch (500) and is replaced', async () => {
    const poisoned = randomInput(1, D, 72).data;
    poisoned[0] = 666;
    const bad = await post<ErrorBody>(fwd(), { input: rowsOf(poisoned, D) });
    expect(bad.status).toBe(500);
    expect(bad.body.message).toContain('inference worker 0 exited (code 3)');
    // The replacement worker starts (on a loaded machine that can outlast this block's 1 s
    // request timeout, so wait for readiness first), then requests succeed again.
    for (let i = 0; i < 300 && (await get(`${srv.url}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    const good = await post(fwd(), { input: rowsOf(randomInput(1, D, 73).data, D) });
    expect(good.status).toBe(200);
  });

  it('500 for the failing batch only; the server keeps serving', async () => {
    const poisoned = randomInput(2, D, 70).data;
    poisoned[3] = 777;
    const bad = await post<ErrorBody>(fwd(), { input: rowsOf(poisoned, D) });
    expect(bad.status).toBe(500);
    expect(bad.body.message).toContain('flaky test backend: refusing an input that contains 777');
    expect(bad.body.message).toContain("forward failed for layer 'l'");
    const good = await post(fwd(), { input: rowsOf(randomInput(2, D, 71).data, D) });
    expect(good.status).toBe(200);
    const health = await get(`${srv.url}/readyz`);
    expect(health.status).toBe(200);
  });
});

describe('a failing request shares a batch with others', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({
      backend: ['flaky'],
      layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }],
      batching: { mode: 'across-requests', windowMs: 200, maxBatchTokens: 64 },
    });
  });
  afterAll(() => srv?.close());

  it('only the culprit gets the 500; its batch-mates are run again alone and answered', async () => {
    const fwd = `${srv.url}/v1/layers/l/forward`;
    const inputs = Array.from({ length: 4 }, (_, i) => randomInput(2, D, 300 + i).data);
    inputs[2][5] = 777;
    const answers = await Promise.all(inputs.map((x) => post<ErrorBody & { output: number[][]; batch: { requests: number } }>(fwd, { input: rowsOf(x, D) })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 500, 200]);
    expect(answers[2].body.message).toBe("forward failed for layer 'l' (batch of 1 request(s)): flaky test backend: refusing an input that contains 777");
    // The good answers are the rows a lone run gives (deterministic backend).
    for (const i of [0, 1, 3]) {
      const alone = await post<{ output: number[][] }>(fwd, { input: rowsOf(inputs[i], D) });
      expect(answers[i].body.output).toEqual(alone.body.output);
      expect(answers[i].body.output.flat().every(Number.isFinite)).toBe(true);
    }
  });
});

describe('API key', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ apiKey: KEY, backend: ['naive'], layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }] });
  });
  afterAll(() => srv?.close());

  it('401 without or with a wrong key; 200 with the right one; probes stay open', async () => {
    const body = { input: rowsOf(randomInput(1, D, 80).data, D) };
    let res = await post<ErrorBody>(`${srv.url}/v1/layers/l/forward`, body);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.body.message).toBe('missing API key: send Authorization: Bearer <key>');
    res = await post<ErrorBody>(`${srv.url}/v1/layers/l/forward`, body, { authorization: 'Bearer wrong-key-000' });
    expect([res.status, res.body.message]).toEqual([401, 'invalid API key']);
    expect((await get(`${srv.url}/metrics`)).status).toBe(401);
    expect((await get(`${srv.url}/v1/layers`)).status).toBe(401);
    res = await post<ErrorBody>(`${srv.url}/v1/layers/l/forward`, body, { authorization: `Bearer ${KEY}` });
    expect(res.status).toBe(200);
    expect((await get(`${srv.url}/healthz`)).status).toBe(200);
    expect((await get(`${srv.url}/readyz`)).status).toBe(200);
  });
});
