/**
 * The shape of an MoE layer: hidden size, experts, k, expert kind, shared experts and router.
 * Plain JSON, so benchmark scenarios, server config files and model configs can all name one.
 */
import { ConfigError } from './errors.js';
import { EXPERT_KINDS, isGatedKind, type ExpertKind } from './expert.js';

/** Router name plus JSON options, e.g. `{ name: 'switch', options: { capacityFactor: 1.25 } }`. */
export interface RouterSpec {
  readonly name: string;
  readonly options?: Readonly<Record<string, unknown>>;
}

/** Shared experts that every token passes through (Qwen2-MoE, DeepSeek). */
export interface SharedExpertsConfig {
  /** Number of shared experts (each of `ffnSize`). Default 1. */
  readonly count?: number;
  /** Inner size F of each shared expert. */
  readonly ffnSize: number;
  /** Qwen2-MoE: scale the shared output by sigmoid(x . shared_expert_gate). Default false. */
  readonly gated?: boolean;
}

/** Everything that determines an MoE layer's computation, apart from its weights. */
export interface MoELayerConfig {
  /** D: model hidden size. */
  readonly hiddenSize: number;
  /** E: number of routed experts. */
  readonly numExperts: number;
  /** k: experts per token (routers may treat it as a target, e.g. expert choice). */
  readonly topK: number;
  /** Expert kind, inner size F and whether the expert projections carry biases. */
  readonly expert: { readonly kind: ExpertKind; readonly ffnSize: number; readonly bias?: boolean };
  readonly sharedExperts?: SharedExpertsConfig;
  readonly router: RouterSpec;
}

function positiveInt(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Validates a layer config, throwing a ConfigError that names the field. Returns it unchanged. */
export function validateLayerConfig(config: MoELayerConfig): MoELayerConfig {
  if (config === null || typeof config !== 'object') {
    throw new ConfigError('config', `expected an object, got ${JSON.stringify(config)}`);
  }
  positiveInt('hiddenSize', config.hiddenSize);
  const experts = positiveInt('numExperts', config.numExperts);
  const k = positiveInt('topK', config.topK);
  if (k > experts) throw new ConfigError('topK', `expected at most numExperts (${experts}), got ${k}`);
  if (!config.expert || typeof config.expert !== 'object') {
    throw new ConfigError('expert', 'expected { kind, ffnSize }');
  }
  if (!EXPERT_KINDS.includes(config.expert.kind)) {
    throw new ConfigError('expert.kind', `expected one of ${EXPERT_KINDS.join(', ')}, got ${JSON.stringify(config.expert.kind)}`);
  }
  positiveInt('expert.ffnSize', config.expert.ffnSize);
  if (config.expert.bias !== undefined && typeof config.expert.bias !== 'boolean') {
    throw new ConfigError('expert.bias', `expected a boolean, got ${JSON.stringify(config.expert.bias)}`);
  }
  if (config.sharedExperts !== undefined) {
    const shared = config.sharedExperts;
    if (shared === null || typeof shared !== 'object') throw new ConfigError('sharedExperts', 'expected { count?, ffnSize, gated? }');
    if (shared.count !== undefined) positiveInt('sharedExperts.count', shared.count);
    positiveInt('sharedExperts.ffnSize', shared.ffnSize);
    if (shared.gated !== undefined && typeof shared.gated !== 'boolean') {
      throw new ConfigError('sharedExperts.gated', `expected a boolean, got ${JSON.stringify(shared.gated)}`);
    }
  }
  if (!config.router || typeof config.router.name !== 'string' || config.router.name.length === 0) {
    throw new ConfigError('router.name', `expected a router name, got ${JSON.stringify(config.router?.name)}`);
  }
  if (config.router.options !== undefined && (typeof config.router.options !== 'object' || config.router.options === null || Array.isArray(config.router.options))) {
    throw new ConfigError('router.options', 'expected an object of router options');
  }
  return config;
}

/** Number of shared experts in a config (0 when none). */
export function sharedExpertCount(config: MoELayerConfig): number {
  return config.sharedExperts ? (config.sharedExperts.count ?? 1) : 0;
}

/**
 * The dense FFN with the same active parameters as the routed part of a layer (inner size
 * k x F, one expert, top-1): what an MoE layer's cost is measured against.
 */
export function denseEquivalentConfig(config: MoELayerConfig): MoELayerConfig {
  return {
    hiddenSize: config.hiddenSize,
    numExperts: 1,
    topK: 1,
    expert: { kind: config.expert.kind, ffnSize: config.topK * config.expert.ffnSize, bias: config.expert.bias },
    router: { name: 'topk-softmax' },
  };
}

/** Multiply-adds x 2 of one token through k routed experts (router and shared experts excluded). */
export function activeExpertFlopsPerToken(config: MoELayerConfig): number {
  const matrices = isGatedKind(config.expert.kind) ? 3 : 2;
  return 2 * matrices * config.hiddenSize * config.expert.ffnSize * config.topK;
}
