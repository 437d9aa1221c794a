/**
 * One entry point for every checkpoint kind: a path ending in `.gguf` (a GGUF file, or the
 * first shard of a split one) or a Hugging Face model folder. Both give a layer-by-layer
 * weight source and the model's tokenizer; {@link loadModel} then checks the memory and
 * prepares the decoder on a backend.
 */
import type { Backend, DType } from '@moe-runtime/core';
import { ggufTokenizerFiles } from './gguf/gguf-tokenizer.js';
import { openGgufModel } from './gguf/gguf-model-source.js';
import { openHfCheckpoint } from './model-loader.js';
import { MoEModel, type LoadModelOptions } from './moe-model.js';
import type { ModelWeightSource } from './model-source.js';
import { ModelTokenizer } from './tokenizer.js';

/** True for a path that names a GGUF file. */
export function isGgufPath(path: string): boolean {
  return /\.gguf$/i.test(path);
}

/** Options of {@link openModel} and {@link loadModel}. */
export interface OpenModelOptions {
  /**
   * Store the weight matrices (attention projections, experts, embedding, LM head) in this
   * format, converting at load one tensor at a time; norms, biases and routers keep theirs.
   */
  readonly dtype?: DType;
  /**
   * Layer tensors come unread where the file stores them as the backend holds them (default
   * true): a backend that copies weights reads them from the file straight into its memory.
   * `false` reads every tensor with its layer (the A/B of `load-bench --eager`).
   */
  readonly deferTensorData?: boolean;
}

/** A checkpoint opened for loading: nothing but headers and the tokenizer has been read. */
export interface OpenedModel {
  readonly format: 'gguf' | 'huggingface';
  readonly source: ModelWeightSource;
  readonly tokenizer: ModelTokenizer;
}

/** Opens a GGUF file or a Hugging Face folder; every header is checked, no weights are read. */
export async function openModel(path: string, options: OpenModelOptions = {}): Promise<OpenedModel> {
  if (isGgufPath(path)) {
    const opened = await openGgufModel(path, { dtype: options.dtype, deferTensorData: options.deferTensorData });
    try {
      const files = ggufTokenizerFiles(opened.metadata);
      return { format: 'gguf', source: opened.source, tokenizer: ModelTokenizer.fromJson(files.tokenizer, files.config) };
    } catch (err) {
      await opened.source.close();
      throw err;
    }
  }
  // The tokenizer first: a folder without one fails before its weights are opened.
  const tokenizer = await ModelTokenizer.fromFolder(path);
  return { format: 'huggingface', source: await openHfCheckpoint(path, { dtype: options.dtype, deferTensorData: options.deferTensorData }), tokenizer };
}

/** A model prepared on a backend, with its tokenizer. */
export interface LoadedModel {
  readonly format: OpenedModel['format'];
  readonly model: MoEModel;
  readonly tokenizer: ModelTokenizer;
  /** Tensors converted at load by `dtype`. */
  readonly converted: readonly string[];
}

/**
 * Opens and loads a model onto `backend`, one layer at a time, after checking that it fits
 * (what `TextModel.load` and the server do).
 */
export async function loadModel(path: string, backend: Backend, options: OpenModelOptions & LoadModelOptions = {}): Promise<LoadedModel> {
  const { format, source, tokenizer } = await openModel(path, options);
  const model = await MoEModel.load(source, backend, options);
  return { format, model, tokenizer, converted: source.converted };
}
