/**
 * A model ready to generate text: checkpoint (a GGUF file or a Hugging Face folder) + tokenizer
 * + decoder on a backend. What the CLI uses.
 */
import type { BackendChoice, DType } from '@moe-runtime/core';
import { chooseModelBackend, type BackendCandidate, type BackendChoiceReport } from './backend-choice.js';
import { generate, type GeneratedChunk, type GenerateOptions, type GenerationStats } from './generate.js';
import type { ModelConfig } from './model-config.js';
import { openModel } from './model-files.js';
import { peakRssBytes, type MachineMemory, type ModelMemoryEstimate } from './model-memory.js';
import { storedWeightBytes } from './model-source.js';
import { MoEModel } from './moe-model.js';
import type { ChatMessage, ModelTokenizer } from './tokenizer.js';

/** Options of {@link TextModel.load}. */
export interface LoadTextModelOptions {
  /**
   * Backend name(s) in order of preference (the package must have been imported): the first
   * that starts and fits the model. Default: of every registered backend, the one that would
   * hold the model in the fewest bytes and fits (see `chooseModelBackend`).
   */
  readonly backend?: BackendChoice | readonly BackendChoice[];
  /**
   * Store the weight matrices in this format (default: as stored). Block formats (`q8_0`,
   * `q4_k`, ...) quantize at load, one tensor at a time; norms, biases and routers keep theirs.
   */
  readonly dtype?: DType;
  /** Check that the model fits before reading weights (default true). */
  readonly checkMemory?: boolean;
  /** The machine's memory to check against (default: what the OS reports). */
  readonly machine?: MachineMemory;
  /** Called after each layer is prepared. */
  readonly onLayer?: (layer: number, of: number) => void;
}

/** What loading cost. */
export interface LoadReport {
  /** Wall time of the load, in ms. */
  readonly loadMs: number;
  /** The process's peak RSS right after loading, in bytes. */
  readonly peakRssBytes: number;
  /** Tensors converted at load by `dtype`. */
  readonly converted: readonly string[];
  readonly format: 'gguf' | 'huggingface';
  /** The backends considered for the model and what each would have needed (`chooseModelBackend`). */
  readonly backends: readonly BackendCandidate[];
  /** How the backend was picked. */
  readonly backendRule: 'first that fits' | 'fewest bytes';
}

/** A loaded text model. */
export class TextModel {
  private constructor(
    /** The checkpoint path (a folder or a `.gguf` file). */
    readonly dir: string,
    readonly model: MoEModel,
    readonly tokenizer: ModelTokenizer,
    /** Bytes of the weights in the format the model holds them. */
    readonly weightBytes: number,
    readonly load: LoadReport,
  ) {}

  /** Loads a Hugging Face model folder or a GGUF file onto a backend, one layer at a time. */
  static async load(path: string, options: LoadTextModelOptions = {}): Promise<TextModel> {
    const t0 = performance.now();
    const { format, source, tokenizer } = await openModel(path, options);
    let choice: BackendChoiceReport;
    try {
      choice = await chooseModelBackend(source.source, source.tensors, options);
    } catch (err) {
      await source.close();
      throw err;
    }
    // MoEModel.load closes the source, loaded or not.
    const model = await MoEModel.load(source, choice.backend, options);
    const report: LoadReport = { loadMs: performance.now() - t0, peakRssBytes: peakRssBytes(), converted: source.converted, format, backends: choice.candidates, backendRule: choice.rule };
    return new TextModel(path, model, tokenizer, storedWeightBytes(model.plannedTensors), report);
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  /** Bytes the backend holds (as it reports them, else as stored) and bytes kept on the host. */
  get memory(): ModelMemoryEstimate {
    return this.model.memory;
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
