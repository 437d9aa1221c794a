/**
 * A model folder ready to generate text: checkpoint + tokenizer + decoder on a backend. What
 * the CLI and the server's OpenAI-compatible endpoints use.
 */
import { resolveBackend, type Backend, type BackendChoice, type DType } from '@moe-runtime/core';
import { generate, type GeneratedChunk, type GenerateOptions, type GenerationStats } from './generate.js';
import { loadCheckpoint } from './model-loader.js';
import type { ModelConfig } from './model-config.js';
import { weightBytes } from './model-weights.js';
import { MoEModel } from './moe-model.js';
import { ModelTokenizer, type ChatMessage } from './tokenizer.js';

/** Options of {@link TextModel.load}. */
export interface LoadTextModelOptions {
  /** Backend name(s) in order of preference (the package must have been imported). Default: by priority. */
  readonly backend?: BackendChoice | readonly BackendChoice[];
  /** Convert weights to this dtype at load (default: keep the stored dtype). */
  readonly dtype?: DType;
}

/** A loaded text model. */
export class TextModel {
  private constructor(
    readonly dir: string,
    readonly model: MoEModel,
    readonly tokenizer: ModelTokenizer,
    /** Bytes of the weights as stored on the host. */
    readonly weightBytes: number,
  ) {}

  /** Loads a Hugging Face model folder onto a backend. */
  static async load(dir: string, options: LoadTextModelOptions = {}): Promise<TextModel> {
    const backend: Backend = await resolveBackend(options.backend);
    const [checkpoint, tokenizer] = await Promise.all([loadCheckpoint(dir, { dtype: options.dtype }), ModelTokenizer.fromFolder(dir)]);
    const model = await MoEModel.create(checkpoint.config, checkpoint.weights, backend);
    return new TextModel(dir, model, tokenizer, weightBytes(checkpoint.weights));
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  /** Streams a completion of `prompt`. */
  complete(prompt: string, options: GenerateOptions = {}): AsyncGenerator<GeneratedChunk, GenerationStats, void> {
    return generate(this.model, this.tokenizer, this.tokenizer.encode(prompt), options);
  }

  /** Streams the assistant's reply to `messages`, rendered with the model's chat template. */
  chat(messages: readonly ChatMessage[], options: GenerateOptions = {}): AsyncGenerator<GeneratedChunk, GenerationStats, void> {
    // The template already writes BOS where the model wants it.
    const ids = this.tokenizer.encode(this.tokenizer.applyChatTemplate(messages), false);
    return generate(this.model, this.tokenizer, ids, options);
  }

  /** Frees the backend resources. */
  dispose(): void {
    this.model.dispose();
  }
}
