/**
 * The official `openai` SDK as the client: every refusal on the OpenAI-compatible routes must
 * reach it as OpenAI's error shape, so the SDK's error exposes status, code, param and message
 * (with the old `{ error: "<status text>" }` body it saw only a bare "400 Bad Request").
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers.js';
import { tinyModelDir } from './openai-helpers.js';

const KEY = 'sdk-test-key-012345';

/** The SDK's error of a call that must fail. */
async function sdkError(call: () => Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call();
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('OpenAI SDK sees OpenAI-shaped errors', () => {
  let srv: TestServer;
  let client: OpenAI;
  beforeAll(async () => {
    const dir = await tinyModelDir({ modelType: 'mixtral', seed: 9, maxPositions: 24 });
    srv = await startServer({ backend: ['cpu'], apiKey: KEY, models: [{ id: 'short', source: 'folder', path: dir }], generation: { maxCompletionTokens: 64 } });
    client = new OpenAI({ apiKey: KEY, baseURL: `${srv.url}/v1`, maxRetries: 0 });
  });
  afterAll(() => srv?.close());

  it('a prompt over the context: 400 context_length_exceeded naming the field (plain and streamed)', async () => {
    // Long in tokens but under the characters bound (prompt-bound.ts), so the exact check after tokenizing answers.
    const prompt = 'many words in this prompt '.repeat(3);
    for (const stream of [false, true]) {
      const err = await sdkError(async () => {
        const res = await client.completions.create({ model: 'short', prompt, max_tokens: 4, stream });
        if (stream) for await (const _ of res as AsyncIterable<unknown>) void _;
      });
      expect([err.status, err.code, err.param, err.type]).toEqual([400, 'context_length_exceeded', 'prompt', 'invalid_request_error']);
      expect(err.message).toMatch(/prompt tokens \+ max_tokens 4 exceed model 'short''s context of 24 positions/);
    }
    const chat = await sdkError(() => client.chat.completions.create({ model: 'short', messages: [{ role: 'user', content: prompt }], max_tokens: 4 }));
    expect([chat.status, chat.code, chat.param]).toEqual([400, 'context_length_exceeded', 'messages']);
  });

  it('unknown model: 404 model_not_found, param model', async () => {
    const err = await sdkError(() => client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }));
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect([err.status, err.code, err.param]).toEqual([404, 'model_not_found', 'model']);
    expect(err.message).toContain("unknown model 'gpt-4o'; serving: 'short'");
  });

  it('a bad parameter: 400 naming it, with the reason in code', async () => {
    const err = await sdkError(() => client.completions.create({ model: 'short', prompt: 'x', temperature: -1 }));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect([err.status, err.code, err.param]).toEqual([400, 'invalid_value', 'temperature']);
    expect(err.message).toContain('temperature: must be >= 0');
    const missing = await sdkError(() => client.chat.completions.create({ model: 'short', messages: [{ content: 'hi' } as never] }));
    expect([missing.code, missing.param]).toEqual(['missing_required_parameter', 'messages[0].role']);
    const cap = await sdkError(() => client.completions.create({ model: 'short', prompt: 'x', max_tokens: 65 }));
    expect([cap.status, cap.code, cap.param]).toEqual([400, 'invalid_value', 'max_tokens']);
  });

  it('a wrong key: 401 authentication_error, invalid_api_key', async () => {
    const bad = new OpenAI({ apiKey: 'not-the-key-000', baseURL: `${srv.url}/v1`, maxRetries: 0 });
    const err = await sdkError(() => bad.models.list());
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect([err.status, err.code, err.type, err.param]).toEqual([401, 'invalid_api_key', 'authentication_error', null]);
    expect(err.message).toContain('invalid API key');
  });

  it('an endpoint this server lacks: 404 unknown_url in the same shape', async () => {
    const err = await sdkError(() => client.embeddings.create({ model: 'short', input: 'x' }));
    expect([err.status, err.code]).toEqual([404, 'unknown_url']);
    expect(err.message).toContain('no route POST /v1/embeddings');
  });

  it('the layer RPC routes keep their own shape', async () => {
    const res = await fetch(`${srv.url}/v1/layers/none/forward`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{"input":[[1]]}' });
    const body = (await res.json()) as { error: unknown; code: unknown };
    expect([res.status, body.error, body.code]).toEqual([404, 'Not Found', 'E_UNKNOWN_LAYER']);
  });
});
