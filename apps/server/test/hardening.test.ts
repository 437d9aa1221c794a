/**
 * Refusals that used to cost the server (or mislead the client): a huge prompt refused by its
 * characters before tokenizing, huge finite inputs refused before the batch, and the small
 * ones of the bad-input campaign (media types, encodings, `__proto__`, echoed ids).
 */
import { randomInput } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, bitwiseEqual, fromB64, post, rowsOf, smallConfig, startServer, type TestServer } from './helpers.js';
import { metricValue, tinyModelDir } from './openai-helpers.js';

const D = 8;

interface LayerError {
  error: string;
  code: string;
  message: string;
  field?: string;
}

interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

describe('hardening', () => {
  let srv: TestServer;
  beforeAll(async () => {
    const dir = await tinyModelDir({ modelType: 'mixtral', seed: 4, maxPositions: 24 });
    srv = await startServer({
      backend: ['cpu'],
      layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }],
      models: [{ id: 'short', source: 'folder', path: dir }],
      generation: { maxCompletionTokens: 64 },
    });
  });
  afterAll(() => srv?.close());

  it('a 10 MB prompt: 400 context_length_exceeded by its characters, never tokenized', async () => {
    const prompt = 'abcdefghij'.repeat(1024 * 1024);
    const res = await post<OpenAIError>(`${srv.url}/v1/completions`, { model: 'short', prompt, max_tokens: 2 });
    expect([res.status, res.body.error.code, res.body.error.param]).toEqual([400, 'context_length_exceeded', 'prompt']);
    expect(res.body.error.message).toMatch(/^prompt: 10485760 characters cannot fit model 'short''s context of 24 positions \(no token is longer than \d+ characters, so at most \d+ characters fit\)/);
    const chat = await post<OpenAIError>(`${srv.url}/v1/chat/completions`, { model: 'short', messages: [{ role: 'user', content: prompt }] });
    expect([chat.status, chat.body.error.code, chat.body.error.param]).toEqual([400, 'context_length_exceeded', 'messages']);
    // Nothing reached the worker: no prompt token was counted.
    expect(metricValue(await (await fetch(`${srv.url}/metrics`)).text(), 'moe_prompt_tokens_total', { model: 'short' })).toBe(0);
  });

  it('1e30 in a layer input: 400 naming the entry before the batch (it used to fail the batch as a 500)', async () => {
    const rows = rowsOf(randomInput(2, D, 31).data, D);
    rows[1][3] = 1e30;
    const res = await post<LayerError>(`${srv.url}/v1/layers/l/forward`, { input: rows });
    expect([res.status, res.body.code, res.body.field]).toEqual([400, 'E_INVALID_INPUT', 'input[1][3]']);
    expect(res.body.message).toBe('input[1][3]: is 1e+30; expected |x| <= 1000000 (limits.maxAbsInput: larger values overflow float32 inside the experts)');
    const x = randomInput(2, D, 32).data;
    x[D + 5] = -3e29;
    const b = await post<LayerError>(`${srv.url}/v1/layers/l/forward`, { input_b64: b64(x), shape: [2, D] });
    expect([b.status, b.body.field]).toEqual([400, 'input_b64[1, 5]']);
    const ok = rowsOf(randomInput(1, D, 33).data.map((v) => v * 5e4), D);
    expect((await post(`${srv.url}/v1/layers/l/forward`, { input: ok })).status).toBe(200);
    const errors = metricValue(await (await fetch(`${srv.url}/metrics`)).text(), 'moe_backend_errors_total', { layer: 'l' });
    expect(errors).toBe(0);
  });

  it('text/plain carrying JSON: 415 naming the media type (it was a 400 about the body type)', async () => {
    const body = JSON.stringify({ input: rowsOf(randomInput(1, D, 34).data, D) });
    const res = await post<LayerError>(`${srv.url}/v1/layers/l/forward`, body, { 'content-type': 'text/plain' });
    expect([res.status, res.body.code]).toEqual([415, 'E_MEDIA_TYPE']);
    expect(res.body.message).toContain('send Content-Type: application/json');
  });

  it('a Content-Encoding: 415 (the gzip bytes are not read as JSON); identity passes', async () => {
    const body = JSON.stringify({ input: rowsOf(randomInput(1, D, 35).data, D) });
    const res = await post<LayerError>(`${srv.url}/v1/layers/l/forward`, body, { 'content-encoding': 'gzip' });
    expect([res.status, res.body.code, res.body.message]).toEqual([415, 'E_CONTENT_ENCODING', "Content-Encoding 'gzip' is not supported; send the body uncompressed (Content-Encoding: identity or none)"]);
    expect((await post(`${srv.url}/v1/layers/l/forward`, body, { 'content-encoding': 'identity' })).status).toBe(200);
  });

  it('a __proto__ key: 400 that says so (not a hint about NaN and Infinity)', async () => {
    const res = await post<LayerError>(`${srv.url}/v1/layers/l/forward`, '{"input":[[1,2,3,4,5,6,7,8]],"__proto__":{"x":1}}');
    expect([res.status, res.body.code]).toEqual([400, 'E_FORBIDDEN_KEY']);
    expect(res.body.message).toBe('body: has a "__proto__" key (or "constructor" with "prototype"), which is refused as prototype pollution; remove that key');
    const chat = await post<OpenAIError>(`${srv.url}/v1/chat/completions`, '{"model":"short","messages":[{"role":"user","content":"hi","__proto__":{}}]}');
    expect([chat.status, chat.body.error.code]).toEqual([400, 'forbidden_key']);
  });

  it('ids echoed back in errors are cut to 80 characters', async () => {
    const id = 'm'.repeat(10_000);
    const res = await post<OpenAIError>(`${srv.url}/v1/completions`, { model: id, prompt: 'x' });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toBe(`model: unknown model '${'m'.repeat(80)}... (10000 characters)'; serving: 'short'`);
    const layer = await post<LayerError>(`${srv.url}/v1/layers/${'y'.repeat(95)}/forward`, { input: [[1]] });
    expect([layer.status, layer.body.message]).toEqual([404, `unknown layer '${'y'.repeat(80)}... (95 characters)'; serving: 'l'`]);
    const route = await post<LayerError>(`${srv.url}/v2/${'x'.repeat(5000)}`, {});
    expect([route.status, route.body.message]).toEqual([404, `no route POST /v2/${'x'.repeat(76)}... (5004 characters); see /docs`]);
  });
});

describe('generated tokens are counted as they are made', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // Seed 3 answers 'hello' without an early end of sequence (as the timeout tests in openai.test.ts rely on).
    const dir = await tinyModelDir({ modelType: 'mixtral', seed: 3 });
    srv = await startServer({ backend: ['cpu'], models: [{ id: 'm', source: 'folder', path: dir }], generation: { maxCompletionTokens: 4000 }, limits: { requestTimeoutMs: 1000 } });
  });
  afterAll(() => srv?.close());

  it('a generation cut by its timeout still counts the tokens it made (it used to count none)', async () => {
    const res = await post<OpenAIError>(`${srv.url}/v1/completions`, { model: 'm', prompt: 'hello', max_tokens: 4000, temperature: 0 });
    expect([res.status, res.body.error.code]).toEqual([504, 'timeout']);
    expect(res.body.error.message).toContain('(generating)');
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metricValue(metrics, 'moe_generated_tokens_total', { model: 'm' })).toBeGreaterThan(0);
  });
});

describe('large JSON bodies are parsed on the parse worker', () => {
  const W = 128;
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ backend: ['naive'], layers: [{ id: 'wide', source: 'random', seed: 2, config: smallConfig(W, 4, 2, 16) }] });
  });
  afterAll(() => srv?.close());
  const parsedInWorker = async (): Promise<number> => metricValue(await (await fetch(`${srv.url}/metrics`)).text(), 'moe_request_bodies_parsed_in_worker_total');

  it('a 2 MB forward of JSON rows: parsed off the event loop, answered exactly as the same rows in base64', async () => {
    const x = randomInput(1024, W, 51).data;
    const body = JSON.stringify({ input: rowsOf(x, W) });
    expect(body.length).toBeGreaterThan(1 << 20);
    const before = await parsedInWorker();
    const big = await post<{ output: number[][]; shape: number[] }>(`${srv.url}/v1/layers/wide/forward`, body);
    expect(big.status).toBe(200);
    expect(await parsedInWorker()).toBe(before + 1);
    const ref = await post<{ output_b64: string }>(`${srv.url}/v1/layers/wide/forward`, { input_b64: b64(x), shape: [1024, W] });
    expect(bitwiseEqual(Float32Array.from(big.body.output.flat()), fromB64(ref.body.output_b64))).toBe(true);
    expect(big.body.shape).toEqual([1024, W]);
  });

  it('a large body with a fault gets the same answer as a small one would', async () => {
    const rows = rowsOf(randomInput(1024, W, 52).data, W);
    rows[700] = rows[700].slice(1);
    const ragged = await post<LayerError>(`${srv.url}/v1/layers/wide/forward`, JSON.stringify({ input: rows }));
    expect([ragged.status, ragged.body.field]).toEqual([400, 'input[700]']);
    rows[700] = [...rows[701]];
    rows[5][9] = 1e30;
    const huge = await post<LayerError>(`${srv.url}/v1/layers/wide/forward`, JSON.stringify({ input: rows }));
    expect([huge.status, huge.body.field]).toEqual([400, 'input[5][9]']);
    const text = JSON.stringify({ input: rows.slice(0, 1000), __proto__x: 1 }).replace('"__proto__x":1', '"__proto__":{"polluted":true}');
    const proto = await post<LayerError>(`${srv.url}/v1/layers/wide/forward`, text);
    expect([proto.status, proto.body.code]).toEqual([400, 'E_FORBIDDEN_KEY']);
    const broken = await post<LayerError>(`${srv.url}/v1/layers/wide/forward`, JSON.stringify({ input: rows }).slice(0, -3));
    expect([broken.status, broken.body.code]).toEqual([400, 'E_INVALID_JSON']);
  });
});
