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
export function tinyTokenizerJson(vocabSize: number): Record<string, unknown> {
  const b2u = byteToUnicode();
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  let next = 3;
  for (let b = 0; b < 256; b++) vocab[b2u[b]] = next++;
  const words = CORPUS.split(' ').map((w, i) => [...(i ? b2u[32] : '') + [...new TextEncoder().encode(w)].map((b) => b2u[b]).join('')]);
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
