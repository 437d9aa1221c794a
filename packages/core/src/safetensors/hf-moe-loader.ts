/**
 * Loading one MoE layer from a Hugging Face checkpoint into core's {@link MoEWeights}, with the
 * layer's shape (D, E, F, shared experts) inferred from the tensors. Every tensor's shape is
 * checked from the header before any data is read, so a wrong checkpoint fails in
 * milliseconds, and only the layer's own tensors are read from disk.
 */
import { ConfigError, SafetensorsError } from '../errors.js';
import type { ExpertWeights } from '../expert.js';
import { validateLayerConfig, type MoELayerConfig, type RouterSpec, type SharedExpertsConfig } from '../layer-config.js';
import { DTYPES, formatShape, HostTensor, type DType } from '../tensor.js';
import { validateWeights, type MoEWeights } from '../weights.js';
import { detectMoEScheme, resolveScheme, schemeNames, type MoENamingScheme, type MoESchemeNames, type ProjectionName } from './hf-moe-names.js';
import { applyBlockScales, blockScaleShape } from './fp8.js';
import type { TensorSource } from './safetensors-reader.js';
import { openCheckpoint } from './sharded-checkpoint.js';

/** The parts of an {@link MoELayerConfig} a checkpoint determines (k and the router come from the model config). */
export type MoELayerShape = Pick<MoELayerConfig, 'hiddenSize' | 'numExperts' | 'expert' | 'sharedExperts'>;

/** Options of {@link loadMoELayer}. */
export interface LoadMoELayerOptions {
  /** Layer prefix, e.g. `model.layers.0.` (default ''). */
  readonly prefix?: string;
  /** Naming scheme or alias (`mixtral`, `qwen2-moe`, `qwen3-moe`, `olmoe`, `deepseek`, ...); default: detected. */
  readonly scheme?: string;
  /** Convert every tensor to this dtype; default: keep the stored dtype (half precision stays compact). */
  readonly dtype?: DType;
  /** Experts per token; when given, the result carries a full validated `config`. */
  readonly topK?: number;
  /** The router of the full `config` (default `{ name: 'topk-softmax' }`). */
  readonly router?: RouterSpec;
  /**
   * Block size `[rows, cols]` of FP8 checkpoints' `weight_scale_inv` (default `[128, 128]`, as
   * DeepSeek-V3 and Qwen3 FP8 use). A weight with a `<name>_scale_inv` next to it is dequantised
   * to float32 on load: value = stored * scale of its block.
   */
  readonly fp8BlockSize?: readonly [number, number];
}

/** One loaded layer. */
export interface LoadedMoELayer {
  readonly scheme: MoENamingScheme;
  readonly prefix: string;
  /** D, E, F and shared experts, inferred from the tensor shapes. */
  readonly shape: MoELayerShape;
  /** The full config, when `topK` was given. */
  readonly config?: MoELayerConfig;
  readonly weights: MoEWeights;
  /** The checkpoint tensors that were read. */
  readonly tensorNames: readonly string[];
}

/** Reads tensors by relative name after checking their header shapes. */
class LayerReader {
  readonly read: string[] = [];
  constructor(
    private readonly src: TensorSource,
    private readonly prefix: string,
    private readonly dtype: DType | undefined,
    private readonly block: readonly [number, number],
  ) {}

  /** The block-scale tensor of a quantised weight, when the checkpoint has one. */
  private scaleOf(rel: string): string | undefined {
    const name = `${rel}_scale_inv`;
    return rel.endsWith('.weight') && this.has(name) ? name : undefined;
  }

  /** Checks a weight's block scales against its shape `[r, c]`. */
  private checkScale(rel: string, shape: readonly number[]): void {
    const scale = this.scaleOf(rel);
    if (!scale) return;
    const got = this.src.info(this.full(scale)).shape;
    const want = shape.length === 2 ? blockScaleShape(shape[0], shape[1], this.block) : undefined;
    if (!want || got.length !== 2 || got[0] !== want[0] || got[1] !== want[1]) {
      throw new SafetensorsError(
        `${this.src.source}: tensor '${this.full(scale)}' has shape ${formatShape(got)}, expected ${want ? formatShape(want) : 'a 2-D grid'} ` +
          `(block scales of ${formatShape(shape)} in [${this.block.join(', ')}] blocks; set fp8BlockSize if the checkpoint uses other blocks)`,
      );
    }
  }

  full(rel: string): string {
    return this.prefix + rel;
  }

  has(rel: string): boolean {
    return this.src.has(this.full(rel));
  }

  /** The tensor's shape from the header, or a SafetensorsError naming it and `why` it is needed. */
  shape(rel: string, why: string): readonly number[] {
    const name = this.full(rel);
    if (!this.src.has(name)) throw new SafetensorsError(`${this.src.source}: missing tensor '${name}' (${why})`);
    return this.src.info(name).shape;
  }

  expectShape(rel: string, expected: readonly number[], why: string): void {
    const shape = this.shape(rel, why);
    if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
      throw new SafetensorsError(`${this.src.source}: tensor '${this.full(rel)}' has shape ${formatShape(shape)}, expected ${formatShape(expected)} (${why})`);
    }
    this.checkScale(rel, shape);
  }

  /** A 2-D tensor's dimensions (both at least 1). */
  matrix(rel: string, why: string): [number, number] {
    const shape = this.shape(rel, why);
    if (shape.length !== 2 || shape[0] < 1 || shape[1] < 1) {
      throw new SafetensorsError(`${this.src.source}: tensor '${this.full(rel)}' has shape ${formatShape(shape)}, expected a non-empty 2-D matrix (${why})`);
    }
    return [shape[0], shape[1]];
  }

  async tensor(rel: string): Promise<HostTensor> {
    const name = this.full(rel);
    const scale = this.scaleOf(rel);
    this.checkScale(rel, this.src.info(name).shape);
    this.read.push(name);
    let t = await this.src.read(name);
    if (scale) {
      this.read.push(this.full(scale));
      const s = (await this.src.read(this.full(scale))).toFloat32();
      // A fresh float32 copy: read() returned new storage, and toFloat32 decodes half types into a new array.
      t = HostTensor.float32(t.shape, applyBlockScales(t.toFloat32(), t.shape[0], t.shape[1], s, this.block));
    }
    return this.dtype ? t.to(this.dtype) : t;
  }

  async optional(rel: string): Promise<HostTensor | undefined> {
    return this.has(rel) ? this.tensor(rel) : undefined;
  }
}


/** Checks a SwiGLU expert's weights (and any biases) against [f, d] / [d, f]; returns whether it has biases. */
function checkExpertShapes(r: LayerReader, name: (p: ProjectionName, kind?: 'weight' | 'bias') => string, d: number, f: number, what: string): boolean {
  r.expectShape(name('gate'), [f, d], `${what} gate projection [F, D]`);
  r.expectShape(name('up'), [f, d], `${what} up projection [F, D]`);
  r.expectShape(name('down'), [d, f], `${what} down projection [D, F]`);
  let bias = false;
  for (const [p, n] of [['gate', f], ['up', f], ['down', d]] as const) {
    if (r.has(name(p, 'bias'))) {
      r.expectShape(name(p, 'bias'), [n], `${what} ${p} bias`);
      bias = true;
    }
  }
  return bias;
}

async function readExpert(r: LayerReader, name: (p: ProjectionName, kind?: 'weight' | 'bias') => string): Promise<ExpertWeights> {
  const [gate, up, down] = await Promise.all([r.tensor(name('gate')), r.tensor(name('up')), r.tensor(name('down'))]);
  const [gateBias, upBias, downBias] = await Promise.all([r.optional(name('gate', 'bias')), r.optional(name('up', 'bias')), r.optional(name('down', 'bias'))]);
  return { gate, up, down, gateBias, upBias, downBias };
}

/** Experts must be numbered 0..E-1 after the router's E rows; an index at or past E is an error. */
function checkExpertIndices(src: TensorSource, prefix: string, names: MoESchemeNames, e: number): void {
  const head = prefix + names.expertsPrefix;
  for (const n of src.names()) {
    if (!n.startsWith(head)) continue;
    const j = Number(/^(\d+)\./.exec(n.slice(head.length))?.[1]);
    if (Number.isInteger(j) && j >= e) {
      throw new SafetensorsError(`${src.source}: tensor '${n}' belongs to expert ${j}, but the router '${prefix}${names.router}' has ${e} rows (experts 0..${e - 1})`);
    }
  }
}

function checkOptions(options: LoadMoELayerOptions): void {
  const b = options.fp8BlockSize;
  if (b !== undefined && (!Array.isArray(b) || b.length !== 2 || !b.every((v) => Number.isInteger(v) && v >= 1))) {
    throw new ConfigError('fp8BlockSize', `expected [rows, cols] of positive integers, got ${JSON.stringify(b)}`);
  }
  if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new ConfigError('prefix', `expected a string like 'model.layers.0.', got ${JSON.stringify(options.prefix)}`);
  if (options.dtype !== undefined && !DTYPES.includes(options.dtype)) throw new ConfigError('dtype', `expected one of ${DTYPES.join(', ')}, got ${JSON.stringify(options.dtype)}`);
}

/** Loads one MoE layer from an open tensor source. */
export async function loadMoELayerFrom(src: TensorSource, options: LoadMoELayerOptions = {}): Promise<LoadedMoELayer> {
  checkOptions(options);
  const prefix = options.prefix ?? '';
  const scheme = options.scheme !== undefined ? resolveScheme(options.scheme) : detectMoEScheme(src.names(), prefix, src.source);
  const names = schemeNames(scheme);
  const r = new LayerReader(src, prefix, options.dtype, options.fp8BlockSize ?? [128, 128]);

  const [e, d] = r.matrix(names.router, `router of a ${scheme} MoE layer, [E, D]`);
  const [f] = r.matrix(names.expert(0, 'gate'), 'expert 0 gate projection, [F, D]');
  checkExpertIndices(src, prefix, names, e);
  let bias = false;
  for (let j = 0; j < e; j++) bias = checkExpertShapes(r, (p, k) => names.expert(j, p, k), d, f, `expert ${j} of ${e}`) || bias;

  let sharedExperts: SharedExpertsConfig | undefined;
  if (names.shared && names.sharedPrefix && src.names().some((n) => n.startsWith(prefix + names.sharedPrefix!))) {
    const [fs] = r.matrix(names.shared('gate'), 'shared expert gate projection, [F_shared, D]');
    bias = checkExpertShapes(r, names.shared, d, fs, 'shared expert') || bias;
    const gated = names.sharedGate !== undefined && r.has(names.sharedGate);
    if (gated) r.expectShape(names.sharedGate!, [1, d], 'shared expert gate, [1, D]');
    sharedExperts = { count: 1, ffnSize: fs, gated };
  } else if (names.sharedGate && r.has(names.sharedGate)) {
    throw new SafetensorsError(`${src.source}: '${r.full(names.sharedGate)}' is present but no shared expert tensors ('${prefix}${names.sharedPrefix}*') are`);
  }
  const hasScoreBias = names.scoreCorrectionBias !== undefined && r.has(names.scoreCorrectionBias);
  if (hasScoreBias) r.expectShape(names.scoreCorrectionBias!, [e], 'e_score_correction_bias, [E]');
  if (r.has(names.router.replace(/weight$/, 'bias'))) {
    throw new SafetensorsError(`${src.source}: router bias '${r.full(names.router.replace(/weight$/, 'bias'))}' is not supported (the router projection has no bias in core)`);
  }

  // Every shape is known to be right: now read the data.
  const router = await r.tensor(names.router);
  const experts: ExpertWeights[] = [];
  for (let j = 0; j < e; j++) experts.push(await readExpert(r, (p, k) => names.expert(j, p, k)));
  const shared = sharedExperts ? [await readExpert(r, names.shared!)] : undefined;
  const sharedGate = sharedExperts?.gated ? await r.tensor(names.sharedGate!) : undefined;
  const routerParams = hasScoreBias ? { e_score_correction_bias: await r.tensor(names.scoreCorrectionBias!) } : undefined;

  const shape: MoELayerShape = { hiddenSize: d, numExperts: e, expert: { kind: 'swiglu', ffnSize: f, bias }, sharedExperts };
  const weights: MoEWeights = { router, routerParams, experts, shared, sharedGate };
  let config: MoELayerConfig | undefined;
  if (options.topK !== undefined) {
    config = validateLayerConfig({ ...shape, topK: options.topK, router: options.router ?? { name: 'topk-softmax' } });
    validateWeights(config, weights);
  }
  return { scheme, prefix, shape, config, weights, tensorNames: r.read };
}

/**
 * Loads one MoE layer from a checkpoint path (a `.safetensors` file, a sharded checkpoint's
 * index `.json`, or a folder holding either). Only the layer's tensors are read.
 */
export async function loadMoELayer(path: string, options: LoadMoELayerOptions = {}): Promise<LoadedMoELayer> {
  checkOptions(options);
  const src = await openCheckpoint(path);
  try {
    return await loadMoELayerFrom(src, options);
  } finally {
    await src.close();
  }
}
