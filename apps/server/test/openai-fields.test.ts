/**
 * The OpenAI request fields beyond the basics, over real HTTP against `TextModel` in this
 * process: penalties, log-probabilities (chat and completion shapes, streamed too), n > 1,
 * response_format, tools, tool and assistant messages, content parts, nulls for optional
 * fields, harmless fields, and GET /v1/models/{id}.
 */
import OpenAI from 'openai';
import { TextModel, type GenerateOptions, type GeneratedChunk, type SampledToken } from '@moe-runtime/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, post, startServer, type TestServer } from './helpers.js';
import { postStream, tinyModelDir } from './openai-helpers.js';

interface TokenLp {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

interface Choice {
  index: number;
  text?: string;
  message?: { role: string; content: string };
  logprobs: null | { content: TokenLp[] } | { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[]; text_offset: number[] };
  finish_reason: string;
}

interface Answer {
  choices: Choice[];
  usage: { prompt_tokens: number; completion_tokens: number };
}

/** The message, field and code of an OpenAI error body. */
function errorOf(body: unknown): { message: string; field?: string; code: string | null } {
  const e = (body as { error: { message: string; param: string | null; code: string | null } }).error;
  return { message: e.message, field: e.param ?? undefined, code: e.code };
}

const PROMPT = 'the router picks two experts';
const MESSAGES = [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: 'what is a mixture of experts?' },
];

/** An in-process generation: its text, token ids and log-probabilities. */
async function local(gen: AsyncGenerator<GeneratedChunk, unknown, void>): Promise<{ text: string; ids: number[]; logprobs: SampledToken[] }> {
  const out = { text: '', ids: [] as number[], logprobs: [] as SampledToken[] };
  for await (const c of gen) {
    out.text += c.text;
    out.ids.push(...c.tokenIds);
    out.logprobs.push(...(c.logprobs ?? []));
  }
  return out;
}

describe('OpenAI request fields', () => {
  let srv: TestServer;
  let mix: TextModel;
  beforeAll(async () => {
    const dir = await tinyModelDir({ modelType: 'mixtral', seed: 3 });
    [srv, mix] = await Promise.all([
      startServer({ backend: ['cpu'], models: [{ id: 'mix', source: 'folder', path: dir }], generation: { maxCompletionTokens: 64 } }),
      TextModel.load(dir, { backend: 'cpu' }),
    ]);
  });
  afterAll(async () => {
    await srv?.close();
    mix?.dispose();
  });
  const completions = (): string => `${srv.url}/v1/completions`;
  const chat = (): string => `${srv.url}/v1/chat/completions`;
  const chatLocal = (o: GenerateOptions): Promise<Awaited<ReturnType<typeof local>>> => local(mix.chat(MESSAGES, o));

  it('frequency_penalty and presence_penalty change the text as the in-process sampler does (0 changes nothing)', async () => {
    const base = { model: 'mix', prompt: PROMPT, max_tokens: 30, temperature: 0 };
    const plain = await post<Answer>(completions(), base);
    const zero = await post<Answer>(completions(), { ...base, frequency_penalty: 0, presence_penalty: 0 });
    expect([zero.status, zero.body.choices[0].text]).toEqual([200, plain.body.choices[0].text]);
    const penalized = await post<Answer>(completions(), { ...base, frequency_penalty: 1.5, presence_penalty: 0.5 });
    const want = await local(mix.complete(PROMPT, { maxTokens: 30, temperature: 0, frequencyPenalty: 1.5, presencePenalty: 0.5 }));
    expect(penalized.body.choices[0].text).toBe(want.text);
    expect(want.text).not.toBe(plain.body.choices[0].text);
    const bad = await post(completions(), { ...base, presence_penalty: 2.5 });
    expect([bad.status, errorOf(bad.body).field]).toEqual([400, 'presence_penalty']);
  });

  it('chat logprobs with top_logprobs: one entry per token, the model distribution of the in-process sampler', async () => {
    const res = await post<Answer>(chat(), { model: 'mix', messages: MESSAGES, max_tokens: 12, temperature: 0.8, seed: 4, logprobs: true, top_logprobs: 3 });
    expect(res.status).toBe(200);
    const want = await chatLocal({ maxTokens: 12, temperature: 0.8, seed: 4, topLogprobs: 3 });
    const lp = res.body.choices[0].logprobs as { content: TokenLp[] };
    expect(res.body.choices[0].message!.content).toBe(want.text);
    expect(lp.content).toHaveLength(res.body.usage.completion_tokens);
    lp.content.forEach((e, i) => {
      expect(e.bytes).toEqual([...mix.tokenizer.tokenBytes(want.ids[i])]);
      expect(e.logprob).toBeCloseTo(want.logprobs[i].logprob!, 5);
      expect(e.top_logprobs.map((t) => t.bytes)).toEqual(want.logprobs[i].topLogprobs!.map((t) => [...mix.tokenizer.tokenBytes(t.id)]));
      expect(e.top_logprobs[0].logprob).toBeGreaterThanOrEqual(e.logprob);
    });
    const off = await post<Answer>(chat(), { model: 'mix', messages: MESSAGES, max_tokens: 4, logprobs: false });
    expect(off.body.choices[0].logprobs).toBeNull();
    const lonely = await post(chat(), { model: 'mix', messages: MESSAGES, top_logprobs: 2 });
    expect([lonely.status, errorOf(lonely.body).field]).toEqual([400, 'top_logprobs']);
    expect(errorOf(lonely.body).message).toMatch(/^top_logprobs: needs logprobs: true/);
  });

  it('completion logprobs: the legacy parallel arrays, streamed and not', async () => {
    const body = { model: 'mix', prompt: PROMPT, max_tokens: 10, temperature: 0, logprobs: 2 };
    const res = await post<Answer>(completions(), body);
    const lp = res.body.choices[0].logprobs as { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[]; text_offset: number[] };
    const n = res.body.usage.completion_tokens;
    expect([lp.tokens.length, lp.token_logprobs.length, lp.top_logprobs.length, lp.text_offset.length]).toEqual([n, n, n, n]);
    const want = await local(mix.complete(PROMPT, { maxTokens: 10, temperature: 0, topLogprobs: 2 }));
    const text = (id: number): string => new TextDecoder().decode(mix.tokenizer.tokenBytes(id));
    lp.token_logprobs.forEach((v, i) => expect(v).toBeCloseTo(want.logprobs[i].logprob!, 5));
    expect(lp.tokens).toEqual(want.ids.map(text));
    // Keyed by token text, as OpenAI's: alternatives whose texts coincide (U+FFFD) share a key.
    lp.top_logprobs.forEach((top, i) => expect(top).toEqual(Object.fromEntries(want.logprobs[i].topLogprobs!.map((t) => [text(t.id), expect.closeTo(t.logprob, 5)]))));
    expect(lp.text_offset[0]).toBe(0);
    const streamed = await postStream(completions(), { ...body, stream: true });
    const parts = streamed.events.flatMap((e) => (e.choices as Choice[]).map((c) => c.logprobs).filter((x) => x !== null)) as (typeof lp)[];
    expect(parts.flatMap((p) => p.token_logprobs)).toEqual(lp.token_logprobs);
    expect(parts.flatMap((p) => p.text_offset)).toEqual(lp.text_offset);
    const tooMany = await post(completions(), { ...body, logprobs: 6 });
    expect([tooMany.status, errorOf(tooMany.body).field]).toEqual([400, 'logprobs']);
  });

  it('n > 1: independent choices, choice i as the in-process sampler with seed + i; streamed per index', async () => {
    const body = { model: 'mix', messages: MESSAGES, max_tokens: 10, temperature: 1.2, seed: 21, n: 3 };
    const res = await post<Answer>(chat(), body);
    expect(res.status).toBe(200);
    expect(res.body.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    let tokens = 0;
    for (let i = 0; i < 3; i++) {
      const want = await chatLocal({ maxTokens: 10, temperature: 1.2, seed: 21 + i });
      expect(res.body.choices[i].message!.content).toBe(want.text);
      tokens += want.ids.length;
    }
    expect(new Set(res.body.choices.map((c) => c.message!.content)).size).toBeGreaterThan(1);
    expect(res.body.usage.completion_tokens).toBe(tokens);
    const streamed = await postStream(chat(), { ...body, stream: true });
    const texts = ['', '', ''];
    const finishes: string[] = [];
    for (const e of streamed.events) {
      for (const c of e.choices as { index: number; delta: { content?: string }; finish_reason: string | null }[]) {
        texts[c.index] += c.delta.content ?? '';
        if (c.finish_reason) finishes[c.index] = c.finish_reason;
      }
    }
    expect(texts).toEqual(res.body.choices.map((c) => c.message!.content));
    expect(finishes).toEqual(res.body.choices.map((c) => c.finish_reason));
    const tooMany = await post(chat(), { ...body, n: 17 });
    expect([tooMany.status, errorOf(tooMany.body).field]).toEqual([400, 'n']);
  });

  it("response_format: 'text' is accepted; json_object and json_schema are refused naming response_format.type", async () => {
    const base = { model: 'mix', messages: MESSAGES, max_tokens: 6, temperature: 0 };
    const plain = await post<Answer>(chat(), base);
    const text = await post<Answer>(chat(), { ...base, response_format: { type: 'text' } });
    expect([text.status, text.body.choices[0].message!.content]).toEqual([200, plain.body.choices[0].message!.content]);
    for (const type of ['json_object', 'json_schema']) {
      const res = await post(chat(), { ...base, response_format: { type, json_schema: { name: 'x', schema: {} } } });
      expect([res.status, errorOf(res.body).field]).toEqual([400, 'response_format.type']);
      expect(errorOf(res.body).message).toMatch(new RegExp(`^response_format.type: '${type}' is not supported: this server cannot constrain sampling to JSON`));
      expect(errorOf(res.body).code).toBe('unsupported_value');
    }
  });

  it('tools are refused unless tool_choice is "none"; tool messages and assistant content null are accepted', async () => {
    const base = { model: 'mix', messages: MESSAGES, max_tokens: 6, temperature: 0 };
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
    const refused = await post(chat(), { ...base, tools });
    expect([refused.status, errorOf(refused.body).field]).toEqual([400, 'tools']);
    expect(errorOf(refused.body).message).toMatch(/^tools: this server does not call tools/);
    const required = await post(chat(), { ...base, tools, tool_choice: 'required' });
    expect([required.status, errorOf(required.body).field]).toEqual([400, 'tool_choice']);
    const none = await post<Answer>(chat(), { ...base, tools, tool_choice: 'none', parallel_tool_calls: false });
    const plain = await post<Answer>(chat(), base);
    expect([none.status, none.body.choices[0].message!.content]).toEqual([200, plain.body.choices[0].message!.content]);
    expect((await post(chat(), { ...base, tools: [], tool_choice: 'auto' })).status).toBe(200);

    const history = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: null },
      { role: 'tool', content: 'result 42', tool_call_id: 'call_1' },
    ];
    const res = await post<Answer>(chat(), { ...base, messages: history });
    const want = await local(mix.chat([{ role: 'user', content: 'hi' }, { role: 'assistant', content: '' }, { role: 'tool', content: 'result 42' }], { maxTokens: 6, temperature: 0 }));
    expect([res.status, res.body.choices[0].message!.content]).toEqual([200, want.text]);
    const calls = await post(chat(), { ...base, messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }] });
    expect([calls.status, errorOf(calls.body).field]).toEqual([400, 'messages[0].tool_calls']);
    const userNull = await post(chat(), { ...base, messages: [{ role: 'user', content: null }] });
    expect([userNull.status, errorOf(userNull.body).field]).toEqual([400, 'messages[0].content']);
  });

  it('content parts of type text are joined with newlines; other part types are refused by name', async () => {
    const base = { model: 'mix', max_tokens: 6, temperature: 0 };
    const parts = await post<Answer>(chat(), { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 'what is' }, { type: 'text', text: 'a mixture?' }] }] });
    const joined = await post<Answer>(chat(), { ...base, messages: [{ role: 'user', content: 'what is\na mixture?' }] });
    expect([parts.status, parts.body.choices[0].message!.content]).toEqual([200, joined.body.choices[0].message!.content]);
    const image = await post(chat(), { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'http://x/y.png' } }] }] });
    expect([image.status, errorOf(image.body).field]).toEqual([400, 'messages[0].content[1].type']);
    expect(errorOf(image.body).message).toMatch(/^messages\[0\]\.content\[1\]\.type: 'image_url' parts are not supported/);
  });

  it('null for every optional field is treated as absent, and harmless fields are accepted', async () => {
    const base = { model: 'mix', prompt: PROMPT, max_tokens: 8, temperature: 0 };
    const plain = await post<Answer>(completions(), base);
    const nulls = Object.fromEntries(
      ['top_p', 'top_k', 'seed', 'stop', 'stream', 'stream_options', 'n', 'user', 'logprobs', 'frequency_penalty', 'presence_penalty', 'logit_bias', 'echo', 'best_of', 'suffix', 'metadata', 'store', 'service_tier'].map((k) => [k, null]),
    );
    const res = await post<Answer>(completions(), { ...base, ...nulls });
    expect([res.status, res.body.choices[0].text]).toEqual([200, plain.body.choices[0].text]);
    const chatNulls = await post<Answer>(chat(), {
      model: 'mix',
      messages: [{ role: 'user', content: 'hi', name: null, tool_call_id: null }],
      max_tokens: 4,
      temperature: 0,
      max_completion_tokens: null,
      logprobs: null,
      top_logprobs: null,
      response_format: null,
      tools: null,
      tool_choice: null,
      stream_options: null,
    });
    expect(chatNulls.status).toBe(200);
    const harmless = await post<Answer>(completions(), {
      ...base,
      user: 'u1',
      seed: 3,
      metadata: { trace: 'x' },
      store: false,
      service_tier: 'auto',
      logit_bias: {},
      echo: false,
      best_of: 1,
      suffix: '',
      stream_options: { include_usage: true, include_obfuscation: false },
    });
    expect([harmless.status, harmless.body.choices[0].text]).toEqual([200, plain.body.choices[0].text]);
    for (const [extra, field] of [
      [{ logit_bias: { '5': 10 } }, 'logit_bias'],
      [{ echo: true }, 'echo'],
      [{ best_of: 2 }, 'best_of'],
      [{ suffix: 'end' }, 'suffix'],
    ] as const) {
      const bad = await post(completions(), { ...base, ...extra });
      expect([bad.status, errorOf(bad.body).field], JSON.stringify(extra)).toEqual([400, field]);
    }
  });

  it('the official SDK gets answers for the standard parameters (n, logprobs, penalties, response_format, tools: none, models.retrieve)', async () => {
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${srv.url}/v1`, maxRetries: 0 });
    const res = await client.chat.completions.create({
      model: 'mix',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
      max_tokens: 6,
      temperature: 0.9,
      seed: 5,
      n: 2,
      logprobs: true,
      top_logprobs: 2,
      frequency_penalty: 0.5,
      presence_penalty: 0.2,
      response_format: { type: 'text' },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
      tool_choice: 'none',
      user: 'u',
    });
    expect(res.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const c of res.choices) expect(c.logprobs!.content!.every((t) => t.top_logprobs.length === 2)).toBe(true);
    const want = await local(mix.chat([{ role: 'user', content: 'hi' }], { maxTokens: 6, temperature: 0.9, seed: 6, frequencyPenalty: 0.5, presencePenalty: 0.2 }));
    expect(res.choices[1].message.content).toBe(want.text);
    expect((await client.models.retrieve('mix')).id).toBe('mix');
    await expect(client.models.retrieve('nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const refused = await client.chat.completions.create({ model: 'mix', messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect([(refused as InstanceType<typeof OpenAI.APIError>).param, (refused as InstanceType<typeof OpenAI.APIError>).code]).toEqual(['response_format.type', 'unsupported_value']);
  });

  it('GET /v1/models/{id}: the model object, 404 naming an id not served', async () => {
    const list = await get<{ data: Record<string, unknown>[] }>(`${srv.url}/v1/models`);
    const one = await get<Record<string, unknown>>(`${srv.url}/v1/models/mix`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(list.body.data[0]);
    expect(one.body).toMatchObject({ id: 'mix', object: 'model', owned_by: 'moe-runtime' });
    const missing = await get(`${srv.url}/v1/models/nope`);
    expect(missing.status).toBe(404);
    expect(errorOf(missing.body)).toEqual({ message: expect.stringMatching(/unknown model 'nope'; serving: 'mix'/), field: 'model', code: 'model_not_found' });
    expect((missing.body as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });
});
