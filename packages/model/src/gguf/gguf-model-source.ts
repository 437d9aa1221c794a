/**
 * A GGUF checkpoint as a layer-by-layer weight source. Before any tensor data is read, every
 * tensor the metadata implies is checked (present, with the shape the metadata gives), no
 * tensor is left unexplained, and the format of each tensor after an optional load-time
 * conversion is planned, so the loader can check the memory it needs first. Names follow
 * llama.cpp (`gguf-py/gguf/constants.py`):
 *
 * | GGUF tensor                                   | weight                                   |
 * |-----------------------------------------------|------------------------------------------|
 * | `token_embd`, `output_norm`, `output`          | embedding, final norm, LM head (optional: tied) |
 * | `blk.N.attn_norm`, `blk.N.ffn_norm`            | input and post-attention norms           |
 * | `blk.N.attn_{q,k,v,output}` (+ `.bias` of q/k/v) | attention projections                  |
 * | `blk.N.attn_{q,k}_norm`                        | Qwen3 (per head) / OLMoE (whole) q/k norms |
 * | `blk.N.ffn_gate_inp`                           | router `[E, D]`                          |
 * | `blk.N.ffn_{gate,up,down}_exps`                | stacked experts `[E, F, D]` / `[E, D, F]`; `llama` may store `ffn_{gate,up,down}.J` per expert |
 * | `blk.N.ffn_{gate,up,down}_shexp`, `ffn_gate_inp_shexp` | Qwen2-MoE shared expert and its gate `[D]` |
 *
 * For `llama` the q/k rows come back from llama.cpp's interleaved rotary layout.
 */
import { formatShape, GgufError, HostTensor, type DType } from '@moe-runtime/core';
import type { ModelConfig } from '../model-config.js';
import { checkConversionDType, convertedDType, convertTensor, type ModelWeightSource, type PlannedTensor, type TensorUse } from '../model-source.js';
import type { AttentionWeights, DecoderLayerWeights, ModelWeights } from '../model-weights.js';
import type { ExpertWeights } from '@moe-runtime/core';
import { LLAMA_GGUF_NAMES, type GgufTensorNames } from '../architectures/llama-style-names.js';
import { findGgufArchitecture } from '../architectures/registry.js';
import type { LayerLayout, LayerTensor } from '../architectures/layer-layout.js';
import { ggufModelConfig, readArchitecture, type GgufArchitectureFacts, type GgufModelFacts } from './gguf-architecture.js';
import { GgufCheckpoint } from './gguf-file.js';
import type { GgufMetadata } from './gguf-metadata.js';
import { unpermuteRotaryRows } from './rotary-permutation.js';

/** llama.cpp's GGUF tensor names (without the `.weight` / `.bias` suffix) of the Llama-style architectures. */
export const GGUF_NAMES = LLAMA_GGUF_NAMES;

/** The GGUF names of the file's architecture, from its module. */
function namesOf(file: GgufCheckpoint): GgufTensorNames {
  return findGgufArchitecture(readArchitecture(file.metadata))!.names.gguf;
}

/** The architecture's own GGUF layer layout, if it has one. */
function layersOf(file: GgufCheckpoint): LayerLayout | undefined {
  return findGgufArchitecture(readArchitecture(file.metadata))!.names.layers?.gguf;
}

const PROJECTIONS = ['gate', 'up', 'down'] as const;

/** One tensor the metadata implies (a layout's tensor, named in full). */
type ExpectedTensor = LayerTensor;

function weight(name: string): string {
  return `${name}.weight`;
}

/** True when layer `i` stores its experts one tensor per expert (older `llama` conversions). */
function perExpertLayout(file: GgufCheckpoint, i: number): boolean {
  const G = namesOf(file);
  return !file.has(weight(G.block(i) + G.experts('up'))) && file.has(weight(G.block(i) + G.expert('up', 0)));
}

function expectedTensors(file: GgufCheckpoint, c: ModelConfig, facts: GgufArchitectureFacts): ExpectedTensor[] {
  const G = namesOf(file);
  const d = c.hiddenSize;
  const qw = c.numHeads * c.headDim;
  const kvw = c.numKvHeads * c.headDim;
  const e = c.moe.numExperts;
  const f = c.moe.expert.ffnSize;
  const out: ExpectedTensor[] = [{ name: weight(G.embed), shape: [c.vocabSize, d], use: 'embedding', convertible: true }];
  const own = layersOf(file);
  for (let i = 0; i < c.numLayers; i++) {
    const b = G.block(i);
    const add = (name: string, shape: readonly number[], use: TensorUse, convertible = false, slices?: number): void =>
      void out.push({ name: b + name, shape, use, convertible, slices });
    // An architecture with its own layer layout (deepseek2) lists its tensors itself.
    if (own) {
      for (const t of own.tensors(c, i, (name) => file.has(b + name))) out.push({ ...t, name: b + t.name });
      continue;
    }
    add(weight(G.attnNorm), [d], 'host-vector');
    add(weight(G.q), [qw, d], 'backend', true);
    add(weight(G.k), [kvw, d], 'backend', true);
    add(weight(G.v), [kvw, d], 'backend', true);
    add(weight(G.o), [d, qw], 'backend', true);
    if (c.qkvBias) for (const [x, w] of [[G.q, qw], [G.k, kvw], [G.v, kvw]] as const) add(`${x}.bias`, [w], 'backend');
    if (c.oBias) add(`${G.o}.bias`, [d], 'backend');
    if (c.attentionSinks) add(weight(G.sinks), [c.numHeads], 'host-vector');
    if (c.qkNorm !== 'none') {
      add(weight(G.qNorm), [c.qkNorm === 'per-head' ? c.headDim : qw], 'host-vector');
      add(weight(G.kNorm), [c.qkNorm === 'per-head' ? c.headDim : kvw], 'host-vector');
    }
    add(weight(G.ffnNorm), [d], 'host-vector');
    add(weight(G.router), [e, d], 'backend');
    if (c.routerBias) add(`${G.router}.bias`, [e], 'backend');
    if (c.moe.expert.bias) for (const p of PROJECTIONS) add(`${G.experts(p)}.bias`, [e, p === 'down' ? d : f], 'backend');
    const shapeOf = (p: (typeof PROJECTIONS)[number], inner: number): number[] => (p === 'down' ? [d, inner] : [inner, d]);
    if (facts.permutedRotary && perExpertLayout(file, i)) {
      for (let j = 0; j < e; j++) for (const p of PROJECTIONS) add(weight(G.expert(p, j)), shapeOf(p, f), 'backend', true);
    } else {
      for (const p of PROJECTIONS) add(weight(G.experts(p)), [e, ...shapeOf(p, f)], 'backend', true, e);
    }
    const s = c.moe.sharedExperts;
    if (s) {
      for (const p of PROJECTIONS) add(weight(G.shared(p)), shapeOf(p, s.ffnSize), 'backend', true);
      add(weight(G.sharedGate), [d], 'backend');
    }
  }
  out.push({ name: weight(G.finalNorm), shape: [d], use: 'host-vector', convertible: false });
  out.push({ name: weight(c.tieWordEmbeddings ? G.embed : G.lmHead), shape: [c.vocabSize, d], use: 'backend', convertible: true });
  return out;
}

function shapeFacts(c: ModelConfig): string {
  const s = c.moe.sharedExperts ? `, F_shared=${c.moe.sharedExperts.ffnSize}` : '';
  return `V=${c.vocabSize}, D=${c.hiddenSize}, H=${c.numHeads}, KV=${c.numKvHeads}, hd=${c.headDim}, E=${c.moe.numExperts}, F=${c.moe.expert.ffnSize}${s}`;
}

/** Every expected tensor present with its metadata shape, and no tensor the model would not use. */
function checkTensors(file: GgufCheckpoint, c: ModelConfig, arch: string, expected: readonly ExpectedTensor[]): void {
  for (const t of expected) {
    if (!file.has(t.name)) throw new GgufError(file.source, t.name, `missing; a ${arch} model with this metadata needs shape ${formatShape(t.shape)} (${shapeFacts(c)})`);
    const got = file.info(t.name).shape;
    if (got.length !== t.shape.length || got.some((x, i) => x !== t.shape[i])) {
      throw new GgufError(file.source, t.name, `has shape ${formatShape(got)}, but the metadata gives ${formatShape(t.shape)} (${shapeFacts(c)})`);
    }
  }
  const used = new Set(expected.map((t) => t.name));
  for (const name of file.tensors.keys()) {
    if (!used.has(name)) throw new GgufError(file.source, name, `is not a tensor of a ${arch} model as this runtime runs it (an unsupported feature would be silently ignored)`);
  }
}

function vocabSizeOf(file: GgufCheckpoint): number {
  const G = namesOf(file);
  if (file.metadata.has('tokenizer.ggml.tokens')) return file.metadata.strings('tokenizer.ggml.tokens').length;
  const embed = weight(G.embed);
  if (!file.has(embed)) throw new GgufError(file.source, embed, 'missing; the checkpoint has neither it nor tokenizer.ggml.tokens to give the vocabulary size');
  return file.info(embed).shape[0];
}

/** The model facts of an open checkpoint (config from metadata, which tensors exist). */
function modelFacts(file: GgufCheckpoint): GgufModelFacts {
  const G = namesOf(file);
  const qkvBias = file.has(`${G.block(0)}${G.q}.bias`);
  const tied = !file.has(weight(G.lmHead));
  return ggufModelConfig(file.metadata, vocabSizeOf(file), { qkvBias, tied });
}

class GgufLayerReader {
  private readonly names: GgufTensorNames;
  /** The architecture's own layer layout (deepseek2), if it has one. */
  private readonly own: LayerLayout | undefined;

  constructor(
    private readonly file: GgufCheckpoint,
    private readonly config: ModelConfig,
    private readonly facts: GgufArchitectureFacts,
    private readonly convertible: ReadonlySet<string>,
    private readonly target: DType | undefined,
    /** Layer tensors read when a backend consumes them (see `GgufCheckpoint.deferred`). */
    private readonly defer: boolean,
  ) {
    this.names = namesOf(file);
    this.own = layersOf(file);
  }

  /** A tensor as stored: deferred (read when used) or read now. */
  private async stored(name: string): Promise<HostTensor> {
    return this.defer ? this.file.deferred(name) : this.file.read(name);
  }

  /** Applies the planned conversion to tensor `name`. */
  private convert(name: string, t: HostTensor): HostTensor {
    return this.convertible.has(name) ? convertTensor(name, t, this.target) : t;
  }

  /** Reads a tensor (deferred where the reader defers) and applies the planned conversion. */
  async read(name: string): Promise<HostTensor> {
    return this.convert(name, await this.stored(name));
  }

  /** Reads a tensor now, whatever the reader defers: for the ones the host keeps (the embedding table). */
  async readNow(name: string): Promise<HostTensor> {
    return this.convert(name, await this.file.read(name));
  }

  private async attention(b: string): Promise<AttentionWeights> {
    const G = this.names;
    const c = this.config;
    // Undo llama.cpp's rotary permutation before any conversion changes the blocks.
    const qk = async (name: string, heads: number): Promise<HostTensor> => {
      const raw = await this.stored(weight(b + name));
      const t = this.facts.permutedRotary ? unpermuteRotaryRows(raw, heads) : raw;
      return convertTensor(weight(b + name), t, this.target);
    };
    const bias = async (x: string): Promise<HostTensor | undefined> => (c.qkvBias ? this.read(`${b}${x}.bias`) : undefined);
    const norm = async (x: string): Promise<HostTensor | undefined> => (c.qkNorm === 'none' ? undefined : this.read(weight(b + x)));
    return {
      q: await qk(G.q, c.numHeads),
      k: await qk(G.k, c.numKvHeads),
      v: await this.read(weight(b + G.v)),
      o: await this.read(weight(b + G.o)),
      qBias: await bias(G.q),
      kBias: await bias(G.k),
      vBias: await bias(G.v),
      oBias: c.oBias ? await this.read(`${b}${G.o}.bias`) : undefined,
      sinks: c.attentionSinks ? await this.read(weight(b + G.sinks)) : undefined,
      qNorm: await norm(G.qNorm),
      kNorm: await norm(G.kNorm),
    };
  }

  /** The routed experts: slices of the stacked tensors (views, or converted one expert at a time), or per-expert tensors. */
  private async experts(b: string, i: number): Promise<ExpertWeights[]> {
    const G = this.names;
    const e = this.config.moe.numExperts;
    if (this.facts.permutedRotary && perExpertLayout(this.file, i)) {
      const out: ExpertWeights[] = [];
      for (let j = 0; j < e; j++) {
        out.push({ gate: await this.read(weight(b + G.expert('gate', j))), up: await this.read(weight(b + G.expert('up', j))), down: await this.read(weight(b + G.expert('down', j))) });
      }
      return out;
    }
    const stacked = async (p: (typeof PROJECTIONS)[number]): Promise<HostTensor[]> => {
      const name = weight(b + G.experts(p));
      const t = await this.stored(name);
      return Array.from({ length: e }, (_, j) => (this.convertible.has(name) ? convertTensor(name, t.slice0(j), this.target) : t.slice0(j)));
    };
    const gate = await stacked('gate');
    const up = await stacked('up');
    const down = await stacked('down');
    if (!this.config.moe.expert.bias) return gate.map((g, j) => ({ gate: g, up: up[j], down: down[j] }));
    // gpt-oss: `ffn_*_exps.bias` stacked [E, F] / [E, D].
    const bias = async (p: (typeof PROJECTIONS)[number]): Promise<HostTensor[]> => {
      const t = await this.stored(`${b}${G.experts(p)}.bias`);
      return Array.from({ length: e }, (_, j) => t.slice0(j));
    };
    const [gb, ub, db] = [await bias('gate'), await bias('up'), await bias('down')];
    return gate.map((g, j) => ({ gate: g, up: up[j], down: down[j], gateBias: gb[j], upBias: ub[j], downBias: db[j] }));
  }

  async layer(i: number): Promise<DecoderLayerWeights> {
    const G = this.names;
    const b = G.block(i);
    const own = this.own;
    if (own) return own.read((name) => this.read(b + name), this.config, i, (name) => this.file.has(b + name));
    const s = this.config.moe.sharedExperts;
    const shared = s
      ? [{ gate: await this.read(weight(b + G.shared('gate'))), up: await this.read(weight(b + G.shared('up'))), down: await this.read(weight(b + G.shared('down'))) }]
      : undefined;
    // GGUF stores the shared expert's gate as a [D] vector; the decoder's is the [1, D] linear of Hugging Face.
    const gateVector = s ? await this.read(weight(b + G.sharedGate)) : undefined;
    return {
      inputNorm: await this.read(weight(b + G.attnNorm)),
      postAttentionNorm: await this.read(weight(b + G.ffnNorm)),
      attention: await this.attention(b),
      moe: {
        router: await this.read(weight(b + G.router)),
        routerBias: this.config.routerBias ? await this.read(`${b}${G.router}.bias`) : undefined,
        experts: await this.experts(b, i),
        shared,
        sharedGate: gateVector ? new HostTensor(gateVector.dtype, [1, this.config.hiddenSize], gateVector.data) : undefined,
      },
    };
  }
}

/** An opened GGUF model: its weight source and its metadata (for the tokenizer). */
export interface OpenedGgufModel {
  readonly source: ModelWeightSource;
  readonly metadata: GgufMetadata;
  readonly arch: GgufModelFacts['arch'];
  /** The shard files. */
  readonly files: readonly string[];
}

/** Options of {@link openGgufModel}. */
export interface OpenGgufOptions {
  /** Store the weight matrices in this format (default: as the file stores them). */
  readonly dtype?: DType;
  /**
   * Layer tensors are deferred (default true): their bytes are read when a backend prepares
   * them, straight into its memory where it copies weights, so no host copy is made. They
   * are readable only until the source is closed; false reads every tensor when its layer is read.
   */
  readonly deferTensorData?: boolean;
}

/**
 * Opens a GGUF checkpoint (or the first shard of a split one) as a weight source. Everything
 * is validated before returning; no tensor data has been read.
 */
export async function openGgufModel(path: string, options: OpenGgufOptions = {}): Promise<OpenedGgufModel> {
  const target = checkConversionDType(options.dtype);
  const file = await GgufCheckpoint.open(path);
  try {
    const { arch, facts, config } = modelFacts(file);
    const expected = expectedTensors(file, config, facts);
    checkTensors(file, config, arch, expected);
    const tensors: PlannedTensor[] = expected.map((t) => {
      const stored = file.info(t.name).dtype;
      return { name: t.name, shape: t.shape, use: t.use, slices: t.slices, dtype: t.heldAs ?? (t.convertible ? convertedDType(t.name, stored, t.shape, target) : stored) };
    });
    const convertible = new Set(expected.filter((t) => t.convertible).map((t) => t.name));
    const converted = [...new Set(tensors.filter((t) => convertible.has(t.name) && target !== undefined && file.info(t.name).dtype !== target).map((t) => t.name))];
    const reader = new GgufLayerReader(file, config, facts, convertible, target, options.deferTensorData ?? true);
    const G = namesOf(file);
    const source: ModelWeightSource = {
      source: file.source,
      config,
      tensors,
      converted,
      // The embedding table stays on the host after the file closes: never deferred.
      readEmbedding: () => reader.readNow(weight(G.embed)),
      readLayer: (i) => reader.layer(i),
      readFinalNorm: () => reader.readNow(weight(G.finalNorm)),
      readLmHead: () => reader.read(weight(G.lmHead)),
      close: () => file.close(),
    };
    return { source, metadata: file.metadata, arch, files: file.files };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** Reads a whole GGUF checkpoint into memory (config and weights, q/k rows in rotate-half order): for tests, references and exports. */
export async function loadGgufCheckpoint(path: string, options: OpenGgufOptions = {}): Promise<{ config: ModelConfig; weights: ModelWeights }> {
  // The tensors outlive the file here: read them all now.
  const { source } = await openGgufModel(path, { ...options, deferTensorData: false });
  try {
    const config = source.config;
    const embed = await source.readEmbedding();
    const layers: DecoderLayerWeights[] = [];
    for (let i = 0; i < config.numLayers; i++) layers.push(await source.readLayer(i));
    const finalNorm = await source.readFinalNorm();
    const lmHead = config.tieWordEmbeddings ? embed : await source.readLmHead();
    return { config, weights: { embed, layers, finalNorm, lmHead } };
  } finally {
    await source.close();
  }
}
