/**
 * Tokenizer and chat template from a model folder: `tokenizer.json` through Hugging Face's
 * tokenizers.js, chat templates through @huggingface/jinja. Nothing hand-written.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { ConfigError } from '@moe-runtime/core';

/** One chat message. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

type Json = Record<string, unknown>;

function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/** A model's tokenizer with its chat template. */
export class ModelTokenizer {
  private readonly template?: Template;

  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly config: Json,
  ) {
    const chat = config.chat_template;
    if (typeof chat === 'string') this.template = new Template(chat);
  }

  /** Loads `tokenizer.json` and `tokenizer_config.json` from a model folder. */
  static async fromFolder(dir: string): Promise<ModelTokenizer> {
    const read = async (file: string, required: boolean): Promise<Json> => {
      try {
        return JSON.parse(await readFile(join(dir, file), 'utf8')) as Json;
      } catch (err) {
        if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
        throw new ConfigError(join(dir, file), `cannot read the tokenizer file (${err instanceof Error ? err.message : String(err)})`);
      }
    };
    return ModelTokenizer.fromJson(await read('tokenizer.json', true), await read('tokenizer_config.json', false));
  }

  /** Builds a tokenizer from parsed `tokenizer.json` and `tokenizer_config.json`. */
  static fromJson(tokenizerJson: Json, tokenizerConfig: Json = {}): ModelTokenizer {
    return new ModelTokenizer(new Tokenizer(tokenizerJson, tokenizerConfig), tokenizerConfig);
  }

  /** Token ids of `text` (with the tokenizer's special tokens, e.g. BOS, when configured). */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /**
   * Text of `ids`, skipping special tokens. `cleanUpSpaces: false` turns off the tokenizer's
   * `clean_up_tokenization_spaces` (" ." -> "."), which rewrites text already decoded when a
   * later token arrives: streaming needs decodes that only ever grow.
   */
  decode(ids: readonly number[], options: { readonly cleanUpSpaces?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], {
      skip_special_tokens: true,
      ...(options.cleanUpSpaces === false ? { clean_up_tokenization_spaces: false } : {}),
    });
  }

  /** The id of a token string, if it is in the vocabulary. */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token) ?? undefined;
  }

  /** The EOS token id from tokenizer_config.json, if any. */
  get eosTokenId(): number | undefined {
    const eos = tokenText(this.config.eos_token);
    return eos === undefined ? undefined : this.tokenId(eos);
  }

  /** True when the folder supplied a chat template. */
  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** Renders messages with the model's chat template (generation prompt appended). */
  applyChatTemplate(messages: readonly ChatMessage[]): string {
    if (!this.template) throw new ConfigError('tokenizer_config.json: chat_template', 'this model has no chat template; use a plain completion');
    return this.template.render({
      messages,
      add_generation_prompt: true,
      bos_token: tokenText(this.config.bos_token) ?? '',
      eos_token: tokenText(this.config.eos_token) ?? '',
    });
  }
}
