/**
 * The weights of one MoE layer, their validation (against a config, and the checks every
 * backend's prepare calls run), and seeded random initialisation for tests, demos and benchmarks.
 */
import type { LinearWeights } from './backend.js';
import { ConfigError, ShapeError } from './errors.js';
import { EXPERT_KINDS, isGatedKind, type ExpertGroup, type ExpertKind, type ExpertWeights } from './expert.js';
import { sharedExpertCount, validateLayerConfig, type MoELayerConfig } from './layer-config.js';
import { createRng, randomNormal, type Rng } from './rng.js';
import { HostTensor, type DType } from './tensor.js';

/** All weights of one MoE layer (Hugging Face `[out, in]` layout throughout). */
export interface MoEWeights {
  /** Router projection `[E, D]` (Mixtral `gate.weight`). */
  readonly router: HostTensor;
  /** Router projection bias `[E]`, added to the logits before routing (gpt-oss `router.bias`). */
  readonly routerBias?: HostTensor;
  /** Router parameters beyond the projection, by name, e.g. DeepSeek-V3's `e_score_correction_bias` `[E]`. */
  readonly routerParams?: Readonly<Record<string, HostTensor>>;
  /** The E routed experts. */
  readonly experts: readonly ExpertWeights[];
  /** Shared experts, each with inner size `sharedExperts.ffnSize`. */
  readonly shared?: readonly ExpertWeights[];
  /** Qwen2-MoE `shared_expert_gate.weight` `[1, D]`. */
  readonly sharedGate?: HostTensor;
}

function tensorAt(what: string, t: unknown, shape: readonly number[]): HostTensor {
  if (!(t instanceof HostTensor)) throw new ShapeError(`${what}: expected a HostTensor [${shape.join(', ')}], got ${(t as object)?.constructor?.name ?? typeof t}`);
  t.assertShape(what, shape);
  return t;
}

function optionalAt(what: string, t: unknown, shape: readonly number[]): void {
  if (t !== undefined) tensorAt(what, t, shape);
}

/**
 * Checks one expert's tensors (HostTensors of the shapes its kind needs; optional biases) and
 * throws a ShapeError naming the tensor (`${where}.up`, ...). No data is read.
 */
export function validateExpertWeights(where: string, e: ExpertWeights, kind: ExpertKind, d: number, f: number): void {
  if (!e || typeof e !== 'object') throw new ShapeError(`${where}: expected { up, down${isGatedKind(kind) ? ', gate' : ''} } weights`);
  if (isGatedKind(kind)) {
    if (e.gate === undefined) throw new ShapeError(`${where}.gate is missing; ${kind === 'swiglu' ? 'SwiGLU' : kind} experts need gate [${f}, ${d}]`);
    tensorAt(`${where}.gate`, e.gate, [f, d]);
    optionalAt(`${where}.gateBias`, e.gateBias, [f]);
  } else if (e.gate !== undefined || e.gateBias !== undefined) {
    throw new ShapeError(`${where}.${e.gate !== undefined ? 'gate' : 'gateBias'} is present but ${kind} experts have no gate projection`);
  }
  tensorAt(`${where}.up`, e.up, [f, d]);
  tensorAt(`${where}.down`, e.down, [d, f]);
  optionalAt(`${where}.upBias`, e.upBias, [f]);
  optionalAt(`${where}.downBias`, e.downBias, [d]);
}

function positiveInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Checks what a backend's `prepareExperts` receives: the kind, the sizes and every expert's
 * tensors (ConfigError naming `experts.<field>`, ShapeError naming `experts[j].<tensor>`).
 * Every backend calls it first, so all refuse the same groups with the same errors.
 */
export function validateExpertGroup(group: ExpertGroup): void {
  if (!group || typeof group !== 'object') throw new ConfigError('experts', 'expected an ExpertGroup { kind, hiddenSize, ffnSize, experts }');
  if (!EXPERT_KINDS.includes(group.kind)) throw new ConfigError('experts.kind', `expected one of ${EXPERT_KINDS.join(', ')}, got ${JSON.stringify(group.kind)}`);
  const d = positiveInt('experts.hiddenSize', group.hiddenSize);
  const f = positiveInt('experts.ffnSize', group.ffnSize);
  if (!Array.isArray(group.experts) || group.experts.length === 0) throw new ConfigError('experts.experts', 'expected a non-empty array of expert weights');
  group.experts.forEach((e, j) => validateExpertWeights(`experts[${j}]`, e, group.kind, d, f));
}

/**
 * Checks what a backend's `prepareLinear` receives: weight a 2-D HostTensor `[out, in]` with
 * positive dimensions, bias (optional) `[out]`; a ShapeError naming `linear.weight` / `linear.bias`.
 */
export function validateLinearWeights(weights: LinearWeights): void {
  const w = weights?.weight as unknown;
  if (!(w instanceof HostTensor) || w.shape.length !== 2) {
    throw new ShapeError(`linear.weight: expected a 2-D HostTensor [out, in], got ${w instanceof HostTensor ? `shape [${w.shape.join(', ')}]` : ((w as object)?.constructor?.name ?? typeof w)}`);
  }
  const [out, inF] = w.shape;
  if (out < 1 || inF < 1) throw new ShapeError(`linear.weight has shape [${out}, ${inF}]; expected positive dimensions [out, in]`);
  optionalAt('linear.bias', weights.bias, [out]);
}

function checkExpert(where: string, e: ExpertWeights, kind: ExpertKind, d: number, f: number, bias: boolean): void {
  validateExpertWeights(where, e, kind, d, f);
  if (!bias && (e.gateBias || e.upBias || e.downBias)) throw new ShapeError(`${where} has biases but the config says expert.bias is false`);
}

/** Checks every weight's presence and shape against the config; throws a ShapeError naming the tensor. */
export function validateWeights(config: MoELayerConfig, weights: MoEWeights): void {
  validateLayerConfig(config);
  const { hiddenSize: d, numExperts: e } = config;
  if (!weights || !weights.router) throw new ShapeError('weights.router is missing; expected [E, D]');
  weights.router.assertShape('weights.router', [e, d]);
  optionalAt('weights.routerBias', weights.routerBias, [e]);
  if (!Array.isArray(weights.experts) || weights.experts.length !== e) {
    throw new ShapeError(`weights.experts has ${weights.experts?.length ?? 0} experts, expected numExperts = ${e}`);
  }
  weights.experts.forEach((x, j) => checkExpert(`weights.experts[${j}]`, x, config.expert.kind, d, config.expert.ffnSize, config.expert.bias ?? false));
  const s = sharedExpertCount(config);
  const shared = weights.shared ?? [];
  if (shared.length !== s) throw new ShapeError(`weights.shared has ${shared.length} experts, expected sharedExperts.count = ${s}`);
  shared.forEach((x, j) => checkExpert(`weights.shared[${j}]`, x, config.expert.kind, d, config.sharedExperts!.ffnSize, config.expert.bias ?? false));
  if (config.sharedExperts?.gated) {
    if (!weights.sharedGate) throw new ShapeError(`weights.sharedGate is missing; a gated shared expert needs [1, ${d}]`);
    weights.sharedGate.assertShape('weights.sharedGate', [1, d]);
  }
  for (const [name, t] of Object.entries(weights.routerParams ?? {})) {
    if (t.shape.length !== 1 || t.shape[0] !== e) throw new ShapeError(`weights.routerParams.${name} has shape [${t.shape.join(', ')}], expected [${e}]`);
  }
}

/** The layer's extra router parameters (e.g. `e_score_correction_bias`) as float32, for a RouterContext. */
export function routerParamsOf(weights: MoEWeights): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(weights.routerParams ?? {})) out[name] = t.toFloat32();
  return out;
}

/** The routed experts of a layer as a group a backend prepares. */
export function routedExpertGroup(config: MoELayerConfig, weights: MoEWeights): ExpertGroup {
  return { kind: config.expert.kind, hiddenSize: config.hiddenSize, ffnSize: config.expert.ffnSize, experts: weights.experts };
}

/** The shared experts of a layer as a group, or undefined when it has none. */
export function sharedExpertGroup(config: MoELayerConfig, weights: MoEWeights): ExpertGroup | undefined {
  if (!config.sharedExperts || !weights.shared?.length) return undefined;
  return { kind: config.expert.kind, hiddenSize: config.hiddenSize, ffnSize: config.sharedExperts.ffnSize, experts: weights.shared };
}

/** Options for {@link randomWeights}. */
export interface RandomWeightsOptions {
  /** Seed of the generator; equal seeds give equal weights. */
  readonly seed: number;
  /** Storage dtype of the weights (values are drawn in float32, then rounded). Default float32. */
  readonly dtype?: DType;
}

function tensor(rng: Rng, shape: number[], scale: number, dtype: DType): HostTensor {
  const t = HostTensor.float32(shape, randomNormal(rng, shape[0] * (shape[1] ?? 1), scale));
  return dtype === 'float32' ? t : t.to(dtype);
}

function randomExpert(rng: Rng, kind: ExpertKind, d: number, f: number, bias: boolean, dtype: DType): ExpertWeights {
  const inScale = 1 / Math.sqrt(d);
  const outScale = 1 / Math.sqrt(f);
  return {
    gate: isGatedKind(kind) ? tensor(rng, [f, d], inScale, dtype) : undefined,
    up: tensor(rng, [f, d], inScale, dtype),
    down: tensor(rng, [d, f], outScale, dtype),
    gateBias: bias && isGatedKind(kind) ? tensor(rng, [f], 0.1, dtype) : undefined,
    upBias: bias ? tensor(rng, [f], 0.1, dtype) : undefined,
    downBias: bias ? tensor(rng, [d], 0.1, dtype) : undefined,
  };
}

/**
 * Seeded random weights for a config: normal with std 1/sqrt(fan_in), so activations keep a
 * unit scale. The router gets a larger scale so routing is decisive rather than near-uniform.
 */
export function randomWeights(config: MoELayerConfig, options: RandomWeightsOptions): MoEWeights {
  validateLayerConfig(config);
  const rng = createRng(options.seed);
  const dtype = options.dtype ?? 'float32';
  const { hiddenSize: d, numExperts: e } = config;
  const bias = config.expert.bias ?? false;
  const router = tensor(rng, [e, d], 2 / Math.sqrt(d), dtype);
  const experts = Array.from({ length: e }, () => randomExpert(rng, config.expert.kind, d, config.expert.ffnSize, bias, dtype));
  const s = sharedExpertCount(config);
  const shared = Array.from({ length: s }, () => randomExpert(rng, config.expert.kind, d, config.sharedExperts!.ffnSize, bias, dtype));
  const sharedGate = config.sharedExperts?.gated ? tensor(rng, [1, d], 1 / Math.sqrt(d), dtype) : undefined;
  return { router, experts, shared: s ? shared : undefined, sharedGate };
}

/** Seeded random input rows `[T, D]` with unit normal entries. */
export function randomInput(numTokens: number, hiddenSize: number, seed: number): HostTensor<'float32'> {
  return HostTensor.float32([numTokens, hiddenSize], randomNormal(createRng(seed), numTokens * hiddenSize));
}
