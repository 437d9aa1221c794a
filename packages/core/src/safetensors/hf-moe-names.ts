/**
 * Hugging Face tensor names of one MoE layer, per model family, and detection of the family
 * from a checkpoint's names. All names are relative to a layer prefix like `model.layers.0.`.
 *
 * | scheme     | models                         | router                       | expert j                                   | shared                                              |
 * |------------|--------------------------------|------------------------------|--------------------------------------------|-----------------------------------------------------|
 * | `mixtral`  | Mixtral                        | `block_sparse_moe.gate`      | `block_sparse_moe.experts.j.w1/w3/w2` (gate/up/down) | none                                     |
 * | `qwen-moe` | Qwen2-MoE, Qwen3-MoE, OLMoE    | `mlp.gate`                   | `mlp.experts.j.gate_proj/up_proj/down_proj` | `mlp.shared_expert.*` + `mlp.shared_expert_gate` [1, D] (Qwen2) |
 * | `deepseek` | DeepSeek-V2 / V3               | `mlp.gate` (+ `e_score_correction_bias`, V3) | as qwen-moe                | `mlp.shared_experts.*`: n shared experts merged into one MLP of width n*F |
 */
import { ConfigError, SafetensorsError } from '../errors.js';

/** Naming schemes of MoE layers in Hugging Face checkpoints. */
export type MoENamingScheme = 'mixtral' | 'qwen-moe' | 'deepseek';

/** Accepted scheme names, including per-model aliases. */
export const MOE_SCHEME_ALIASES: Readonly<Record<string, MoENamingScheme>> = {
  mixtral: 'mixtral',
  'qwen-moe': 'qwen-moe',
  'qwen2-moe': 'qwen-moe',
  'qwen3-moe': 'qwen-moe',
  olmoe: 'qwen-moe',
  deepseek: 'deepseek',
  'deepseek-v2': 'deepseek',
  'deepseek-v3': 'deepseek',
};

/** The three projections of a SwiGLU expert. */
export type ProjectionName = 'gate' | 'up' | 'down';

/** Names of one scheme, relative to the layer prefix. */
export interface MoESchemeNames {
  readonly scheme: MoENamingScheme;
  /** Router projection `[E, D]`. */
  readonly router: string;
  /** Prefix shared by every routed expert tensor, e.g. `mlp.experts.`. */
  readonly expertsPrefix: string;
  /** A routed expert projection (`weight` or `bias`). */
  expert(j: number, p: ProjectionName, kind?: 'weight' | 'bias'): string;
  /** A shared expert projection, for schemes that have shared experts. */
  shared?(p: ProjectionName, kind?: 'weight' | 'bias'): string;
  /** Prefix of the shared expert tensors. */
  readonly sharedPrefix?: string;
  /** Qwen2-MoE's shared expert gate `[1, D]`. */
  readonly sharedGate?: string;
  /** DeepSeek-V3's `e_score_correction_bias` `[E]` (becomes `routerParams.e_score_correction_bias`). */
  readonly scoreCorrectionBias?: string;
}

const MIXTRAL_PROJ: Record<ProjectionName, string> = { gate: 'w1', up: 'w3', down: 'w2' };
const MLP_PROJ: Record<ProjectionName, string> = { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' };

/** The names of a scheme. */
export function schemeNames(scheme: MoENamingScheme): MoESchemeNames {
  if (scheme === 'mixtral') {
    return {
      scheme,
      router: 'block_sparse_moe.gate.weight',
      expertsPrefix: 'block_sparse_moe.experts.',
      expert: (j, p, kind = 'weight') => `block_sparse_moe.experts.${j}.${MIXTRAL_PROJ[p]}.${kind}`,
    };
  }
  const sharedPrefix = scheme === 'qwen-moe' ? 'mlp.shared_expert.' : 'mlp.shared_experts.';
  return {
    scheme,
    router: 'mlp.gate.weight',
    expertsPrefix: 'mlp.experts.',
    expert: (j, p, kind = 'weight') => `mlp.experts.${j}.${MLP_PROJ[p]}.${kind}`,
    sharedPrefix,
    shared: (p, kind = 'weight') => `${sharedPrefix}${MLP_PROJ[p]}.${kind}`,
    sharedGate: scheme === 'qwen-moe' ? 'mlp.shared_expert_gate.weight' : undefined,
    scoreCorrectionBias: scheme === 'deepseek' ? 'mlp.gate.e_score_correction_bias' : undefined,
  };
}

/** Resolves a scheme name or alias; a ConfigError naming `field` lists the accepted ones. */
export function resolveScheme(name: string, field = 'scheme'): MoENamingScheme {
  const scheme = typeof name === 'string' ? MOE_SCHEME_ALIASES[name] : undefined;
  if (!scheme) throw new ConfigError(field, `expected one of ${Object.keys(MOE_SCHEME_ALIASES).join(', ')}, got ${JSON.stringify(name)}`);
  return scheme;
}

/** Layer prefixes (like `model.layers.3.`) that hold an MoE router, for hints in messages. */
export function findMoEPrefixes(names: readonly string[]): string[] {
  const out = new Set<string>();
  for (const n of names) {
    const m = /^(.*?)(block_sparse_moe\.gate\.weight|mlp\.gate\.weight)$/.exec(n);
    if (m) out.add(m[1]);
  }
  return [...out];
}

/**
 * Detects the scheme of the MoE layer under `prefix`. Mixtral by its `block_sparse_moe` router;
 * otherwise an `mlp.gate` router with `mlp.experts.*` is DeepSeek when it has `shared_experts`
 * or `e_score_correction_bias`, else the Qwen-MoE family (Qwen2/3-MoE, OLMoE).
 */
export function detectMoEScheme(names: readonly string[], prefix: string, source = 'checkpoint'): MoENamingScheme {
  const set = new Set(names);
  if (set.has(`${prefix}block_sparse_moe.gate.weight`)) return 'mixtral';
  if (set.has(`${prefix}mlp.gate.weight`) && names.some((n) => n.startsWith(`${prefix}mlp.experts.`))) {
    const deepseek = set.has(`${prefix}mlp.gate.e_score_correction_bias`) || names.some((n) => n.startsWith(`${prefix}mlp.shared_experts.`));
    return deepseek ? 'deepseek' : 'qwen-moe';
  }
  const under = names.filter((n) => n.startsWith(prefix));
  const prefixes = findMoEPrefixes(names);
  const hint = prefixes.length
    ? `; MoE layers were found under prefix(es) ${prefixes.slice(0, 6).map((p) => `'${p}'`).join(', ')}${prefixes.length > 6 ? ', ...' : ''}`
    : '';
  throw new SafetensorsError(
    `${source}: no MoE layer under prefix '${prefix}': expected '${prefix}block_sparse_moe.gate.weight' (Mixtral) or '${prefix}mlp.gate.weight' with '${prefix}mlp.experts.*' (Qwen-MoE, DeepSeek, OLMoE); ` +
      `${under.length} tensor(s) start with the prefix${under.length ? ` (e.g. ${under.slice(0, 4).map((n) => `'${n}'`).join(', ')})` : ''}${hint}`,
  );
}
