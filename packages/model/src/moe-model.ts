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
  type PreparedLinear,
  type RoutingPlan,
  type RoutingStats,
} from '@moe-runtime/core';
import { causalAttention } from './attention.js';
import { concatRows } from './tensor-concat.js';
import { KvCache } from './kv-cache.js';
import type { ModelConfig } from './model-config.js';
import { validateModelWeights, type AttentionWeights, type ModelWeights } from './model-weights.js';
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

interface PreparedLayer {
  readonly inputNorm: Float32Array;
  readonly postNorm: Float32Array;
  readonly qkv: PreparedLinear;
  readonly o: PreparedLinear;
  readonly qNorm?: Float32Array;
  readonly kNorm?: Float32Array;
  readonly moe: MoELayer;
}

async function prepareAttention(
  backend: Backend,
  a: AttentionWeights,
  track: <T extends { dispose(): void }>(p: T) => T,
): Promise<{ qkv: PreparedLinear; o: PreparedLinear }> {
  const bias = a.qBias && a.kBias && a.vBias ? concatRows([a.qBias, a.kBias, a.vBias]) : undefined;
  const qkv = track(await backend.prepareLinear({ weight: concatRows([a.q, a.k, a.v]), bias }));
  const o = track(await backend.prepareLinear({ weight: a.o }));
  return { qkv, o };
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
    private readonly weights: ModelWeights,
    private readonly layers: readonly PreparedLayer[],
    private readonly finalNorm: Float32Array,
    private readonly lmHead: PreparedLinear,
  ) {
    this.invFreq = inverseFrequencies(config.headDim, config.ropeTheta);
  }

  /** Prepares every layer's weights on `backend`. */
  static async create(config: ModelConfig, weights: ModelWeights, backend: Backend): Promise<MoEModel> {
    validateModelWeights(config, weights);
    // Everything prepared so far, freed if a later step fails (device memory would leak).
    const prepared: { dispose(): void }[] = [];
    const track = <T extends { dispose(): void }>(p: T): T => (prepared.push(p), p);
    try {
      const layers: PreparedLayer[] = [];
      for (const lw of weights.layers) {
        const { qkv, o } = await prepareAttention(backend, lw.attention, track);
        const moe = track(await MoELayer.create({ config: config.moe, weights: lw.moe, backend }));
        layers.push({
          inputNorm: lw.inputNorm.toFloat32(),
          postNorm: lw.postAttentionNorm.toFloat32(),
          qkv,
          o,
          qNorm: lw.attention.qNorm?.toFloat32(),
          kNorm: lw.attention.kNorm?.toFloat32(),
          moe,
        });
      }
      const lmHead = track(await backend.prepareLinear({ weight: weights.lmHead }));
      return new MoEModel(config, backend, weights, layers, weights.finalNorm.toFloat32(), lmHead);
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
    const table = this.weights.embed;
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
    const qkv = await this.backend.linear(p.qkv, xn, n);
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
      p.qkv.dispose();
      p.o.dispose();
      p.moe.dispose();
    }
    this.lmHead.dispose();
  }
}
