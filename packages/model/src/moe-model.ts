/**
 * The decoder: embeddings, RMSNorm, rotary attention with a KV cache, the MoE feed-forward
 * through core's MoELayer, final norm and LM head. Every projection (fused q/k/v, o, LM head)
 * and every expert runs on the chosen backend; attention's small loops run on the host.
 */
import {
  BackendError,
  MoELayer,
  ShapeError,
  type Backend,
  type HostTensor,
  type PreparedLinear,
  type RoutingPlan,
  type RoutingStats,
} from '@moe-runtime/core';
import { causalAttention } from './attention.js';
import { concatRows } from './tensor-concat.js';
import { KvCache } from './kv-cache.js';
import type { ModelConfig } from './model-config.js';
import { checkModelFits, estimateModelMemory, type MachineMemory, type ModelMemoryEstimate } from './model-memory.js';
import { memoryWeightSource, type ModelWeightSource, type PlannedTensor } from './model-source.js';
import { validateLayerWeights, validateModelWeights, validateOuterWeights, type AttentionWeights, type DecoderLayerWeights, type ModelWeights } from './model-weights.js';
import { rmsNorm } from './rms-norm.js';
import { applyRotary, inverseFrequencies } from './rotary.js';

/** Routing of one layer for the tokens of one forward call. */
export interface LayerRouting {
  readonly plan: RoutingPlan;
  readonly stats: RoutingStats;
}

/** What a forward call returns. */
export interface ModelStep {
  /** `[rows, V]`: logits of every new position (allLogits) or of the last one. */
  readonly logits: Float32Array;
  readonly rows: number;
  /** One entry per layer. */
  readonly routing: readonly LayerRouting[];
}

/**
 * The q/k/v projection: one fused linear when q, k and v share a storage format, else one per
 * part (a checkpoint may store v in another block format than q and k, e.g. llama.cpp's
 * Q4_K_M), whose outputs are joined per row.
 */
interface QkvProjection {
  readonly parts: readonly PreparedLinear[];
}

interface PreparedLayer {
  readonly inputNorm: Float32Array;
  readonly postNorm: Float32Array;
  readonly qkv: QkvProjection;
  readonly o: PreparedLinear;
  readonly qNorm?: Float32Array;
  readonly kNorm?: Float32Array;
  readonly moe: MoELayer;
}

type Track = <T extends { dispose(): void }>(p: T) => T;

async function prepareAttention(backend: Backend, a: AttentionWeights, track: Track): Promise<{ qkv: QkvProjection; o: PreparedLinear }> {
  const hasBias = a.qBias !== undefined && a.kBias !== undefined && a.vBias !== undefined;
  let qkv: QkvProjection;
  if (a.q.dtype === a.k.dtype && a.k.dtype === a.v.dtype) {
    const bias = hasBias ? concatRows([a.qBias!, a.kBias!, a.vBias!]) : undefined;
    qkv = { parts: [track(await backend.prepareLinear({ weight: concatRows([a.q, a.k, a.v]), bias }))] };
  } else {
    const parts: PreparedLinear[] = [];
    for (const [w, b] of [[a.q, a.qBias], [a.k, a.kBias], [a.v, a.vBias]] as const) parts.push(track(await backend.prepareLinear({ weight: w, bias: hasBias ? b : undefined })));
    qkv = { parts };
  }
  const o = track(await backend.prepareLinear({ weight: a.o }));
  return { qkv, o };
}

/** y `[n, q + k + v]`: the fused projection, or its parts joined row by row. */
async function projectQkv(backend: Backend, qkv: QkvProjection, x: Float32Array, n: number): Promise<Float32Array> {
  if (qkv.parts.length === 1) return backend.linear(qkv.parts[0], x, n);
  const outs = await Promise.all(qkv.parts.map((p) => backend.linear(p, x, n)));
  const width = qkv.parts.reduce((s, p) => s + p.outFeatures, 0);
  const y = new Float32Array(n * width);
  for (let i = 0; i < n; i++) {
    let o = i * width;
    qkv.parts.forEach((p, j) => {
      y.set(outs[j].subarray(i * p.outFeatures, (i + 1) * p.outFeatures), o);
      o += p.outFeatures;
    });
  }
  return y;
}

async function prepareLayer(backend: Backend, config: ModelConfig, lw: DecoderLayerWeights, track: Track): Promise<PreparedLayer> {
  const { qkv, o } = await prepareAttention(backend, lw.attention, track);
  const moe = track(await MoELayer.create({ config: config.moe, weights: lw.moe, backend }));
  return {
    inputNorm: lw.inputNorm.toFloat32(),
    postNorm: lw.postAttentionNorm.toFloat32(),
    qkv,
    o,
    qNorm: lw.attention.qNorm?.toFloat32(),
    kNorm: lw.attention.kNorm?.toFloat32(),
    moe,
  };
}

/** Options of {@link MoEModel.load}. */
export interface LoadModelOptions {
  /** Check that the model fits the backend and the machine before reading any weights (default true). */
  readonly checkMemory?: boolean;
  /** The machine's memory to check against (default: what the OS reports). */
  readonly machine?: MachineMemory;
  /** Called after each layer is prepared (for progress reports). */
  readonly onLayer?: (layer: number, of: number) => void;
}

/** A generation session: the KV cache and the number of positions consumed. */
export class ModelSession {
  constructor(readonly cache: KvCache) {}

  /** Positions consumed so far. */
  get position(): number {
    return this.cache.length;
  }
}

/** A decoder-only MoE model resident on one backend. */
export class MoEModel {
  private readonly invFreq: Float64Array;
  private disposed = false;

  private constructor(
    readonly config: ModelConfig,
    readonly backend: Backend,
    /** The embedding table, compact as stored (decoded a row at a time); the only weights the host keeps. */
    private readonly embedTable: HostTensor,
    private readonly layers: readonly PreparedLayer[],
    private readonly finalNorm: Float32Array,
    private readonly lmHead: PreparedLinear,
    /** What the model holds: backend bytes (as the backend reports them, else as stored) and host bytes. */
    readonly memory: ModelMemoryEstimate,
    /** Every tensor of the model, in the format it is held. */
    readonly plannedTensors: readonly PlannedTensor[],
  ) {
    this.invFreq = inverseFrequencies(config.headDim, config.ropeTheta);
  }

  /** Prepares every layer's weights (already in memory) on `backend`. */
  static async create(config: ModelConfig, weights: ModelWeights, backend: Backend): Promise<MoEModel> {
    validateModelWeights(config, weights);
    return MoEModel.prepare(memoryWeightSource(config, weights), backend, {}, weights.lmHead);
  }

  /**
   * Loads a model from a source one layer at a time: after checking that it fits (the
   * backend's ceiling and the machine's memory), each layer is read, prepared on the backend
   * and its host copy dropped before the next is read. Only the compact embedding table stays
   * on the host. The source is closed when loading ends, successfully or not.
   */
  static async load(source: ModelWeightSource, backend: Backend, options: LoadModelOptions = {}): Promise<MoEModel> {
    try {
      if (options.checkMemory !== false) checkModelFits(source.source, estimateModelMemory(source.tensors, backend), backend, options.machine);
      return await MoEModel.prepare(source, backend, options);
    } finally {
      await source.close();
    }
  }

  private static async prepare(source: ModelWeightSource, backend: Backend, options: LoadModelOptions, lmHeadWeights?: HostTensor): Promise<MoEModel> {
    const config = source.config;
    const memory = estimateModelMemory(source.tensors, backend);
    // Everything prepared so far, freed if a later step fails (device memory would leak).
    const prepared: { dispose(): void }[] = [];
    const track: Track = (p) => (prepared.push(p), p);
    try {
      const embed = await source.readEmbedding();
      const layers: PreparedLayer[] = [];
      for (let i = 0; i < config.numLayers; i++) {
        // The layer's host tensors go out of scope once prepared: only the backend's copy remains.
        const lw = await source.readLayer(i);
        validateLayerWeights(config, lw, i);
        layers.push(await prepareLayer(backend, config, lw, track));
        options.onLayer?.(i + 1, config.numLayers);
      }
      const finalNorm = await source.readFinalNorm();
      const head = lmHeadWeights ?? (config.tieWordEmbeddings ? embed : await source.readLmHead());
      validateOuterWeights(config, { embed, finalNorm, lmHead: head });
      const lmHead = track(await backend.prepareLinear({ weight: head }));
      return new MoEModel(config, backend, embed, layers, finalNorm.toFloat32(), lmHead, memory, source.tensors);
    } catch (err) {
      for (const p of prepared) p.dispose();
      throw err;
    }
  }

  /** A fresh session (empty KV cache). */
  newSession(): ModelSession {
    const c = this.config;
    return new ModelSession(new KvCache(c.numLayers, c.numKvHeads * c.headDim));
  }

  private embed(tokens: ArrayLike<number>): Float32Array {
    const { hiddenSize: d, vocabSize: v } = this.config;
    const table = this.embedTable;
    const out = new Float32Array(tokens.length * d);
    for (let i = 0; i < tokens.length; i++) {
      const id = tokens[i];
      if (!Number.isInteger(id) || id < 0 || id >= v) throw new ShapeError(`token id ${id} at position ${i} is outside the vocabulary [0, ${v})`);
      // Decode one row at a time so half-precision embeddings stay compact.
      table.decodeRow(id, out.subarray(i * d, (i + 1) * d));
    }
    return out;
  }

  /**
   * Feeds `tokens` at the session's next positions; returns logits for every new position when
   * `allLogits`, else for the last one (what generation needs).
   */
  async forward(session: ModelSession, tokens: ArrayLike<number>, options: { allLogits?: boolean } = {}): Promise<ModelStep> {
    if (this.disposed) throw new BackendError('this MoEModel has been disposed');
    const c = this.config;
    const n = tokens.length;
    if (n === 0) throw new ShapeError('forward needs at least one token');
    const kvw = c.numKvHeads * c.headDim;
    if (session.cache.numLayers !== c.numLayers || session.cache.width !== kvw) {
      // Another model's session: its cache rows would be read with the wrong stride.
      throw new ShapeError(`session: its KV cache holds ${session.cache.numLayers} layers of width ${session.cache.width}, this model needs ${c.numLayers} layers of width ${kvw}`);
    }
    const start = session.position;
    if (start + n > c.maxPositions) throw new ShapeError(`sequence of ${start + n} tokens exceeds max_position_embeddings (${c.maxPositions})`);
    session.cache.reserve(start + n);
    const h = this.embed(tokens);
    const routing: LayerRouting[] = [];
    for (let l = 0; l < this.layers.length; l++) routing.push(await this.layer(l, h, session.cache, start, n));
    session.cache.length = start + n;
    const rows = options.allLogits ? n : 1;
    const last = h.subarray((n - rows) * c.hiddenSize);
    const normed = rmsNorm(last, this.finalNorm, c.hiddenSize, c.rmsNormEps, new Float32Array(last.length)) as Float32Array;
    const logits = await this.backend.linear(this.lmHead, normed, rows);
    return { logits, rows, routing };
  }

  private async layer(l: number, h: Float32Array, cache: KvCache, start: number, n: number): Promise<LayerRouting> {
    const c = this.config;
    const p = this.layers[l];
    const d = c.hiddenSize;
    const qw = c.numHeads * c.headDim;
    const kvw = c.numKvHeads * c.headDim;
    const xn = rmsNorm(h, p.inputNorm, d, c.rmsNormEps, new Float32Array(h.length)) as Float32Array;
    const qkv = await projectQkv(this.backend, p.qkv, xn, n);
    const q = new Float32Array(n * qw);
    const keys = cache.keys[l];
    const values = cache.values[l];
    for (let i = 0; i < n; i++) {
      const row = qkv.subarray(i * (qw + 2 * kvw));
      q.set(row.subarray(0, qw), i * qw);
      const pos = start + i;
      const k = keys.subarray(pos * kvw, (pos + 1) * kvw);
      k.set(row.subarray(qw, qw + kvw));
      values.set(row.subarray(qw + kvw, qw + 2 * kvw), pos * kvw);
      this.normaliseQk(q.subarray(i * qw, (i + 1) * qw), k, p);
      applyRotary(q, i * qw, c.numHeads, c.headDim, pos, this.invFreq);
      applyRotary(keys, pos * kvw, c.numKvHeads, c.headDim, pos, this.invFreq);
    }
    const attn = new Float32Array(n * qw);
    causalAttention(c, q, keys, values, start, n, attn);
    const o = await this.backend.linear(p.o, attn, n);
    for (let i = 0; i < h.length; i++) h[i] += o[i];
    const xn2 = rmsNorm(h, p.postNorm, d, c.rmsNormEps, new Float32Array(h.length)) as Float32Array;
    const moe = await p.moe.forward(xn2);
    const y = moe.output.data;
    for (let i = 0; i < h.length; i++) h[i] += y[i];
    return { plan: moe.plan, stats: moe.stats };
  }

  private normaliseQk(q: Float32Array, k: Float32Array, p: PreparedLayer): void {
    const c = this.config;
    if (c.qkNorm === 'none') return;
    if (!p.qNorm || !p.kNorm) throw new BackendError(`model_type ${c.modelType} needs q_norm and k_norm weights`);
    const width = c.qkNorm === 'per-head' ? c.headDim : undefined;
    rmsNorm(q, p.qNorm, width ?? q.length, c.rmsNormEps);
    rmsNorm(k, p.kNorm, width ?? k.length, c.rmsNormEps);
  }

  /** Frees the backend resources of every layer (once; forward fails afterwards). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.layers) {
      for (const q of p.qkv.parts) q.dispose();
      p.o.dispose();
      p.moe.dispose();
    }
    this.lmHead.dispose();
  }
}
