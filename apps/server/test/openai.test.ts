/**
 * The OpenAI-compatible endpoints over real HTTP, against `TextModel` run in this process on the
 * same tiny checkpoint folder and backend (`cpu`): greedy and seeded text, chat template, stop
 * strings, usage, streaming (deltas concatenate to the non-streamed text), every refusal with
 * its status and message, metrics, and a client that hangs up mid-stream.
 */
import { TextModel } from '@moe-runtime/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomInput } from '@moe-runtime/core';
import { get, post, rowsOf, smallConfig, startServer, type TestServer } from './helpers.js';
import { localChat, localComplete, metricValue, postStream, tinyModelDir } from './openai-helpers.js';

/** OpenAI's error shape, which these routes answer with. */
interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface Completion {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; text?: string; message?: { role: string; content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

const PROMPT = 'the router picks two experts';
const MESSAGES = [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: 'what is a mixture of experts?' },
];

describe('OpenAI-compatible endpoints', () => {
  let srv: TestServer;
  let mix: TextModel;
  let qwen: TextModel;
  let shortDir: string;
  beforeAll(async () => {
    const [mixDir, qwenDir] = await Promise.all([tinyModelDir({ modelType: 'mixtral', seed: 3 }), tinyModelDir({ modelType: 'qwen2_moe', seed: 4 })]);
    shortDir = await tinyModelDir({ modelType: 'mixtral', seed: 5, maxPositions: 24 });
    [srv, mix, qwen] = await Promise.all([
      startServer({
        backend: ['cpu'],
        models: [
          { id: 'mix', source: 'folder', path: mixDir },
          { id: 'qwen', source: 'folder', path: qwenDir },
          { id: 'short', source: 'folder', path: shortDir },
        ],
        generation: { maxCompletionTokens: 64 },
        // Layers and models side by side: each has its own worker(s).
        layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(8, 4, 2, 12) }],
      }),
      TextModel.load(mixDir, { backend: 'cpu' }),
      TextModel.load(qwenDir, { backend: 'cpu' }),
    ]);
  });
  afterAll(async () => {
    await srv?.close();
    mix?.dispose();
    qwen?.dispose();
  });

  const completions = (): string => `${srv.url}/v1/completions`;
  const chat = (): string => `${srv.url}/v1/chat/completions`;

  it('GET /v1/models lists the served models in the OpenAI format', async () => {
    const res = await get<{ object: string; data: Record<string, unknown>[] }>(`${srv.url}/v1/models`);
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('list');
    expect(res.body.data.map((m) => m.id)).toEqual(['mix', 'qwen', 'short']);
    for (const m of res.body.data) {
      expect(m.object).toBe('model');
      expect(m.owned_by).toBe('moe-runtime');
      expect(Number.isInteger(m.created) && (m.created as number) > 1.7e9).toBe(true);
    }
    expect(res.body.data[2].context_length).toBe(24);
  });

  it('a greedy completion equals TextModel.complete in process (text, finish_reason, usage)', async () => {
    const local = await localComplete(mix, PROMPT, { maxTokens: 24, temperature: 0 });
    const res = await post<Completion>(completions(), { model: 'mix', prompt: PROMPT, max_tokens: 24, temperature: 0, user: 'ignored' });
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('text_completion');
    expect(res.body.id).toMatch(/^cmpl-/);
    expect(res.body.model).toBe('mix');
    expect(res.body.choices).toHaveLength(1);
    expect(res.body.choices[0].text).toBe(local.text);
    expect(local.text.length).toBeGreaterThan(0);
    expect(res.body.choices[0].finish_reason).toBe(local.stats.finishReason);
    expect(res.body.usage).toEqual({
      prompt_tokens: mix.tokenizer.encode(PROMPT).length,
      completion_tokens: local.stats.completionTokens,
      total_tokens: local.stats.promptTokens + local.stats.completionTokens,
    });
  });

  it('a chat completion equals TextModel.chat in process (chat template applied)', async () => {
    for (const [id, model] of [['mix', mix], ['qwen', qwen]] as const) {
      const local = await localChat(model, MESSAGES, { maxTokens: 20, temperature: 0 });
      const res = await post<Completion>(chat(), { model: id, messages: MESSAGES, max_tokens: 20, temperature: 0 });
      expect(res.status).toBe(200);
      expect(res.body.object).toBe('chat.completion');
      expect(res.body.id).toMatch(/^chatcmpl-/);
      expect(res.body.choices[0].message).toEqual({ role: 'assistant', content: local.text });
      expect(res.body.choices[0].finish_reason).toBe(local.stats.finishReason);
      expect(res.body.usage.prompt_tokens).toBe(local.stats.promptTokens);
      expect(res.body.usage.completion_tokens).toBe(local.stats.completionTokens);
    }
  });

  it('streamed completion: deltas concatenate to the non-streamed text, final finish_reason, then [DONE]', async () => {
    const body = { model: 'mix', prompt: PROMPT, max_tokens: 24, temperature: 0 };
    const plain = await post<Completion>(completions(), body);
    const s = await postStream(completions(), { ...body, stream: true, stream_options: { include_usage: true } });
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(s.headers.get('cache-control')).toContain('no-cache');
    expect(s.headers.get('x-accel-buffering')).toBe('no');
    expect(s.done).toBe(true);
    const withChoices = s.events.filter((e) => (e.choices as unknown[]).length > 0) as unknown as Completion[];
    expect(withChoices.every((e) => e.object === 'text_completion' && e.id === withChoices[0].id)).toBe(true);
    expect(withChoices.map((e) => e.choices[0].text).join('')).toBe(plain.body.choices[0].text);
    expect(withChoices.length).toBeGreaterThan(2);
    expect(withChoices.at(-1)!.choices[0].finish_reason).toBe(plain.body.choices[0].finish_reason);
    expect(withChoices.slice(0, -1).every((e) => e.choices[0].finish_reason === null)).toBe(true);
    expect((s.events.at(-1) as unknown as Completion).usage).toEqual(plain.body.usage);
  });

  it('streamed chat: first chunk carries the role, deltas concatenate to the non-streamed content', async () => {
    const body = { model: 'qwen', messages: MESSAGES, max_tokens: 20, temperature: 0 };
    const plain = await post<Completion>(chat(), body);
    const s = await postStream(chat(), { ...body, stream: true });
    expect(s.done).toBe(true);
    type Chunk = { object: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[] };
    const events = s.events as unknown as Chunk[];
    expect(events.every((e) => e.object === 'chat.completion.chunk')).toBe(true);
    expect(events[0].choices[0].delta.role).toBe('assistant');
    expect(events.map((e) => e.choices[0].delta.content ?? '').join('')).toBe(plain.body.choices[0].message!.content);
    expect(events.at(-1)!.choices[0]).toMatchObject({ delta: {}, finish_reason: plain.body.choices[0].finish_reason });
  });

  it('stop strings cut the text before the stop (string and array forms), finish_reason stop', async () => {
    const full = await localComplete(mix, PROMPT, { maxTokens: 24, temperature: 0 });
    const stop = full.text.slice(6, 8);
    const expected = full.text.slice(0, full.text.indexOf(stop));
    const local = await localComplete(mix, PROMPT, { maxTokens: 24, temperature: 0, stop: [stop] });
    expect(local.text).toBe(expected);
    for (const s of [stop, ['never-appears', stop]]) {
      const res = await post<Completion>(completions(), { model: 'mix', prompt: PROMPT, max_tokens: 24, temperature: 0, stop: s });
      expect(res.body.choices[0].text).toBe(expected);
      expect(res.body.choices[0].finish_reason).toBe('stop');
      expect(res.body.usage.completion_tokens).toBe(local.stats.completionTokens);
    }
    const streamed = await postStream(completions(), { model: 'mix', prompt: PROMPT, max_tokens: 24, temperature: 0, stop, stream: true });
    expect(streamed.events.map((e) => (e as unknown as Completion).choices[0].text).join('')).toBe(expected);
  });

  it('seeded sampling is reproducible and equals the in-process sampler with the same seed', async () => {
    const body = { model: 'mix', prompt: PROMPT, max_tokens: 24, temperature: 0.9, top_p: 0.95, top_k: 40, seed: 11 };
    const a = await post<Completion>(completions(), body);
    const b = await post<Completion>(completions(), body);
    const local = await localComplete(mix, PROMPT, { maxTokens: 24, temperature: 0.9, topP: 0.95, topK: 40, seed: 11 });
    expect(a.body.choices[0].text).toBe(local.text);
    expect(b.body.choices[0].text).toBe(local.text);
    // Another seed gives the in-process text of that seed, which differs (a server that ignored
    // the seed, or fixed one of its own, would answer seed 12 with seed 11's text).
    const other = await post<Completion>(completions(), { ...body, seed: 12 });
    const localOther = await localComplete(mix, PROMPT, { maxTokens: 24, temperature: 0.9, topP: 0.95, topK: 40, seed: 12 });
    expect(localOther.text).not.toBe(local.text);
    expect(other.body.choices[0].text).toBe(localOther.text);
  });

  it('concurrent generations share forward passes (continuous batching) and each equals its solo run', async () => {
    const prompts = ['alpha beta', 'gamma delta epsilon', 'zeta', 'eta theta iota kappa', 'lambda mu'];
    const locals = await Promise.all(prompts.map((p) => localComplete(mix, p, { maxTokens: 16, temperature: 0 })));
    const metrics = async () => (await fetch(`${srv.url}/metrics`)).text();
    const before = await metrics();
    const answers = await Promise.all(prompts.map((p) => post<Completion>(completions(), { model: 'mix', prompt: p, max_tokens: 16, temperature: 0 })));
    answers.forEach((a, i) => expect(a.body.choices[0].text).toBe(locals[i].text));
    const after = await metrics();
    const delta = (name: string) => metricValue(after, name, { model: 'mix' }) - metricValue(before, name, { model: 'mix' });
    const steps = delta('moe_generation_steps_total');
    const sequences = delta('moe_generation_step_sequences_total');
    const generated = answers.reduce((n, a) => n + a.body.usage.completion_tokens, 0);
    expect(steps).toBeGreaterThan(0);
    // One request at a time would take a step per prompt and per generated token after the first.
    expect(steps).toBeLessThan(generated);
    // Requests arrive over HTTP at slightly different times, so not every step holds all five;
    // one request at a time would give exactly 1.
    expect(sequences / steps).toBeGreaterThan(1.3);
    expect(delta('moe_generation_step_rows_total')).toBeGreaterThanOrEqual(generated);
  });

  describe('refusals', () => {
    it('400 names the field: temperature, top_p, n, stop, prompt type, unknown field', async () => {
      const cases: [Record<string, unknown>, string, RegExp][] = [
        [{ temperature: -1 }, 'temperature', /^temperature: must be >= 0; expected a number from 0 to 2$/],
        [{ top_p: 0 }, 'top_p', /^top_p: must be > 0/],
        [{ n: 17 }, 'n', /^n: must be <= 16; expected an integer from 1 to 16$/],
        [{ stop: [1] }, 'stop', /^stop: /],
        [{ max_tokens: 0 }, 'max_tokens', /^max_tokens: must be >= 1/],
        [{ prompt: ['a', 'b'] }, 'prompt', /^prompt: must be string/],
        [{ frobnicate: 3 }, 'frobnicate', /^frobnicate: unknown field in the body; expected only model, prompt/],
      ];
      for (const [extra, field, message] of cases) {
        const res = await post<ErrorBody>(completions(), { model: 'mix', prompt: 'x', ...extra });
        expect([res.status, res.body.error.param], JSON.stringify(extra)).toEqual([400, field]);
        expect(res.body.error.message).toMatch(message);
      }
      const res = await post<ErrorBody>(completions(), { prompt: 'x' });
      expect([res.status, res.body.error.param]).toEqual([400, 'model']);
    });

    it("400 names messages[1].role when a message has no role", async () => {
      const res = await post<ErrorBody>(chat(), { model: 'mix', messages: [{ role: 'user', content: 'a' }, { content: 'b' }] });
      expect([res.status, res.body.error.code, res.body.error.param]).toEqual([400, 'missing_required_parameter', 'messages[1].role']);
      expect(res.body.error.message).toMatch(/^messages\[1\]\.role: must have required property 'role'; expected messages as \[\{ role:/);
      const extra = await post<ErrorBody>(chat(), { model: 'mix', messages: [{ role: 'user', content: 'a', weight: 1 }] });
      expect([extra.status, extra.body.error.param]).toEqual([400, 'messages[0].weight']);
      expect(extra.body.error.message).toMatch(/^messages\[0\]\.weight: unknown field in the body; expected only model, messages, max_tokens/);
      const empty = await post<ErrorBody>(chat(), { model: 'mix', messages: [] });
      expect([empty.status, empty.body.error.param]).toEqual([400, 'messages']);
    });

    it('404 names the unknown model and lists the served ones', async () => {
      for (const url of [completions(), chat()]) {
        const body = url === completions() ? { model: 'gpt-4', prompt: 'x' } : { model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] };
        const res = await post<ErrorBody>(url, body);
        expect([res.status, res.body.error.code, res.body.error.param]).toEqual([404, 'model_not_found', 'model']);
        expect(res.body.error.message).toBe("model: unknown model 'gpt-4'; serving: 'mix', 'qwen', 'short'");
      }
    });

    it('400 for max_tokens over the configured cap', async () => {
      const res = await post<ErrorBody>(completions(), { model: 'mix', prompt: 'x', max_tokens: 65 });
      expect([res.status, res.body.error.code, res.body.error.param]).toEqual([400, 'invalid_value', 'max_tokens']);
      expect(res.body.error.message).toBe("max_tokens: 65 is over this server's cap of 64 tokens per request (generation.maxCompletionTokens)");
      const chatRes = await post<ErrorBody>(chat(), { model: 'mix', messages: MESSAGES, max_completion_tokens: 100 });
      expect([chatRes.status, chatRes.body.error.param]).toEqual([400, 'max_completion_tokens']);
    });

    it("400 when prompt + max_tokens exceed the model's context (also for a streamed request: no stream opens)", async () => {
      const prompt = 'a fairly long prompt that is longer than twenty four tokens of this tiny model';
      const ids = mix.tokenizer.encode(prompt).length;
      expect(ids).toBeGreaterThan(24);
      for (const stream of [false, true]) {
        const res = await post<ErrorBody>(completions(), { model: 'short', prompt, max_tokens: 4, stream });
        expect([res.status, res.body.error.code, res.body.error.param]).toEqual([400, 'context_length_exceeded', 'prompt']);
        expect(res.body.error.message).toBe(`prompt: ${ids} prompt tokens + max_tokens 4 exceed model 'short''s context of 24 positions; shorten the prompt or lower max_tokens`);
      }
      const tooMany = await post<ErrorBody>(completions(), { model: 'short', prompt: 'hi', max_tokens: 40 });
      expect([tooMany.status, tooMany.body.error.code]).toEqual([400, 'context_length_exceeded']);
      // Without max_tokens the default is clipped to the room left in the context.
      const clipped = await post<Completion>(completions(), { model: 'short', prompt: 'hi', temperature: 0 });
      expect(clipped.status).toBe(200);
      expect(clipped.body.usage.total_tokens).toBeLessThanOrEqual(24);
    });
  });

  it('metrics count prompt and generated tokens, requests by status, time to first token, decode speed', async () => {
    const before = (await get<string>(`${srv.url}/metrics`)).body;
    const res = await post<Completion>(completions(), { model: 'qwen', prompt: PROMPT, max_tokens: 12, temperature: 0 });
    await post(completions(), { model: 'qwen', prompt: 'x', max_tokens: 1000 });
    const after = (await get<string>(`${srv.url}/metrics`)).body;
    const delta = (name: string, labels: Record<string, string>): number => metricValue(after, name, labels) - metricValue(before, name, labels);
    expect(delta('moe_prompt_tokens_total', { model: 'qwen' })).toBe(res.body.usage.prompt_tokens);
    expect(delta('moe_generated_tokens_total', { model: 'qwen' })).toBe(res.body.usage.completion_tokens);
    expect(delta('moe_generation_requests_total', { model: 'qwen', status: 'ok' })).toBe(1);
    expect(delta('moe_generation_requests_total', { model: 'qwen', status: 'invalid' })).toBe(1);
    expect(delta('moe_time_to_first_token_seconds_count', { model: 'qwen' })).toBe(1);
    expect(delta('moe_decode_tokens_per_second_count', { model: 'qwen' })).toBe(res.body.usage.completion_tokens > 1 ? 1 : 0);
    expect(after).toMatch(/^moe_generation_queue_depth\{model="qwen"\} 0$/m);
    expect(after).toMatch(/moe_http_request_duration_seconds_count\{method="POST",route="\/v1\/completions",status_code="200"\}/);
  });

  it('the layer endpoints keep working beside the models', async () => {
    const res = await post<{ shape: number[] }>(`${srv.url}/v1/layers/l/forward`, { input: rowsOf(randomInput(3, 8, 1).data, 8) });
    expect([res.status, res.body.shape]).toEqual([200, [3, 8]]);
  });

  it('the OpenAPI document has the new routes', async () => {
    const doc = await get<{ paths: Record<string, Record<string, { requestBody?: unknown }>> }>(`${srv.url}/openapi.json`);
    expect(doc.body.paths['/v1/models'].get).toBeDefined();
    expect(doc.body.paths['/v1/completions'].post.requestBody).toBeDefined();
    expect(doc.body.paths['/v1/chat/completions'].post.requestBody).toBeDefined();
  });
});

describe('OpenAI-compatible endpoints: limits, disconnects, timeouts', () => {
  const KEY = 'gen-test-key-0123';
  let srv: TestServer;
  let slow: TestServer;
  const auth = { authorization: `Bearer ${KEY}` };
  beforeAll(async () => {
    const dir = await tinyModelDir({ modelType: 'mixtral', seed: 3 });
    [srv, slow] = await Promise.all([
      startServer({ backend: ['cpu'], apiKey: KEY, models: [{ id: 'm', source: 'folder', path: dir }], generation: { maxConcurrent: 1, maxCompletionTokens: 4000 }, limits: { maxQueuedRequests: 0 } }),
      startServer({ backend: ['cpu'], models: [{ id: 'm', source: 'folder', path: dir }], generation: { maxCompletionTokens: 4000 }, limits: { requestTimeoutMs: 300 } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([srv?.close(), slow?.close()]);
  });

  it('401 without the API key', async () => {
    const res = await post<ErrorBody>(`${srv.url}/v1/completions`, { model: 'm', prompt: 'x' });
    expect([res.status, res.body.error.message]).toEqual([401, 'missing API key: send Authorization: Bearer <key>']);
    expect((await get(`${srv.url}/v1/models`)).status).toBe(401);
    expect((await get(`${srv.url}/v1/models`, auth)).status).toBe(200);
  });

  it('queue full: 503 with Retry-After; a client that hangs up mid-stream frees the slot; /healthz stays fast', async () => {
    const abort = new AbortController();
    const res = await fetch(`${srv.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ model: 'm', prompt: 'hello', max_tokens: 4000, temperature: 0, stream: true }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: \{/);
    // The one slot is taken and no one may wait: refused at once.
    const full = await post<ErrorBody>(`${srv.url}/v1/completions`, { model: 'm', prompt: 'x', max_tokens: 4 }, auth);
    expect([full.status, full.body.error.code]).toEqual([503, 'queue_full']);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(full.body.error.message).toMatch(/^queue for model 'm' is full \(0 generations waiting, limit 0\); retry later$/);
    // The event loop is free while the worker generates.
    const t = performance.now();
    expect((await get(`${srv.url}/healthz`)).status).toBe(200);
    expect(performance.now() - t).toBeLessThan(250);
    abort.abort();
    await reader.cancel().catch(() => undefined);
    // The worker drops the abandoned generation, so the next request gets the slot.
    let next = await post<Completion>(`${srv.url}/v1/completions`, { model: 'm', prompt: 'x', max_tokens: 4, temperature: 0 }, auth);
    let refused = 1;
    // The cancel reaches the worker within one decode step; allow a few retries for it.
    for (let i = 0; i < 20 && next.status === 503; i++, refused++) {
      await new Promise((r) => setTimeout(r, 50));
      next = await post<Completion>(`${srv.url}/v1/completions`, { model: 'm', prompt: 'x', max_tokens: 4, temperature: 0 }, auth);
    }
    expect(next.status).toBe(200);
    expect(next.body.usage.completion_tokens).toBeGreaterThan(0);
    const metrics = (await get<string>(`${srv.url}/metrics`, auth)).body;
    expect(metricValue(metrics, 'moe_generation_requests_total', { model: 'm', status: 'client_gone' })).toBe(1);
    expect(metricValue(metrics, 'moe_generation_requests_total', { model: 'm', status: 'queue_full' })).toBe(refused);
    // Far fewer than 4000 tokens were generated for the abandoned stream.
    expect(metricValue(metrics, 'moe_generated_tokens_total', { model: 'm' })).toBeLessThan(1000);
  });

  it('504 past the per-request timeout (non-streamed), then the server keeps serving', async () => {
    const res = await post<ErrorBody>(`${slow.url}/v1/completions`, { model: 'm', prompt: 'hello', max_tokens: 4000, temperature: 0 });
    expect([res.status, res.body.error.code]).toEqual([504, 'timeout']);
    expect(res.body.error.message).toBe("generation for model 'm' timed out after 300 ms (generating)");
    const ok = await post<Completion>(`${slow.url}/v1/completions`, { model: 'm', prompt: 'x', max_tokens: 3, temperature: 0 });
    expect(ok.status).toBe(200);
  });

  it('a streamed request past the timeout ends with an error event', async () => {
    const s = await postStream(`${slow.url}/v1/completions`, { model: 'm', prompt: 'hello', max_tokens: 4000, temperature: 0, stream: true });
    expect(s.status).toBe(200);
    expect(s.done).toBe(false);
    expect(s.events.at(-1)).toEqual({ error: { message: "generation for model 'm' timed out after 300 ms (generating)", type: 'timeout', param: null, code: 'timeout' } });
  });

  it('a generation worker that dies fails its running generation (500), is replaced, and /readyz follows', async () => {
    // On the server with the default timeout: the 300 ms one could expire first on a loaded machine.
    const running = post<ErrorBody>(`${srv.url}/v1/completions`, { model: 'm', prompt: 'hello', max_tokens: 4000, temperature: 0 }, auth);
    await new Promise((r) => setTimeout(r, 100));
    await srv.server.state.generation!.kill();
    const failed = await running;
    expect([failed.status, failed.body.error.code]).toEqual([500, 'generation']);
    expect(failed.body.error.message).toMatch(/^generation failed: generation worker exited \(code 1\)/);
    let ready = await get(`${srv.url}/readyz`);
    expect(ready.status).toBe(503);
    for (let i = 0; i < 100 && ready.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await get(`${srv.url}/readyz`);
    }
    expect(ready.status).toBe(200);
    const ok = await post<Completion>(`${srv.url}/v1/completions`, { model: 'm', prompt: 'x', max_tokens: 3, temperature: 0 }, auth);
    expect(ok.status).toBe(200);
  });
});

describe('readiness waits for the models', () => {
  it('/readyz is 503 and a generation 503 until the model is loaded', async () => {
    const { createServer, resolveConfig } = await import('../src/index.js');
    const dir = await tinyModelDir({ modelType: 'olmoe', seed: 6 });
    const server = await createServer(resolveConfig({ host: '127.0.0.1', port: 0, logLevel: 'silent', models: [{ id: 'o', source: 'folder', path: dir }] }), { defaultMetrics: false });
    try {
      const url = await server.listen();
      const early = await get<{ reason: string }>(`${url}/readyz`);
      expect([early.status, early.body.reason]).toEqual([503, 'preparing weights']);
      const gen = await post<ErrorBody>(`${url}/v1/completions`, { model: 'o', prompt: 'x' });
      expect([gen.status, gen.body.error.code]).toEqual([503, 'not_ready']);
      expect(gen.headers.get('retry-after')).toBe('1');
      await server.prepared;
      expect((await get(`${url}/readyz`)).status).toBe(200);
      const ok = await post<Completion>(`${url}/v1/completions`, { model: 'o', prompt: 'x', max_tokens: 2 });
      expect(ok.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
