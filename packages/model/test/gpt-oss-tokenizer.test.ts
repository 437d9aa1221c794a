/**
 * gpt-oss's tokenizer files through the existing tokenizer and template code: a hand-made
 * byte-level BPE `tokenizer.json` shaped as gpt-oss's o200k one (a `Split` pre-tokenizer on
 * o200k's pattern, with its inline case-insensitive contractions, then `ByteLevel` without a
 * regex; harmony's special tokens as added tokens past the BPE vocabulary), a
 * `tokenizer_config.json` without a `chat_template` key and the template in
 * `chat_template.jinja`, as the published folders store it; a harmony-like template (system
 * header with `strftime_now`, `reasoning_effort`, channels, a macro, a namespace).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '@moe-runtime/backend-cpu';
import { ModelTokenizer, storedWeightBytes, TextModel, tinyTokenizerJson, writeTinyCheckpoint } from '../src/index.js';

// o200k's pre-tokenizer pattern (tiktoken's o200k_base, as gpt-oss's tokenizer.json carries it).
const O200K =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const SPECIAL = ['<|startoftext|>', '<|endoftext|>', '<|return|>', '<|constrain|>', '<|channel|>', '<|start|>', '<|end|>', '<|message|>', '<|call|>'] as const;
const VOCAB = 384;
const BPE = VOCAB - SPECIAL.length;

/** tokenizer.json in gpt-oss's shape over the tiny byte-level BPE vocabulary. */
function harmonyTokenizerJson(): Record<string, unknown> {
  const base = tinyTokenizerJson(BPE);
  const model = base.model as Record<string, unknown>;
  const vocab = { ...(model.vocab as Record<string, number>) };
  // gpt-oss's BPE has no <unk>/<s>/</s>: their ids stay (as plain pieces no merge makes).
  return {
    ...base,
    added_tokens: SPECIAL.map((content, i) => ({ id: BPE + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: O200K }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { ...model, vocab, ignore_merges: true },
  };
}

// A harmony-like template written for this test (the published one is longer: tools, thinking).
const HARMONY = `{#- harmony-like: system header, developer instructions, messages with channels -#}
{%- macro header(role, channel=none) -%}
<|start|>{{ role }}{% if channel %}<|channel|>{{ channel }}{% endif %}<|message|>
{%- endmacro -%}
{%- if reasoning_effort is not defined %}{%- set reasoning_effort = "medium" %}{%- endif %}
{{- header("system") }}You are a tiny test model.
Knowledge cutoff: 2024-06
Current date: {{ strftime_now("%Y-%m-%d") }}

Reasoning: {{ reasoning_effort }}

# Valid channels: analysis, commentary, final.<|end|>
{%- set ns = namespace(developer="") %}
{%- for m in messages if m.role == "system" or m.role == "developer" %}{%- set ns.developer = ns.developer + m.content %}{%- endfor %}
{%- if ns.developer %}{{ header("developer") }}# Instructions

{{ ns.developer }}<|end|>{% endif %}
{%- for m in messages %}
{%- if m.role == "user" %}{{ header("user") }}{{ m.content }}<|end|>
{%- elif m.role == "assistant" %}{{ header("assistant", "final") }}{{ m.content }}{% if loop.last and not add_generation_prompt %}<|return|>{% else %}<|end|>{% endif %}
{%- elif m.role != "system" and m.role != "developer" %}{{ raise_exception("unknown role " + m.role) }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|start|>assistant{% endif %}`;

let dir: string;
let tok: ModelTokenizer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gpt-oss-tok-'));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(harmonyTokenizerJson()));
  // As gpt-oss's: the special tokens named, no chat_template key (the template is its own file).
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|startoftext|>', eos_token: '<|return|>', pad_token: '<|endoftext|>', model_max_length: 131072, tokenizer_class: 'PreTrainedTokenizerFast' }));
  await writeFile(join(dir, 'chat_template.jinja'), HARMONY);
  tok = await ModelTokenizer.fromFolder(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gpt-oss tokenizer files (o200k-shaped byte-level BPE, harmony special tokens)', () => {
  it('special tokens are single ids past the BPE vocabulary; the text between them tokenizes as on its own', () => {
    const id = (t: string): number => tok.tokenId(t)!;
    expect(SPECIAL.map(id)).toEqual(SPECIAL.map((_, i) => BPE + i));
    const ids = tok.encode('<|start|>user<|message|>Hello there, it\'s 2024!<|end|>', false);
    const body = tok.encode("Hello there, it's 2024!", false);
    expect(ids).toEqual([id('<|start|>'), ...tok.encode('user', false), id('<|message|>'), ...body, id('<|end|>')]);
    expect(body.every((t) => t < BPE)).toBe(true);
    expect(tok.decode(ids)).toBe("userHello there, it's 2024!");
    expect(tok.eosTokenId).toBe(id('<|return|>'));
    expect(new TextDecoder().decode(tok.tokenBytes(id('<|channel|>')))).toBe('<|channel|>');
  });

  it('the template in chat_template.jinja loads and renders harmony: system header with the date, developer instructions, channels, generation prompt', () => {
    expect(tok.hasChatTemplate).toBe(true);
    const out = tok.applyChatTemplate([
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Bye' },
    ]);
    const today = new Date().toISOString().slice(0, 10);
    const expected =
      '<|start|>system<|message|>You are a tiny test model.\nKnowledge cutoff: 2024-06\n' +
      `Current date: ${today}\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final.<|end|>` +
      '<|start|>developer<|message|># Instructions\n\nAnswer briefly.<|end|>' +
      '<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|end|>' +
      '<|start|>user<|message|>Bye<|end|><|start|>assistant';
    // The date is local time in transformers' strftime_now; allow the day either side of UTC's.
    expect(out.replace(/Current date: \d{4}-\d{2}-\d{2}/, `Current date: ${today}`)).toBe(expected);
    const ids = tok.encode(out, false);
    expect(ids.filter((t) => t === tok.tokenId('<|start|>'))).toHaveLength(6);
    expect(ids.at(-1)).toBe(tok.encode('assistant', false).at(-1));
  });

  it('a role the template does not know raises its own error', () => {
    expect(() => tok.applyChatTemplate([{ role: 'wizard', content: 'x' }])).toThrow(/unknown role wizard/);
  });

  it('a tiny gpt-oss mxfp4 folder with these files loads as a TextModel and chats through the harmony template on cpu', async () => {
    const model = join(dir, 'model');
    // bos / eos as gpt-oss's config.json names them: <|startoftext|> and <|return|>.
    await writeTinyCheckpoint(model, { modelType: 'gpt_oss', seed: 47, expertFormat: 'mxfp4', vocabSize: VOCAB, extraConfig: { bos_token_id: BPE, eos_token_id: BPE + 2 } });
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja']) await writeFile(join(model, f), await readFile(join(dir, f)));
    const m = await TextModel.load(model, { backend: 'cpu' });
    try {
      expect(m.tokenizer.hasChatTemplate).toBe(true);
      expect(m.config.moe.expert.kind).toBe('clamped-swiglu');
      expect(m.weightBytes).toBe(storedWeightBytes(m.model.plannedTensors));
      const ids: number[] = [];
      const run = m.chat([{ role: 'user', content: 'Hi' }], { maxTokens: 5 });
      let r = await run.next();
      while (!r.done) {
        ids.push(...r.value.tokenIds);
        r = await run.next();
      }
      expect(r.value.promptTokens).toBe(tok.encode(tok.applyChatTemplate([{ role: 'user', content: 'Hi' }]), false).length);
      expect(r.value.completionTokens).toBeGreaterThan(0);
      expect(ids.every((t) => Number.isInteger(t) && t >= 0 && t < VOCAB)).toBe(true);
    } finally {
      m.dispose();
    }
  });
});
