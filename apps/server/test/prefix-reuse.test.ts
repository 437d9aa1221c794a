/**
 * Prefix reuse over HTTP: two chat requests that share a long system prompt; the second starts
 * from the KV cache the first left in the model's prefix cache (counted in the metrics), and
 * both answers equal `TextModel.chat` run in this process. With `prefixCacheBytes: 0` nothing
 * is reused.
 */
import { TextModel, type ChatMessage } from '@moe-runtime/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, post, startServer, type TestServer } from './helpers.js';
import { localChat, metricValue, tinyModelDir } from './openai-helpers.js';

interface Chat {
  choices: { message: { content: string } }[];
  usage: { prompt_tokens: number };
}

const SYSTEM = 'You answer questions about mixture of experts models. Keep the answer short, name the router and the experts involved, and never invent numbers you were not given. '.repeat(2);
const conversation = (question: string): ChatMessage[] => [
  { role: 'system', content: SYSTEM },
  { role: 'user', content: question },
];

async function metric(srv: TestServer, name: string): Promise<number> {
  const res = await get<string>(`${srv.url}/metrics`);
  return metricValue(res.body, name, { model: 'mix' });
}

describe('prefix reuse in the server', () => {
  let srv: TestServer;
  let off: TestServer;
  let local: TextModel;
  beforeAll(async () => {
    const dir = await tinyModelDir({ modelType: 'mixtral', seed: 21 });
    [srv, off, local] = await Promise.all([
      startServer({ backend: ['cpu'], models: [{ id: 'mix', source: 'folder', path: dir }] }),
      startServer({ backend: ['cpu'], models: [{ id: 'mix', source: 'folder', path: dir }], generation: { prefixCacheBytes: 0 } }),
      TextModel.load(dir, { backend: 'cpu' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([srv?.close(), off?.close()]);
    local?.dispose();
  });

  it('the second chat sharing a system prompt reuses its tokens, and both answers equal TextModel.chat', async () => {
    const tokens = (q: string): number[] => local.tokenizer.encode(local.tokenizer.applyChatTemplate(conversation(q)), false);
    const [a, b] = [tokens('what does the router do?'), tokens('how many experts run per token?')];
    let shared = 0;
    while (a[shared] === b[shared]) shared++;
    expect(shared).toBeGreaterThan(64);
    const answers: string[] = [];
    for (const [question, options] of [
      ['what does the router do?', { max_tokens: 16, temperature: 0 }],
      ['how many experts run per token?', { max_tokens: 16, temperature: 0.8, seed: 5 }],
    ] as const) {
      const messages = conversation(question);
      const res = await post<Chat>(`${srv.url}/v1/chat/completions`, { model: 'mix', messages, ...options });
      expect(res.status).toBe(200);
      const want = await localChat(local, messages, { maxTokens: options.max_tokens, temperature: options.temperature, ...('seed' in options ? { seed: options.seed } : {}) });
      expect(want.text.length).toBeGreaterThan(0);
      expect(res.body.choices[0].message.content).toBe(want.text);
      expect(res.body.usage.prompt_tokens).toBe(want.stats.promptTokens);
      answers.push(res.body.choices[0].message.content);
    }
    expect(await metric(srv, 'moe_prefix_cache_hits_total')).toBe(1);
    // Exactly the tokens the two prompts share (the system prompt and the template around it).
    expect(await metric(srv, 'moe_prefix_cache_reused_tokens_total')).toBe(shared);
    expect(await metric(srv, 'moe_prefix_cache_bytes')).toBeGreaterThan(0);
  });

  it("a chat's next turn reuses the previous turn's prompt and reply", async () => {
    const turn1: ChatMessage[] = [
      { role: 'system', content: 'You are a terse assistant for questions about sparse models and their routers.' },
      { role: 'user', content: 'name one mixture of experts model' },
    ];
    const options = { max_tokens: 12, temperature: 0 } as const;
    const [hits0, reused0] = [await metric(srv, 'moe_prefix_cache_hits_total'), await metric(srv, 'moe_prefix_cache_reused_tokens_total')];
    const res1 = await post<Chat>(`${srv.url}/v1/chat/completions`, { model: 'mix', messages: turn1, ...options });
    expect(res1.status).toBe(200);
    // What the finished generation's session holds: the prompt and every reply token fed back.
    let held: number[] = [];
    const want1 = await localChat(local, turn1, { maxTokens: 12, temperature: 0, onFinish: (s) => void (held = Array.from(s.tokens.subarray(0, s.position))) });
    const reply = res1.body.choices[0].message.content;
    expect(reply).toBe(want1.text);
    const prompt1 = local.tokenizer.encode(local.tokenizer.applyChatTemplate(turn1), false);
    expect(held.length).toBeGreaterThan(prompt1.length);
    const turn2: ChatMessage[] = [...turn1, { role: 'assistant', content: reply }, { role: 'user', content: 'and its router?' }];
    const prompt2 = local.tokenizer.encode(local.tokenizer.applyChatTemplate(turn2), false);
    let shared = 0;
    while (shared < held.length && shared < prompt2.length - 1 && held[shared] === prompt2[shared]) shared++;
    // The reply's tokens are part of what is reused, not only the first turn's prompt.
    expect(shared).toBeGreaterThan(prompt1.length);
    const res2 = await post<Chat>(`${srv.url}/v1/chat/completions`, { model: 'mix', messages: turn2, ...options });
    expect(res2.status).toBe(200);
    expect(res2.body.choices[0].message.content).toBe((await localChat(local, turn2, { maxTokens: 12, temperature: 0 })).text);
    expect((await metric(srv, 'moe_prefix_cache_hits_total')) - hits0).toBe(1);
    expect((await metric(srv, 'moe_prefix_cache_reused_tokens_total')) - reused0).toBe(shared);
  });

  it('with --prefix-cache-bytes 0 nothing is retained or reused', async () => {
    for (const question of ['one?', 'two?']) {
      const res = await post<Chat>(`${off.url}/v1/chat/completions`, { model: 'mix', messages: conversation(question), max_tokens: 4, temperature: 0 });
      expect(res.status).toBe(200);
    }
    expect(await metric(off, 'moe_prefix_cache_hits_total')).toBe(0);
    expect(await metric(off, 'moe_prefix_cache_reused_tokens_total')).toBe(0);
    expect(await metric(off, 'moe_prefix_cache_bytes')).toBe(0);
  });
});
