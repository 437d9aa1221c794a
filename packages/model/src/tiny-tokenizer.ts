/**
 * A small but real byte-level BPE `tokenizer.json` (GPT-2 style), for the seeded tiny
 * checkpoints tests and demos use. Merges are learned greedily from a short built-in text; the
 * vocabulary is padded to the model's size with plain tokens no merge produces. Encoding and
 * decoding are always done by tokenizers.js: this only writes the file.
 */

const CORPUS =
  'the quick brown fox jumps over the lazy dog. a mixture of experts routes each token to a few experts. ' +
  'the router picks the top experts and the layer blends their outputs. hello world, this is a tiny model. ' +
  'experts experts router router token token the the and and of of to to in in is is it it';

/** GPT-2's reversible byte -> printable character map. */
export function byteToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return out;
}

/**
 * A text whose merges cross what pre-tokenizers split apart (digits, punctuation, runs of
 * spaces, contractions, case changes inside words, slashes, letters next to digits, accented and
 * CJK characters), so vocabularies learned from it whole tokenize differently under different
 * pre-tokenizers: what tokenizer cross-checks need.
 */
export const TINY_RICH_CORPUS = [
  "it's 12345 and 678, they've 2024 items; we'll   see  $5+3=8 <tag> ~|^ ok.",
  'Hello, World!  HELLO world... 1234567 99 100\n\nnew  lines\t tabs',
  'héllo wörld, naïve café 日本語のテキスト 中文 mixture of experts: the router picks 2 of 8.',
  "I'm here -- don't stop!! 3.14 + 2.71 = 5.85 (approx) [x] {y} @z #1",
  "CamelCaseWord iPhone HTTPServer IT'S We'LL McDonald's path/to/file.ts a/b // c;",
  'abc123 abc123 x1y2 x1y2 Q7 Q7 U0 U0 z=9 z=9',
].join('\n');

/** Options of the tiny vocabularies. */
export interface TinyVocabularyOptions {
  /** Text the merges are learned from (default: a short English text). */
  readonly corpus?: string;
  /** Learn merges over whole lines rather than within space-separated words. */
  readonly acrossWords?: boolean;
}

function learnMerges(words: string[][], count: number): [string, string][] {
  const merges: [string, string][] = [];
  for (let m = 0; m < count; m++) {
    const pairs = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) pairs.set(`${w[i]}\u0000${w[i + 1]}`, (pairs.get(`${w[i]}\u0000${w[i + 1]}`) ?? 0) + 1);
    let best = '';
    let bestCount = 1;
    for (const [p, c] of pairs) if (c > bestCount || (c === bestCount && best !== '' && p < best)) [best, bestCount] = [p, c];
    if (!best) break;
    const [a, b] = best.split('\u0000');
    merges.push([a, b]);
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        if (w[i] === a && w[i + 1] === b) w.splice(i, 2, a + b);
      }
    }
  }
  return merges;
}

/** Special tokens of the tiny tokenizer, with their ids. */
export const TINY_SPECIAL_TOKENS = { unk: 0, bos: 1, eos: 2 } as const;

/** Builds `tokenizer.json` content with exactly `vocabSize` entries (at least 259 + merges). */
export function tinyTokenizerJson(vocabSize: number, options: TinyVocabularyOptions = {}): Record<string, unknown> {
  const b2u = byteToUnicode();
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  let next = 3;
  for (let b = 0; b < 256; b++) vocab[b2u[b]] = next++;
  const bytes = (w: string): string[] => [...new TextEncoder().encode(w)].map((b) => b2u[b]);
  const corpus = options.corpus ?? CORPUS;
  const words = options.acrossWords ? corpus.split('\n').map(bytes) : corpus.split(' ').map((w, i) => [...(i ? b2u[32] : ''), ...bytes(w)]);
  const merges = learnMerges(words, Math.max(0, Math.min(200, vocabSize - next)));
  for (const [a, b] of merges) if (!((a + b) in vocab)) vocab[a + b] = next++;
  for (let i = 0; next < vocabSize; i++) vocab[`<x${i}>`] = next++;
  const special = (id: number, content: string): Record<string, unknown> => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** `tokenizer_config.json` content with a small chat template. */
export function tinyTokenizerConfig(): Record<string, unknown> {
  return {
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    add_bos_token: true,
    add_eos_token: false,
    model_max_length: 4096,
    chat_template:
      "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
  };
}

/** A SentencePiece-style vocabulary, as GGUF's `llama` tokenizer stores it. */
export interface TinySpmVocabulary {
  readonly tokens: string[];
  /** llama.cpp token types: 2 unknown, 3 control, 6 byte, 1 normal. */
  readonly types: number[];
  /** Higher merges first (llama.cpp merges the pair whose joined piece scores highest). */
  readonly scores: number[];
}

/**
 * A small but real SentencePiece BPE vocabulary of exactly `vocabSize` pieces (at least 259
 * plus the corpus' characters): `<unk>`, `<s>`, `</s>`, the 256 byte pieces `<0x00>`..`<0xFF>`,
 * every character of a short built-in text, then pieces learned greedily from that text with
 * spaces written as `▁` (each piece's score below the previous one's), padded with pieces no
 * merge produces. Tokenizing is always done by tokenizers.js or llama.cpp: this only lists it.
 */
export function tinySpmVocabulary(vocabSize: number, options: TinyVocabularyOptions = {}): TinySpmVocabulary {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const corpus = options.corpus ?? CORPUS;
  const words = options.acrossWords ? corpus.split('\n').map((l) => [...`\u2581${l.replaceAll(' ', '\u2581')}`]) : corpus.split(' ').map((w) => [...`\u2581${w}`]);
  const chars = [...new Set(words.flat())].sort();
  const pieces: string[] = [...chars];
  for (const [a, b] of learnMerges(words, Math.max(0, vocabSize - tokens.length - chars.length))) if (!pieces.includes(a + b)) pieces.push(a + b);
  for (let i = 0; tokens.length + pieces.length < vocabSize; i++) pieces.push(`<x${i}>`);
  const scores = tokens.map(() => 0);
  pieces.slice(0, vocabSize - tokens.length).forEach((p, i) => {
    tokens.push(p);
    types.push(1);
    // Characters score lowest (they are never merge results); learned pieces in learning order.
    scores.push(i < chars.length ? -1e4 - i : -(i - chars.length));
  });
  return { tokens, types, scores };
}
