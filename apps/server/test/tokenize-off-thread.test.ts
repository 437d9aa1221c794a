/**
 * Prompts are tokenized off the generation worker's loop: a PromptTokenizer answers on its own
 * thread while the calling thread keeps turning (a synchronous encode would let no callback run
 * before it returns), and over HTTP a stream keeps receiving chunks while long prompts are
 * tokenized beside it, then ends with the text it has alone.
 */
import { createRng } from '@moe-runtime/core';
import { ModelTokenizer, tinyTokenizerJson, TextModel } from '@moe-runtime/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromptTokenizer } from '../src/generation/prompt-tokenizer.js';
import { post, startServer, type TestServer } from './helpers.js';
import { localComplete, tinyModelDir } from './openai-helpers.js';

const rng = createRng(808);
/** Random lowercase words with spaces: many BPE merges to try per character. */
function randomText(chars: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    const w = Array.from({ length: 1 + rng.int(9) }, () => String.fromCharCode(97 + rng.int(26))).join('');
    parts.push(w);
    n += w.length + 1;
  }
  return parts.join(' ');
}

describe('PromptTokenizer', () => {
  it('tokenizes on its own thread: the caller keeps running meanwhile, and gets the ids encode gives', async () => {
    const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(384));
    const prompts = new PromptTokenizer(tokenizer, 'test');
    try {
      const text = randomText(100_000);
      let answered = false;
      const ids = prompts.encode({ kind: 'text', text }).then((v) => ((answered = true), v));
      expect(prompts.pending).toBe(1);
      let turns = 0;
      while (!answered) {
        await new Promise<void>((r) => setImmediate(r));
        turns++;
      }
      expect(turns).toBeGreaterThan(10);
      expect(await ids).toEqual(tokenizer.encode(text));
      // The tokenizer's errors come back as rejections (this one has no chat template).
      await expect(prompts.encode({ kind: 'chat', messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow(/no chat template/);
      expect(prompts.pending).toBe(0);
    } finally {
      await prompts.close();
    }
    await expect(prompts.encode({ kind: 'text', text: 'late' })).rejects.toThrow(/tokenizer closed/);
  });
});

/** Reads an SSE stream, calling `onEvent` with each data block's text as it arrives. */
async function readStream(res: Response, onEvent: (data: string) => void): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      onEvent(buf.slice(6, at));
      buf = buf.slice(at + 2);
    }
  }
}

describe('long prompts beside a running stream', () => {
  let srv: TestServer;
  let local: TextModel;
  beforeAll(async () => {
    const dir = await tinyModelDir({ modelType: 'mixtral', seed: 31 });
    [srv, local] = await Promise.all([
      startServer({ backend: ['cpu'], models: [{ id: 'mix', source: 'folder', path: dir }], generation: { maxCompletionTokens: 512 }, limits: { requestTimeoutMs: 120_000 } }),
      TextModel.load(dir, { backend: 'cpu' }),
    ]);
  });
  afterAll(async () => {
    await srv?.close();
    local?.dispose();
  });

  it('the stream gets chunks while long prompts are tokenized, and its text is the one it has alone', async () => {
    const prompt = 'the experts of the first layer';
    const want = await localComplete(local, prompt, { maxTokens: 200, temperature: 0.7, seed: 9 });
    const res = await fetch(`${srv.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mix', prompt, max_tokens: 200, temperature: 0.7, seed: 9, stream: true }),
    });
    expect(res.status).toBe(200);
    let chunks = 0;
    let text = '';
    let sentAt = -1;
    let long: Promise<{ status: number; code: string; message: string; chunksThen: number }[]> | undefined;
    const streamed = readStream(res, (data) => {
      if (data === '[DONE]') return;
      chunks++;
      text += (JSON.parse(data) as { choices: { text: string }[] }).choices[0]?.text ?? '';
      if (chunks !== 2) return;
      // Streaming: send prompts of some hundred thousand characters (too many tokens for the
      // context, which only the tokenizer can tell).
      sentAt = chunks;
      long = Promise.all(
        Array.from({ length: 3 }, async () => {
          const r = await post<{ error: { code: string; message: string } }>(`${srv.url}/v1/completions`, { model: 'mix', prompt: randomText(30_000), max_tokens: 4 });
          return { status: r.status, code: r.body.error?.code, message: r.body.error?.message, chunksThen: chunks };
        }),
      );
    });
    await streamed;
    const answers = await long!;
    expect(sentAt).toBe(2);
    // Refused by their token count (so they were tokenized), not by the character bound.
    for (const a of answers) expect(a).toMatchObject({ status: 400, code: 'context_length_exceeded', message: expect.stringMatching(/prompt: \d+ prompt tokens \+ max_tokens 4 exceed/) });
    // The stream made progress while they were tokenized (the last answer came after more chunks).
    expect(Math.max(...answers.map((a) => a.chunksThen))).toBeGreaterThan(sentAt + 1);
    expect(text).toBe(want.text);
    expect(chunks).toBeGreaterThan(sentAt);
  });
});
