/**
 * Refusals that used to cost the server (or mislead the client): a huge prompt refused by its
 * characters before tokenizing, huge finite inputs refused before the batch, and the small
 * ones of the bad-input campaign (media types, encodings, `__proto__`, echoed ids).
 */
import { randomInput } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, post, rowsOf, smallConfig, startServer, type TestServer } from './helpers.js';
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
});
