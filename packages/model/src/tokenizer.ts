/**
 * Tokenizer and chat template from a model folder: `tokenizer.json` through Hugging Face's
 * tokenizers.js, chat templates through @huggingface/jinja. Nothing hand-written.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { ConfigError } from '@moe-runtime/core';
import { byteToUnicode } from './tiny-tokenizer.js';

/** One chat message. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

type Json = Record<string, unknown>;

/** How a vocabulary writes a token's bytes: GPT-2 byte-level characters, SentencePiece pieces, or plain text. */
type PieceKind = 'byte-level' | 'sentencepiece' | 'text';

/** Every decoder type in a tokenizer.json decoder (nested `Sequence` decoders included). */
function decoderTypes(decoder: unknown): string[] {
  if (!decoder || typeof decoder !== 'object') return [];
  const d = decoder as Json;
  const own = typeof d.type === 'string' ? [d.type] : [];
  return Array.isArray(d.decoders) ? [...own, ...d.decoders.flatMap(decoderTypes)] : own;
}

function pieceKind(tokenizerJson: Json): PieceKind {
  const types = decoderTypes(tokenizerJson.decoder);
  if (types.includes('ByteLevel')) return 'byte-level';
  if (types.includes('ByteFallback') || types.includes('Metaspace')) return 'sentencepiece';
  return 'text';
}

let unicodeToByte: Map<string, number> | undefined;

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
    private readonly pieces: PieceKind,
    private readonly source: Json,
  ) {
    const chat = config.chat_template;
    if (typeof chat === 'string') this.template = new Template(chat);
  }

  /**
   * Loads `tokenizer.json` and `tokenizer_config.json` from a model folder, and the chat template
   * from `chat_template.jinja` when the folder has one (as newer transformers save it, gpt-oss's
   * harmony template among them; it takes precedence over a `chat_template` key, as in transformers).
   */
  static async fromFolder(dir: string): Promise<ModelTokenizer> {
    const text = async (file: string, required: boolean): Promise<string | undefined> => {
      try {
        return await readFile(join(dir, file), 'utf8');
      } catch (err) {
        if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new ConfigError(join(dir, file), `cannot read the tokenizer file (${err instanceof Error ? err.message : String(err)})`);
      }
    };
    const read = async (file: string, required: boolean): Promise<Json> => {
      const t = await text(file, required);
      if (t === undefined) return {};
      try {
        return JSON.parse(t) as Json;
      } catch (err) {
        throw new ConfigError(join(dir, file), `cannot read the tokenizer file (${err instanceof Error ? err.message : String(err)})`);
      }
    };
    const config = await read('tokenizer_config.json', false);
    const template = await text('chat_template.jinja', false);
    return ModelTokenizer.fromJson(await read('tokenizer.json', true), template === undefined ? config : { ...config, chat_template: template });
  }

  /** Builds a tokenizer from parsed `tokenizer.json` and `tokenizer_config.json`. */
  static fromJson(tokenizerJson: Json, tokenizerConfig: Json = {}): ModelTokenizer {
    return new ModelTokenizer(new Tokenizer(tokenizerJson, tokenizerConfig), tokenizerConfig, pieceKind(tokenizerJson), tokenizerJson);
  }

  /**
   * What {@link fromJson} was given: structured-clone data, so another thread can build the same
   * tokenizer (a server tokenizes prompts off the thread that runs the model).
   */
  toJson(): { readonly tokenizer: Record<string, unknown>; readonly config: Record<string, unknown> } {
    return { tokenizer: this.source, config: this.config };
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

  /**
   * The bytes one token stands for (what OpenAI's `logprobs` report as `bytes`): a byte-level
   * token's bytes, a SentencePiece piece with `▁` as a space and `<0xNN>` as that byte, else the
   * token's decoded text. A token that is part of a UTF-8 character gives only its own bytes.
   * Special tokens give their text.
   */
  tokenBytes(id: number): Uint8Array {
    const piece = this.tokenizer.id_to_token(id);
    if (piece === undefined) throw new ConfigError('token id', `${id} is not in the vocabulary`);
    if (this.pieces === 'byte-level') {
      unicodeToByte ??= new Map(byteToUnicode().map((c, b) => [c, b]));
      const table = unicodeToByte;
      const chars = [...piece];
      if (chars.every((c) => table.has(c))) return Uint8Array.from(chars, (c) => table.get(c)!);
    } else if (this.pieces === 'sentencepiece') {
      const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (byte) return Uint8Array.of(parseInt(byte[1], 16));
      return new TextEncoder().encode(piece.replaceAll('\u2581', ' '));
    }
    return new TextEncoder().encode(piece);
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
    if (!this.template) {
      throw new ConfigError(
        'chat_template',
        "this model has no chat template (a folder's tokenizer_config.json chat_template or chat_template.jinja, a GGUF file's tokenizer.chat_template); use a plain completion",
      );
    }
    return this.template.render({
      messages,
      add_generation_prompt: true,
      bos_token: tokenText(this.config.bos_token) ?? '',
      eos_token: tokenText(this.config.eos_token) ?? '',
    });
  }
}
