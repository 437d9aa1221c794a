/**
 * The architecture registry: every architecture module this package runs, found by Hugging
 * Face `model_type` or GGUF `general.architecture`. Adding an architecture is its folder and
 * one entry in {@link ARCHITECTURES}; every other place asks these lookups.
 */
import { ConfigError } from '@moe-runtime/core';
import type { Architecture } from './architecture.js';
import { deepseekV2 } from './deepseek_v2/index.js';
import { gptOss } from './gpt_oss/index.js';
import { graniteMoe } from './granitemoe/index.js';
import { mixtral } from './mixtral/index.js';
import { olmoe } from './olmoe/index.js';
import { qwen2Moe } from './qwen2_moe/index.js';
import { qwen3Moe } from './qwen3_moe/index.js';

/** Every architecture module, in the order lists and messages show them. */
export const ARCHITECTURES = [mixtral, qwen2Moe, qwen3Moe, olmoe, graniteMoe, gptOss, deepseekV2] as const;

/** Model types this package runs (Hugging Face `model_type`). */
export type ModelType = (typeof ARCHITECTURES)[number]['modelType'];

/** The GGUF `general.architecture` values this package loads. */
export type GgufArchitecture = (typeof ARCHITECTURES)[number]['gguf']['architecture'];

/** Every supported model type. */
export const MODEL_TYPES: readonly ModelType[] = ARCHITECTURES.map((a) => a.modelType);

/** Every supported GGUF architecture. */
export const GGUF_ARCHITECTURES: readonly GgufArchitecture[] = ARCHITECTURES.map((a) => a.gguf.architecture);

/** The module of a model type, or undefined for one this package does not run. */
export function findArchitecture(modelType: unknown): Architecture<ModelType, GgufArchitecture> | undefined {
  return ARCHITECTURES.find((a) => a.modelType === modelType);
}

/** The module of a supported model type (a ConfigError naming `model_type` otherwise). */
export function architectureOf(modelType: ModelType): Architecture<ModelType, GgufArchitecture> {
  const a = findArchitecture(modelType);
  if (!a) throw new ConfigError('model_type', `expected one of ${MODEL_TYPES.join(', ')}, got ${JSON.stringify(modelType)}`);
  return a;
}

/** The module of a GGUF `general.architecture`, or undefined for one this package does not load. */
export function findGgufArchitecture(arch: unknown): Architecture<ModelType, GgufArchitecture> | undefined {
  return ARCHITECTURES.find((a) => a.gguf.architecture === arch);
}

/** The model type generators and demos use when none is given. */
export const DEFAULT_MODEL_TYPE: ModelType = 'mixtral';
