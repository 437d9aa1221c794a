/**
 * A Hugging Face `config.json`'s `quantization_config`: which method quantized the stored
 * weights and which modules it left alone. gpt-oss's released checkpoints say
 * `{ quant_method: "mxfp4", modules_to_not_convert: ["model.layers.*.self_attn",
 * "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"] }`: only the experts are
 * mxfp4 (`*_blocks` / `*_scales`), everything else bf16. A method an architecture does not
 * read is refused naming `quantization_config.quant_method`, never loaded as if unquantized.
 */
import type { HfConfigReader } from './hf-config-reader.js';

/** Quantization methods whose stored layout a module can read. */
export type HfQuantMethod = 'mxfp4';

/** Every method some architecture reads. */
export const HF_QUANT_METHODS: readonly HfQuantMethod[] = ['mxfp4'];

/** A parsed `quantization_config`. */
export interface HfQuantization {
  readonly method: HfQuantMethod;
  /** `modules_to_not_convert`: module name patterns (`*` matches any run of characters) stored unquantized. */
  readonly notConverted: readonly string[];
}

/**
 * Which method quantized a module of one layer (relative name, e.g. `mlp.experts`), or
 * undefined when it is stored unquantized; what a layout picks its tensor list by.
 */
export type HfModuleQuantization = (module: string) => HfQuantMethod | undefined;

/**
 * Parses `quantization_config` (absent or null: undefined). `supported` lists the methods the
 * architecture reads; anything else is a ConfigError naming the field.
 */
export function parseHfQuantization(r: HfConfigReader, supported: readonly HfQuantMethod[], modelType: string): HfQuantization | undefined {
  const q = r.value('quantization_config');
  if (q === undefined || q === null) return undefined;
  if (typeof q !== 'object' || Array.isArray(q)) throw r.error('quantization_config', `expected an object, got ${JSON.stringify(q)}`);
  const { quant_method: method, modules_to_not_convert: skip } = q as Record<string, unknown>;
  if (typeof method !== 'string' || !supported.includes(method as HfQuantMethod)) {
    const expected = supported.length ? `one of ${supported.join(', ')}` : `no quantization (${modelType} checkpoints are read as stored floats)`;
    throw r.error('quantization_config.quant_method', `expected ${expected}, got ${JSON.stringify(method)}`);
  }
  if (skip !== undefined && skip !== null && (!Array.isArray(skip) || skip.some((s) => typeof s !== 'string' || s.length === 0))) {
    throw r.error('quantization_config.modules_to_not_convert', `expected a list of module names, got ${JSON.stringify(skip)}`);
  }
  return { method: method as HfQuantMethod, notConverted: (skip as string[] | null | undefined) ?? [] };
}

function patternOf(p: string): RegExp {
  const body = p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  // The module itself or one inside it (a pattern ends at a name boundary).
  return new RegExp(`^${body}(\\..*)?$`);
}

/** Whether `module` (a full name, e.g. `model.layers.3.mlp.experts`) is stored unquantized. */
export function isNotConverted(q: HfQuantization, module: string): boolean {
  return q.notConverted.some((p) => patternOf(p).test(module));
}

/** The quantization of layer modules under `prefix` (e.g. `model.layers.3.`). */
export function moduleQuantization(q: HfQuantization | undefined, prefix: string): HfModuleQuantization {
  return (module) => (q && !isNotConverted(q, prefix + module) ? q.method : undefined);
}
