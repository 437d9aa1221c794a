import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PENDING_TOKENS, ModelTokenizer, openModel, TINY_RICH_CORPUS, tinyTokenizerJson, TokenTextStream } from '../src/index.js';
import { writeTinyGguf } from './gguf-fixtures.js';

let root: string;
const tokenizers: [string, ModelTokenizer][] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-stream-'));
  tokenizers.push(['byte-level BPE', ModelTokenizer.fromJson(tinyTokenizerJson(384))]);
  tokenizers.push(['byte-level BPE, rich', ModelTokenizer.fromJson(tinyTokenizerJson(600, { corpus: TINY_RICH_CORPUS, acrossWords: true }))]);
  for (const rich of [false, true]) {
    const { path } = await writeTinyGguf(root, `spm-${rich}`, { modelType: 'mixtral', seed: 3, vocabulary: 'llama', richVocabulary: rich });
    const opened = await openModel(path);
    await opened.source.close();
    tokenizers.push([`SentencePiece${rich ? ', rich' : ''}`, opened.tokenizer]);
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A tokenizer whose decode records how many tokens each call decoded. */
function counting(tokenizer: ModelTokenizer): { tokenizer: ModelTokenizer; windows: number[] } {
  const windows: number[] = [];
  const wrapped = Object.create(tokenizer) as ModelTokenizer;
  wrapped.decode = (ids, options) => {
    windows.push(ids.length);
    return tokenizer.decode(ids, options);
  };
  return { tokenizer: wrapped, windows };
}

/** Seeded token ids: mostly text tokens, with specials (skipped by decode) and runs of byte tokens. */
function randomIds(seed: number, n: number, vocab: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => {
    const r = rng.next();
    if (r < 0.03) return rng.int(3); // <unk>, <s>, </s>
    if (r < 0.5) return 3 + rng.int(256); // byte tokens
    return 3 + rng.int(vocab - 3);
  });
}

function streamAll(tokenizer: ModelTokenizer, ids: readonly number[]): string[] {
  const s = new TokenTextStream(tokenizer);
  const out = ids.map((id) => s.push(id));
  out.push(s.flush());
  return out;
}

describe('streamed detokenization', () => {
  it('concatenates to the full decode for seeded random token sequences on every tokenizer kind', () => {
    expect(tokenizers.map(([name]) => name)).toHaveLength(4);
    for (const [name, tokenizer] of tokenizers) {
      const vocab = name.startsWith('Sentence') ? 384 : name.endsWith('rich') ? 600 : 384;
      for (let seed = 1; seed <= 12; seed++) {
        const ids = randomIds(seed * 7 + name.length, 300, vocab);
        const full = tokenizer.decode(ids, { cleanUpSpaces: false });
        expect([name, seed, streamAll(tokenizer, ids).join('')]).toEqual([name, seed, full]);
      }
    }
  });

  it('keeps the SentencePiece leading space of a word that follows an emitted word, and strips it at the start', () => {
    const spm = tokenizers.find(([n]) => n === 'SentencePiece')![1];
    const ids = spm.encode('the router picks the top experts', false);
    const parts = streamAll(spm, ids);
    expect(parts.join('')).toBe('the router picks the top experts');
    expect(parts.filter((p) => p.startsWith(' ')).length).toBeGreaterThan(2);
  });

  it('never releases half of a character, and releases a split character once it completes', () => {
    const bpe = tokenizers[0][1];
    const ids = [...new TextEncoder().encode('a€😀b')].map((b) => 3 + b);
    const parts = streamAll(bpe, ids);
    for (const p of parts) expect(p).not.toMatch(/\uFFFD/);
    expect(parts.filter((p) => p !== '')).toEqual(['a', '€', '😀', 'b']);
  });

  it('decodes a bounded window per token, not the whole text again', () => {
    for (const [name, base] of tokenizers) {
      const { tokenizer, windows } = counting(base);
      const ids = tokenizer.encode(TINY_RICH_CORPUS.repeat(4), false);
      expect(ids.length).toBeGreaterThan(400);
      expect(streamAll(tokenizer, ids).join('')).toBe(base.decode(ids, { cleanUpSpaces: false }));
      // Each token: the window to the previous emission point and the next window's start.
      expect(Math.max(...windows), name).toBeLessThanOrEqual(2 * MAX_PENDING_TOKENS);
      expect(windows.reduce((s, w) => s + w, 0), name).toBeLessThan(12 * ids.length);
    }
  });
});

describe('token bytes', () => {
  it("concatenate to the UTF-8 of the decoded text on both tokenizer kinds (SentencePiece: with the leading space decode strips)", () => {
    for (const [name, tokenizer] of tokenizers) {
      const text = 'héllo wörld, the router picks 2 of 8 日本語';
      const ids = tokenizer.encode(text, false);
      const bytes = Buffer.concat(ids.map((id) => tokenizer.tokenBytes(id)));
      const want = name.startsWith('Sentence') ? ` ${text}` : text;
      expect([name, bytes.toString('utf8')]).toEqual([name, want]);
    }
    // A byte token of a split character is that byte alone.
    expect([...tokenizers[0][1].tokenBytes(3 + 0xe2)]).toEqual([0xe2]);
    expect(() => tokenizers[0][1].tokenBytes(10 ** 6)).toThrow(/token id: 1000000 is not in the vocabulary/);
  });
});
