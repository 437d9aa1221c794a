/**
 * The tokenizer of a GGUF checkpoint, as a Hugging Face `tokenizer.json` object built from the
 * `tokenizer.ggml.*` metadata, so encoding and decoding run in tokenizers.js (the library the
 * package already uses) with llama.cpp's semantics:
 *
 * - `gpt2`: byte-level BPE with the file's merges, split first by the pre-tokenizer regexes
 *   llama.cpp uses for `tokenizer.ggml.pre` (applied in sequence, unmatched text kept as its
 *   own piece, as llama.cpp's `unicode_regex_split` does);
 * - `llama`: SentencePiece BPE, where llama.cpp merges the adjacent pair whose joined piece has
 *   the highest score: merges are generated from the vocabulary ranked by that score, with
 *   byte fallback (`<0xXX>` tokens), spaces escaped as `▁` and a leading space added
 *   (`tokenizer.ggml.add_space_prefix`, default true).
 *
 * Control and unknown tokens become special added tokens, user-defined tokens plain added
 * tokens; BOS/EOS are added as `tokenizer.ggml.add_bos_token` / `add_eos_token` say (llama.cpp's
 * defaults otherwise). The chat template is `tokenizer.chat_template`.
 */
import { GgufError } from '@moe-runtime/core';
import type { GgufMetadata } from './gguf-metadata.js';

type Json = Record<string, unknown>;

/** llama.cpp's token types (`tokenizer.ggml.token_type`). */
export const GGUF_TOKEN_TYPES = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const QWEN2_REGEX =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_REGEX =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// o200k (gpt-oss's `gpt-4o`) as llama.cpp spells it, whose regex engine has neither \p{Lu}-style
// classes nor (?i:) groups: the case classes as look-aheads, the case-insensitive contractions
// written out. llama.cpp's spelling, not tokenizer.json's, is what keeps the ids identical.
const O200K_CONTRACTION = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?";
const O200K_REGEX =
  `[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+${O200K_CONTRACTION}` +
  `|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*${O200K_CONTRACTION}` +
  "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// DeepSeek-LLM's split (`deepseek-llm`: DeepSeek-V2 and V2-Lite), as llama.cpp applies it: line
// breaks one by one, runs of cased letters (the explicit ranges of its tokenizer.json, as code
// points) with an optional leading space, runs of ASCII and full-width punctuation, trailing
// spaces, CJK and Hangul runs, then digit runs.
const DEEPSEEK_LLM_CASED =
  'A-Za-z\\u{B5}\\u{C0}-\\u{D6}\\u{D8}-\\u{F6}\\u{F8}-\\u{1BA}\\u{1BC}-\\u{1BF}\\u{1C4}-\\u{293}\\u{295}-\\u{2AF}\\u{370}-\\u{373}\\u{376}\\u{377}' +
  '\\u{37B}-\\u{37D}\\u{37F}\\u{386}\\u{388}-\\u{38A}\\u{38C}\\u{38E}-\\u{3A1}\\u{3A3}-\\u{3F5}\\u{3F7}-\\u{481}\\u{48A}-\\u{52F}\\u{531}-\\u{556}' +
  '\\u{10A0}-\\u{10C5}\\u{13A0}-\\u{13F5}\\u{13F8}-\\u{13FD}\\u{1C90}-\\u{1CBA}\\u{1CBD}-\\u{1CBF}\\u{1D00}-\\u{1D2B}\\u{1D6B}-\\u{1D77}' +
  '\\u{1D79}-\\u{1D9A}\\u{1E00}-\\u{1F15}\\u{1F18}-\\u{1F1D}\\u{1F20}-\\u{1F45}\\u{1F48}-\\u{1F4D}\\u{1F50}-\\u{1F57}\\u{1F59}\\u{1F5B}' +
  '\\u{1F5D}\\u{1F5F}-\\u{1F7D}\\u{1F80}-\\u{1FB4}\\u{1FB6}-\\u{1FBC}\\u{1FBE}\\u{1FC2}-\\u{1FC4}\\u{1FC6}-\\u{1FCC}\\u{1FD0}-\\u{1FD3}' +
  '\\u{1FD6}-\\u{1FDB}\\u{1FE0}-\\u{1FEC}\\u{1FF2}-\\u{1FF4}\\u{1FF6}-\\u{1FFC}\\u{2102}\\u{2107}\\u{210A}-\\u{2113}\\u{2115}' +
  '\\u{2119}-\\u{211D}\\u{2124}\\u{2126}\\u{2128}\\u{212A}-\\u{212D}\\u{212F}-\\u{2134}\\u{2139}\\u{213C}-\\u{213F}\\u{2145}-\\u{2149}' +
  '\\u{214E}\\u{2183}\\u{2184}\\u{2C00}-\\u{2C7B}\\u{2C7E}-\\u{2CE4}\\u{2CEB}-\\u{2CEE}\\u{2CF2}\\u{2CF3}\\u{A640}-\\u{A66D}\\u{A680}-\\u{A69B}' +
  '\\u{A722}-\\u{A76F}\\u{A771}-\\u{A787}\\u{A78B}-\\u{A78E}\\u{AB70}-\\u{ABBF}\\u{FB00}-\\u{FB06}\\u{FB13}-\\u{FB17}\\u{FF21}-\\u{FF3A}' +
  '\\u{FF41}-\\u{FF5A}\\u{10400}-\\u{1044F}\\u{104B0}-\\u{104D3}\\u{104D8}-\\u{104FB}\\u{10C80}-\\u{10CB2}\\u{10CC0}-\\u{10CF2}' +
  '\\u{118A0}-\\u{118DF}\\u{1E900}-\\u{1E943}';
const DEEPSEEK_LLM_REGEXES = [
  '[\\r\\n]',
  `\\s?[${DEEPSEEK_LLM_CASED}]+`,
  '\\s?[!-/:-~\\u{FF01}-\\u{FF0F}\\u{FF1A}-\\u{FF5E}\\u{2018}-\\u{201F}\\u{3000}-\\u{3002}]+',
  '\\s+$',
  '[\\u{4E00}-\\u{9FA5}\\u{800}-\\u{4E00}\\u{AC00}-\\u{D7FF}]+',
  '\\p{N}+',
];

interface PreTokenizerFacts {
  readonly regexes: readonly string[];
  /** A word that is a vocabulary token is emitted whole, without merges (llama.cpp `ignore_merges`). */
  readonly ignoreMerges?: boolean;
  readonly addBos?: boolean;
  /** llama.cpp's `clean_spaces` for this pre-tokenizer. */
  readonly cleanSpaces: boolean;
}

/** llama.cpp's pre-tokenizers (`llm_tokenizer_bpe`) for the names MoE checkpoints use. */
const PRE_TOKENIZERS: Readonly<Record<string, PreTokenizerFacts>> = {
  default: { regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2_REGEX, '\\p{N}+', '[0-9][0-9][0-9]'], cleanSpaces: true },
  'gpt-2': { regexes: [GPT2_REGEX], cleanSpaces: true },
  olmo: { regexes: [GPT2_REGEX], cleanSpaces: true },
  mpt: { regexes: [GPT2_REGEX], cleanSpaces: true },
  qwen2: { regexes: [QWEN2_REGEX], cleanSpaces: false },
  'deepseek-r1-qwen': { regexes: [QWEN2_REGEX], cleanSpaces: false },
  stablelm2: { regexes: [QWEN2_REGEX], cleanSpaces: true },
  'llama-bpe': { regexes: [LLAMA3_REGEX], ignoreMerges: true, addBos: true, cleanSpaces: true },
  llama3: { regexes: [LLAMA3_REGEX], ignoreMerges: true, addBos: true, cleanSpaces: true },
  'llama-v3': { regexes: [LLAMA3_REGEX], ignoreMerges: true, addBos: true, cleanSpaces: true },
  dbrx: { regexes: [LLAMA3_REGEX], cleanSpaces: true },
  'smaug-bpe': { regexes: [LLAMA3_REGEX], cleanSpaces: true },
  'deepseek-llm': { regexes: DEEPSEEK_LLM_REGEXES, cleanSpaces: false },
  'gpt-4o': { regexes: [O200K_REGEX], cleanSpaces: false },
  llama4: { regexes: [O200K_REGEX], cleanSpaces: false },
  // Digits one by one, then GPT-2's split (llama.cpp's STARCODER / REFACT).
  starcoder: { regexes: ['\\p{N}', GPT2_REGEX], cleanSpaces: true },
  refact: { regexes: ['\\p{N}', GPT2_REGEX], cleanSpaces: true },
};

/** The `tokenizer.ggml.pre` values this runtime tokenizes like llama.cpp. */
export const GGUF_PRE_TOKENIZERS: readonly string[] = Object.keys(PRE_TOKENIZERS);

/** A tokenizer.json object and the tokenizer_config.json facts that go with it. */
export interface GgufTokenizerFiles {
  readonly tokenizer: Json;
  readonly config: Json;
  /** `gpt2` or `llama`. */
  readonly model: string;
}

interface Vocab {
  readonly tokens: string[];
  readonly types: number[];
  readonly scores?: number[];
}

function readVocab(meta: GgufMetadata, withScores: boolean): Vocab {
  const raw = meta.strings('tokenizer.ggml.tokens');
  const n = raw.length;
  const types = meta.has('tokenizer.ggml.token_type') ? meta.numbers('tokenizer.ggml.token_type', 'integer') : new Array<number>(n).fill(GGUF_TOKEN_TYPES.normal);
  if (types.length < n) throw new GgufError(meta.file, 'tokenizer.ggml.token_type', `has ${types.length} entries for ${n} tokens`);
  let scores: number[] | undefined;
  if (withScores) {
    scores = meta.has('tokenizer.ggml.scores') ? meta.numbers('tokenizer.ggml.scores', 'number') : new Array<number>(n).fill(0);
    if (scores.length < n) throw new GgufError(meta.file, 'tokenizer.ggml.scores', `has ${scores.length} entries for ${n} tokens`);
  }
  // As llama.cpp: an empty token gets a placeholder text, a repeated one is an error.
  const tokens = raw.map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
  const seen = new Map<string, number>();
  tokens.forEach((t, i) => {
    const prev = seen.get(t);
    if (prev !== undefined) throw new GgufError(meta.file, 'tokenizer.ggml.tokens', `token ${JSON.stringify(t)} appears at ids ${prev} and ${i}`);
    seen.set(t, i);
  });
  return { tokens, types, scores };
}

function tokenId(meta: GgufMetadata, key: string, fallback: number | undefined, n: number): number | undefined {
  const id = meta.has(key) ? meta.uint(key) : fallback;
  if (id === undefined) return undefined;
  if (id >= n) {
    if (!meta.has(key)) return undefined;
    throw new GgufError(meta.file, key, `expected a token id in [0, ${n}), got ${id}`);
  }
  return id;
}

function addedTokens(v: Vocab): Json[] {
  const out: Json[] = [];
  v.types.forEach((type, id) => {
    if (id >= v.tokens.length) return;
    const special = type === GGUF_TOKEN_TYPES.control || type === GGUF_TOKEN_TYPES.unknown;
    if (!special && type !== GGUF_TOKEN_TYPES.userDefined) return;
    out.push({ id, content: v.tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special });
  });
  return out;
}

function postProcessor(bos: string | undefined, eos: string | undefined, bosId?: number, eosId?: number): Json {
  const special = (t: string): Json => ({ SpecialToken: { id: t, type_id: 0 } });
  const single: Json[] = [...(bos ? [special(bos)] : []), { Sequence: { id: 'A', type_id: 0 } }, ...(eos ? [special(eos)] : [])];
  const tokens: Json = {};
  if (bos) tokens[bos] = { id: bos, ids: [bosId], tokens: [bos] };
  if (eos) tokens[eos] = { id: eos, ids: [eosId], tokens: [eos] };
  return { type: 'TemplateProcessing', single, pair: [...single, { Sequence: { id: 'B', type_id: 1 } }], special_tokens: tokens };
}

/** `tokenizer.ggml.merges` entries split as llama.cpp splits them (at the first space after the first byte). */
function gpt2Merges(meta: GgufMetadata): [string, string][] {
  return meta.strings('tokenizer.ggml.merges').map((m, i) => {
    const at = m.indexOf(' ', 1);
    if (at < 0) throw new GgufError(meta.file, 'tokenizer.ggml.merges', `entry ${i} (${JSON.stringify(m)}) has no space between its two parts`);
    return [m.slice(0, at), m.slice(at + 1)];
  });
}

/**
 * SentencePiece merges: every way to write a token as two parts that are each a token or a
 * single character, ranked by the token's score (highest first; ties by id), which is the
 * order llama.cpp's SPM tokenizer merges bigrams in.
 */
function spmMerges(v: Vocab): [string, string][] {
  const ids = new Map(v.tokens.map((t, i) => [t, i]));
  const usable = (s: string): boolean => ids.has(s) || [...s].length === 1;
  const found: { a: string; b: string; score: number; id: number }[] = [];
  v.tokens.forEach((t, id) => {
    if (v.types[id] === GGUF_TOKEN_TYPES.byte) return;
    const chars = [...t];
    for (let i = 1; i < chars.length; i++) {
      const a = chars.slice(0, i).join('');
      const b = chars.slice(i).join('');
      if (usable(a) && usable(b)) found.push({ a, b, score: v.scores![id], id });
    }
  });
  found.sort((x, y) => y.score - x.score || x.id - y.id);
  return found.map((m) => [m.a, m.b]);
}

function vocabObject(tokens: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  tokens.forEach((t, i) => (out[t] = i));
  return out;
}

function gpt2Tokenizer(meta: GgufMetadata): { tokenizer: Json; vocab: Vocab; pre: PreTokenizerFacts } {
  const preName = meta.string('tokenizer.ggml.pre', 'default');
  const pre = PRE_TOKENIZERS[preName];
  if (!pre) throw new GgufError(meta.file, 'tokenizer.ggml.pre', `pre-tokenizer ${JSON.stringify(preName)} is not supported; expected one of ${GGUF_PRE_TOKENIZERS.join(', ')}`);
  const vocab = readVocab(meta, false);
  const split = (r: string): Json => ({ type: 'Split', pattern: { Regex: r }, behavior: 'Isolated', invert: false });
  const tokenizer: Json = {
    version: '1.0',
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [...pre.regexes.map(split), { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, ignore_merges: pre.ignoreMerges ?? false, vocab: vocabObject(vocab.tokens), merges: gpt2Merges(meta) },
  };
  return { tokenizer, vocab, pre };
}

function spmTokenizer(meta: GgufMetadata): { tokenizer: Json; vocab: Vocab } {
  const vocab = readVocab(meta, true);
  const spacePrefix = meta.bool('tokenizer.ggml.add_space_prefix', true);
  const escape: Json = { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' };
  const unk = vocab.types.indexOf(GGUF_TOKEN_TYPES.unknown);
  const tokenizer: Json = {
    version: '1.0',
    normalizer: spacePrefix ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, escape] } : escape,
    pre_tokenizer: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(spacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: { type: 'BPE', dropout: null, unk_token: unk >= 0 ? vocab.tokens[unk] : null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab: vocabObject(vocab.tokens), merges: spmMerges(vocab) },
  };
  return { tokenizer, vocab };
}

/** Builds the tokenizer of a GGUF checkpoint from its metadata. */
export function ggufTokenizerFiles(meta: GgufMetadata): GgufTokenizerFiles {
  const model = meta.string('tokenizer.ggml.model');
  if (model !== 'gpt2' && model !== 'llama') throw new GgufError(meta.file, 'tokenizer.ggml.model', `expected "gpt2" (byte-level BPE) or "llama" (SentencePiece), got ${JSON.stringify(model)}`);
  const built = model === 'gpt2' ? gpt2Tokenizer(meta) : { ...spmTokenizer(meta), pre: undefined };
  const { vocab } = built;
  const n = vocab.tokens.length;
  // llama.cpp's defaults: SentencePiece vocabularies add BOS (id 1) and EOS is id 2; BPE ones use id 11 and add nothing.
  const spm = model === 'llama';
  const bosId = tokenId(meta, 'tokenizer.ggml.bos_token_id', spm ? 1 : 11, n);
  const eosId = tokenId(meta, 'tokenizer.ggml.eos_token_id', spm ? 2 : 11, n);
  const addBos = meta.bool('tokenizer.ggml.add_bos_token', spm || (built.pre?.addBos ?? false));
  const addEos = meta.bool('tokenizer.ggml.add_eos_token', false);
  if (addBos && bosId === undefined) throw new GgufError(meta.file, 'tokenizer.ggml.add_bos_token', 'is true, but tokenizer.ggml.bos_token_id is not set');
  const bos = bosId === undefined ? undefined : vocab.tokens[bosId];
  const eos = eosId === undefined ? undefined : vocab.tokens[eosId];
  const tokenizer: Json = {
    ...built.tokenizer,
    truncation: null,
    padding: null,
    added_tokens: addedTokens(vocab),
    post_processor: postProcessor(addBos ? bos : undefined, addEos ? eos : undefined, bosId, eosId),
  };
  const config: Json = {
    bos_token: bos ?? null,
    eos_token: eos ?? null,
    add_bos_token: addBos,
    add_eos_token: addEos,
    clean_up_tokenization_spaces: built.pre?.cleanSpaces ?? false,
    ...(meta.has('tokenizer.chat_template') ? { chat_template: meta.string('tokenizer.chat_template') } : {}),
  };
  return { tokenizer, config, model };
}
