/**
 * What a served text model is made of: a Hugging Face model folder on disk, or a tiny seeded
 * checkpoint the worker writes into a temporary folder (`--demo-model`), so the OpenAI-compatible
 * endpoints can be tried without any download. Plain JSON: the main thread validates it and the
 * generation worker loads it.
 */
import { basename, resolve } from 'node:path';
import { ConfigError } from '@moe-runtime/core';
// The light entry point (the registry alone): the main thread does not load the model package.
import { DEFAULT_MODEL_TYPE, MODEL_TYPES, type ModelType } from '@moe-runtime/model/architectures';

/** Model types `writeTinyCheckpoint` can generate: every architecture of the model package's registry. */
export const DEMO_MODEL_TYPES: readonly ModelType[] = MODEL_TYPES;

/** A demo model type. */
export type DemoModelType = ModelType;

/**
 * A checkpoint on disk: a GGUF file (or the first part of a split one) or a Hugging Face model
 * folder (config.json, safetensors, tokenizer.json, tokenizer_config.json).
 */
export interface FolderModelSpec {
  /** Name in the OpenAI `model` field (default: the file name without `.gguf`, or the folder's basename). */
  readonly id: string;
  readonly source: 'folder';
  readonly path: string;
}

/** A tiny seeded random checkpoint generated at start (random weights: random text). */
export interface DemoModelSpec {
  readonly id: string;
  readonly source: 'demo';
  readonly modelType: DemoModelType;
  readonly seed: number;
}

/** One served text model. */
export type ModelSpec = FolderModelSpec | DemoModelSpec;

const ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Parses `--model` values: `DIR` or `name=DIR` (id defaults to the folder's basename). */
export function modelSpecFromFlag(value: string): FolderModelSpec {
  const eq = value.indexOf('=');
  // A path may itself hold '=', so only a prefix that looks like an id counts as a name.
  if (eq > 0 && ID.test(value.slice(0, eq))) return { id: value.slice(0, eq), source: 'folder', path: resolve(value.slice(eq + 1)) };
  const path = resolve(value);
  return { id: defaultModelId(path), source: 'folder', path };
}

/** A model's id from its path: a GGUF file's name without the extension and split suffix, a folder's name. */
export function defaultModelId(path: string): string {
  const name = basename(path).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '');
  // Ids are restricted (they appear in URLs and logs): other characters become '-'.
  const id = name.replace(/[^A-Za-z0-9._:/-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  return id.length ? id : 'model';
}

/** The spec of `--demo-model [type]`. */
export function demoModelSpec(modelType: string = DEFAULT_MODEL_TYPE, seed = 1): DemoModelSpec {
  if (!DEMO_MODEL_TYPES.includes(modelType as DemoModelType)) {
    throw new ConfigError('--demo-model', `expected one of ${DEMO_MODEL_TYPES.join(', ')}, got ${JSON.stringify(modelType)}`);
  }
  return { id: `tiny-${modelType.replace('_', '-')}`, source: 'demo', modelType: modelType as DemoModelType, seed };
}

/** Validates a model spec; throws a ConfigError naming `<field>.<key>`. */
export function validateModelSpec(field: string, spec: unknown): ModelSpec {
  if (!isObject(spec)) throw new ConfigError(field, 'expected { id, source: "folder", path } or { id, source: "demo", modelType, seed }');
  if (typeof spec.id !== 'string' || !ID.test(spec.id)) {
    throw new ConfigError(`${field}.id`, `expected 1-128 letters, digits, '.', '_', ':', '/' or '-', got ${JSON.stringify(spec.id)}`);
  }
  if (spec.source === 'folder') {
    if (typeof spec.path !== 'string' || spec.path.length === 0) throw new ConfigError(`${field}.path`, 'expected the path of a GGUF file or a model folder');
    return { id: spec.id, source: 'folder', path: spec.path };
  }
  if (spec.source === 'demo') {
    const type = spec.modelType ?? DEFAULT_MODEL_TYPE;
    if (!DEMO_MODEL_TYPES.includes(type as DemoModelType)) {
      throw new ConfigError(`${field}.modelType`, `expected one of ${DEMO_MODEL_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
    }
    const seed = spec.seed ?? 1;
    if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new ConfigError(`${field}.seed`, `expected an integer, got ${JSON.stringify(seed)}`);
    return { id: spec.id, source: 'demo', modelType: type as DemoModelType, seed };
  }
  throw new ConfigError(`${field}.source`, `expected 'folder' or 'demo', got ${JSON.stringify(spec.source)}`);
}
