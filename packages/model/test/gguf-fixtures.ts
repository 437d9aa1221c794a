/** Small GGUF checkpoints written by the tests themselves (seeded, into a temp folder). */
import { join } from 'node:path';
import { HostTensor, type DType } from '@moe-runtime/core';
import {
  ggufTokenizerFromJson,
  loadCheckpoint,
  tinySpmVocabulary,
  TINY_RICH_CORPUS,
  tinyTokenizerJson,
  writeModelGguf,
  writeTinyCheckpoint,
  type GgufVocabulary,
  type ModelConfig,
  type ModelType,
  type ModelWeights,
  type TinyCheckpointOptions,
} from '../src/index.js';

/** Shapes whose every row is a whole number of 256-value k-quant blocks. */
export const KQUANT_SHAPE = { hiddenSize: 256, numHeads: 4, numKvHeads: 2, ffnSize: 256, sharedFfnSize: 256, numExperts: 4, topK: 2, vocabSize: 384 } as const;

export interface TinyGgufOptions extends TinyCheckpointOptions {
  readonly modelType: ModelType;
  /** Weight matrices are quantized to this format at load of the Hugging Face folder, then written as stored. */
  readonly format?: DType;
  readonly vocabulary?: 'gpt2' | 'llama';
  /** `tokenizer.ggml.pre` of a gpt2 vocabulary (default gpt-2). */
  readonly pre?: string;
  /** Learn the vocabulary's merges across words from a text of digits, punctuation and unicode (for tokenizer cross-checks). */
  readonly richVocabulary?: boolean;
  readonly shards?: number;
  /** `tokenizer.chat_template`. */
  readonly chatTemplate?: string;
  /** Changes the weights before they are written (e.g. another format for some tensors). */
  readonly edit?: (weights: ModelWeights, config: ModelConfig) => ModelWeights;
}

/** The GGUF vocabulary for a tiny model. */
export function tinyVocabulary(kind: 'gpt2' | 'llama', vocabSize: number, pre = 'gpt-2', rich = false): GgufVocabulary {
  const options = rich ? { corpus: TINY_RICH_CORPUS, acrossWords: true } : {};
  if (kind === 'gpt2') return { ...ggufTokenizerFromJson(tinyTokenizerJson(vocabSize, options), 1, 2), pre };
  const v = tinySpmVocabulary(vocabSize, options);
  return { model: 'llama', ...v, bosId: 1, eosId: 2, addBos: true };
}

/** Writes `<root>/<name>.gguf` (or its shards); returns the path to open. */
export async function writeTinyGguf(root: string, name: string, o: TinyGgufOptions): Promise<{ path: string; paths: string[]; config: ModelConfig }> {
  const dir = join(root, `${name}-hf`);
  await writeTinyCheckpoint(dir, o);
  const { config, weights } = await loadCheckpoint(dir, { dtype: o.format });
  const edited = o.edit ? o.edit(weights, config) : weights;
  const base = o.shards && o.shards > 1 ? join(root, name) : join(root, `${name}.gguf`);
  const vocabulary = { ...tinyVocabulary(o.vocabulary ?? 'gpt2', config.vocabSize, o.pre, o.richVocabulary), chatTemplate: o.chatTemplate };
  const paths = await writeModelGguf(base, config, edited, vocabulary, { shards: o.shards });
  return { path: paths[0], paths, config };
}

function scaled(t: HostTensor, s: number): HostTensor {
  return HostTensor.float32(t.shape, t.toFloat32().map((x) => x * s)).to(t.dtype);
}

/**
 * The weights with every residual branch's output projection (o_proj, the experts' and shared
 * experts' down projections) times `s`: a deep random model (llama.cpp's deepseek2 needs 26
 * layers) whose branches add as much as its embeddings amplifies rounding differences layer
 * after layer; quieter branches keep it as well-conditioned as the 2-layer models of the others.
 */
export function quietBranches(w: ModelWeights, s: number): ModelWeights {
  return {
    ...w,
    layers: w.layers.map((l) => ({
      ...l,
      attention: { ...l.attention, o: scaled(l.attention.o, s) },
      moe: { ...l.moe, experts: l.moe.experts.map((e) => ({ ...e, down: scaled(e.down, s) })), shared: l.moe.shared?.map((e) => ({ ...e, down: scaled(e.down, s) })) },
    })),
  };
}
