/**
 * The decoder: embeddings, RMSNorm, rotary attention over each sequence's KV cache, the MoE
 * feed-forward through core's MoELayer, final norm and LM head. One step runs the new tokens of
 * several sequences together: every projection (fused q/k/v, o, LM head) and every MoE layer
 * over all their rows at once on the backend (an expert several sequences route to is read once),
 * attention per sequence through `backend.attend`, or core's host attention where the backend has none.
 */
import {
  attentionOps,
  BackendError,
  ContextLengthError,
  describeKvLayout,
  MoELayer,
  sameKvLayout,
  linearMany,
  ShapeError,
  type AttentionLayerSpec,
  type AttentionOps,
  type AttentionSegment,
  type Backend,
  type HostTensor,
  type PreparedLinear,
} from '@moe-runtime/core';
import { concatRows } from './tensor-concat.js';
import { defaultContextLength, modelKvCacheSpec } from './kv-cache.js';
import { layerMoeConfig, type ModelConfig } from './model-config.js';
import { latentAttention, prepareLatent, type PreparedLatent } from './latent-attention.js';
import { checkModelFits, estimateModelMemory, type MachineMemory, type ModelMemoryEstimate } from './model-memory.js';
import { memoryWeightSource, type ModelWeightSource, type PlannedTensor } from './model-source.js';
import { validateLayerWeights, validateModelWeights, validateOuterWeights, type AttentionWeights, type DecoderLayerWeights, type ModelWeights } from './model-weights.js';
import { rmsNorm } from './rms-norm.js';
import { applyRotary } from './rotary.js';
import { ropeFrequencies } from './rope-scaling.js';
import { ModelSession, type SessionOptions } from './model-session.js';
import type { BatchStep, LayerRouting, ModelStep, SequenceStep, StepEntry } from './model-step.js';

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
  /** Latent attention's absorbed kv_b_proj (DeepSeek-V2); `qkv` is then q_proj and kv_a_proj_with_mqa. */
  readonly latent?: PreparedLatent;
  /** The layer's attention: heads, scale, and its sliding window and sinks where the config has them. */
  readonly spec: AttentionLayerSpec;
}

type Track = <T extends { dispose(): void }>(p: T) => T;

/** Latent attention's input projections: q_proj and kv_a_proj_with_mqa, fused when they share a format. */
async function prepareLatentProjection(backend: Backend, a: AttentionWeights, track: Track): Promise<QkvProjection> {
  const kvA = a.kvA!;
  // With a low-rank q the input side of q is q_a_proj (q_b_proj follows its norm).
  const q = a.qA ?? a.q;
  if (q.dtype === kvA.dtype) return { parts: [track(await backend.prepareLinear({ weight: concatRows([q, kvA]) }))] };
  return { parts: [track(await backend.prepareLinear({ weight: q })), track(await backend.prepareLinear({ weight: kvA }))] };
}

async function prepareAttention(backend: Backend, a: AttentionWeights, track: Track): Promise<{ qkv: QkvProjection; o: PreparedLinear }> {
  const o = track(await backend.prepareLinear({ weight: a.o, bias: a.oBias }));
  if (a.kvA) return { qkv: await prepareLatentProjection(backend, a, track), o };
  if (!a.k || !a.v) throw new BackendError('attention weights need k and v (or the latent kvA, kvANorm, kvB)');
  const hasBias = a.qBias !== undefined && a.kBias !== undefined && a.vBias !== undefined;
  let qkv: QkvProjection;
  const [k, v] = [a.k, a.v];
  if (a.q.dtype === k.dtype && k.dtype === v.dtype) {
    const bias = hasBias ? concatRows([a.qBias!, a.kBias!, a.vBias!]) : undefined;
    qkv = { parts: [track(await backend.prepareLinear({ weight: concatRows([a.q, k, v]), bias }))] };
  } else {
    const parts: PreparedLinear[] = [];
    for (const [w, b] of [[a.q, a.qBias], [k, a.kBias], [v, a.vBias]] as const) parts.push(track(await backend.prepareLinear({ weight: w, bias: hasBias ? b : undefined })));
    qkv = { parts };
  }
  return { qkv, o };
}

/** y `[n, q + k + v]`: the fused projection, or its parts joined row by row. */
async function projectQkv(backend: Backend, qkv: QkvProjection, x: Float32Array, n: number): Promise<Float32Array> {
  if (qkv.parts.length === 1) return backend.linear(qkv.parts[0], x, n);
  const outs = await linearMany(backend, qkv.parts, qkv.parts.map(() => x), n);
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

/**
 * Grouped-query causal attention with the 1/sqrt(head_dim) scale (or the muP attention
 * multiplier), layer l's window (gpt-oss's sliding layers) and sinks.
 */
function layerSpec(config: ModelConfig, lw: DecoderLayerWeights, l: number): AttentionLayerSpec {
  const window = config.layerWindows?.[l] ?? undefined;
  const sinks = config.attentionSinks ? lw.attention.sinks?.toFloat32() : undefined;
  const scale = config.latentAttention?.softmaxScale ?? config.multipliers?.attentionScale ?? 1 / Math.sqrt(config.headDim);
  return { numHeads: config.numHeads, scale, ...(window ? { window } : {}), ...(sinks ? { sinks } : {}) };
}

async function prepareLayer(backend: Backend, config: ModelConfig, lw: DecoderLayerWeights, l: number, track: Track): Promise<PreparedLayer> {
  const { qkv, o } = await prepareAttention(backend, lw.attention, track);
  const moe = track(await MoELayer.create({ config: layerMoeConfig(config, l), weights: lw.moe, backend }));
  const latent = config.latentAttention ? await prepareLatent(backend, config, lw.attention, track) : undefined;
  return {
    ...(latent ? { latent } : {}),
    inputNorm: lw.inputNorm.toFloat32(),
    postNorm: lw.postAttentionNorm.toFloat32(),
    qkv,
    o,
    qNorm: lw.attention.qNorm?.toFloat32(),
    kNorm: lw.attention.kNorm?.toFloat32(),
    moe,
    spec: layerSpec(config, lw, l),
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

/** A decoder-only MoE model resident on one backend. */
export class MoEModel {
  private readonly invFreq: Float64Array;
  /** cos/sin multiplier of the rope scaling (YaRN's attention factor; 1 otherwise). */
  private readonly ropeScale: number;
  private disposed = false;
  private attentionImpl?: AttentionOps;
  /** The residual branch multiplier (muP; 1 without). */
  private readonly residualScale: number;

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
    // Latent attention rotates the rope part of each head only (qk_rope_head_dim).
    const rope = ropeFrequencies(config.latentAttention?.qkRopeHeadDim ?? config.headDim, config.ropeTheta, config.ropeScaling);
    this.invFreq = rope.invFreq;
    this.ropeScale = rope.attentionFactor;
    this.residualScale = config.multipliers?.residual ?? 1;
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
        layers.push(await prepareLayer(backend, config, lw, i, track));
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

  /** Which implementation runs attention: the backend's own (`attend`), or core's host one (`name` 'host'). */
  get attention(): AttentionOps {
    this.attentionImpl ??= attentionOps(this.backend);
    return this.attentionImpl;
  }

  /** A session's context length when `newSession` is given none: max_position_embeddings, at most 4096. */
  get defaultContextLength(): number {
    return defaultContextLength(this.config);
  }

  /** A fresh session: an empty KV cache allocated for its whole context length. */
  newSession(options: SessionOptions = {}): ModelSession {
    this.checkLive();
    const spec = modelKvCacheSpec(this.config, options.contextLength ?? this.defaultContextLength, options.kvFormat ?? 'float32');
    return new ModelSession(this.attention.createKvCache(spec), this);
  }

  /**
   * A new session that starts with the first `positions` positions of `source` (its KV cache
   * rows copied with `copyKvPrefix`, its tokens recorded), e.g. to reuse a shared prompt prefix.
   * Options as for `newSession`; the format must be the source's.
   */
  async forkSession(source: ModelSession, positions = source.position, options: SessionOptions = {}): Promise<ModelSession> {
    this.checkSession(source, 'source');
    const session = this.newSession({ kvFormat: source.kvFormat, ...options });
    try {
      await this.attention.copyKvPrefix(source.cache, session.cache, positions);
      session.recordTokens(source.tokens.subarray(0, positions));
      return session;
    } catch (err) {
      session.dispose();
      throw err;
    }
  }

  /**
   * Feeds `tokens` at the session's next positions; returns logits for every new position when
   * `allLogits`, else for the last one (what generation needs). The one-entry case of {@link step}.
   */
  async forward(session: ModelSession, tokens: ArrayLike<number>, options: { allLogits?: boolean } = {}): Promise<ModelStep> {
    const out = await this.step([{ session, tokens, logits: options.allLogits ? 'all' : 'last' }]);
    return { logits: out.entries[0].logits, rows: out.entries[0].rows, routing: out.routing };
  }

  /**
   * One forward pass over the new tokens of every entry (each sequence at its own position, with
   * its own cache): embeddings of all rows, every projection and MoE layer over all rows at once,
   * attention per sequence. Entries are independent: an entry's logits do not depend on the
   * others (bit for bit with host attention on a backend whose kernels give each row the same
   * arithmetic at any row count), nor on how its sequence was split into steps. Everything is
   * checked before anything runs (a ContextLengthError when an entry would pass its session's
   * context length); a step that fails leaves every session where it was.
   */
  async step(entries: readonly StepEntry[]): Promise<BatchStep> {
    this.checkLive();
    const segments = this.checkEntries(entries);
    const rows = segments.reduce((n, s) => n + s.rows, 0);
    const ids = new Int32Array(rows);
    const positions = new Int32Array(rows);
    let r = 0;
    entries.forEach((e, i) => {
      for (let j = 0; j < e.tokens.length; j++, r++) {
        ids[r] = e.tokens[j];
        positions[r] = segments[i].position + j;
      }
    });
    const h = this.embed(ids);
    const routing: LayerRouting[] = [];
    for (let l = 0; l < this.layers.length; l++) routing.push(await this.layer(l, h, segments, positions));
    const results = await this.logitsOf(entries, h);
    // Only now do the sessions advance: a failure anywhere above leaves them where they were.
    entries.forEach((e) => e.session.recordTokens(e.tokens));
    return { entries: results, rows, routing };
  }

  private checkLive(): void {
    if (this.disposed) throw new BackendError('this MoEModel has been disposed');
  }

  private checkSession(session: ModelSession, what: string): void {
    if (!(session instanceof ModelSession)) throw new ShapeError(`${what}: expected a ModelSession made by MoEModel.newSession`);
    if (session.owner !== this) {
      const want = modelKvCacheSpec(this.config, 1, session.kvFormat);
      if (!sameKvLayout(session.cache.spec, want)) throw new ShapeError(`${what}: its KV cache holds ${describeKvLayout(session.cache.spec)}, this model needs ${describeKvLayout(want)}`);
      throw new ShapeError(`${what}: made by another MoEModel (its cache lives on that model's backend)`);
    }
    if (session.disposed) throw new ShapeError(`${what}: the session has been disposed`);
  }

  /** Checks every entry before anything runs; returns their attention segments. */
  private checkEntries(entries: readonly StepEntry[]): AttentionSegment[] {
    if (!Array.isArray(entries) || entries.length === 0) throw new ShapeError('step needs at least one entry');
    const seen = new Set<ModelSession>();
    const v = this.config.vocabSize;
    return entries.map((e, i) => {
      this.checkSession(e.session, `entries[${i}].session`);
      if (seen.has(e.session)) throw new ShapeError(`entries[${i}].session appears twice in one step`);
      seen.add(e.session);
      const n = e.tokens.length;
      if (n === 0) throw new ShapeError(`entries[${i}]: a step needs at least one token per entry`);
      const position = e.session.position;
      for (let j = 0; j < n; j++) {
        const id = e.tokens[j];
        if (!Number.isInteger(id) || id < 0 || id >= v) throw new ShapeError(`entries[${i}]: token id ${id} at position ${position + j} is outside the vocabulary [0, ${v})`);
      }
      if (position + n > e.session.contextLength) throw new ContextLengthError(e.session.contextLength, position + n, `entries[${i}] (${n} tokens at position ${position})`);
      return { cache: e.session.cache, position, rows: n };
    });
  }

  /** The LM head over the rows each entry asks for, in one backend call. */
  private async logitsOf(entries: readonly StepEntry[], h: Float32Array): Promise<SequenceStep[]> {
    const { hiddenSize: d, vocabSize: v } = this.config;
    const picks = entries.map((e) => {
      const n = e.tokens.length;
      const want = e.logits ?? 'last';
      return want === 'all' ? n : want === 'last' ? 1 : 0;
    });
    const total = picks.reduce((a, b) => a + b, 0);
    const gathered = new Float32Array(total * d);
    let first = 0;
    let at = 0;
    entries.forEach((e, i) => {
      const n = e.tokens.length;
      gathered.set(h.subarray((first + n - picks[i]) * d, (first + n) * d), at * d);
      first += n;
      at += picks[i];
    });
    const normed = rmsNorm(gathered, this.finalNorm, d, this.config.rmsNormEps) as Float32Array;
    const logits = total > 0 ? await this.backend.linear(this.lmHead, normed, total) : new Float32Array(0);
    const divisor = this.config.multipliers?.logitsScaling ?? 1;
    if (divisor !== 1) for (let i = 0; i < logits.length; i++) logits[i] /= divisor;
    first = 0;
    at = 0;
    return entries.map((e, i) => {
      const out: SequenceStep = { logits: logits.subarray(at * v, (at + picks[i]) * v), rows: picks[i], firstRow: first, tokens: e.tokens.length };
      first += e.tokens.length;
      at += picks[i];
      return out;
    });
  }

  private async layer(l: number, h: Float32Array, segments: readonly AttentionSegment[], positions: Int32Array): Promise<LayerRouting> {
    const c = this.config;
    const p = this.layers[l];
    const n = positions.length;
    const xn = rmsNorm(h, p.inputNorm, c.hiddenSize, c.rmsNormEps, new Float32Array(h.length)) as Float32Array;
    const attn = await this.attend(l, p, await projectQkv(this.backend, p.qkv, xn, n), segments, positions);
    const o = await this.backend.linear(p.o, attn, n);
    const r = this.residualScale;
    for (let i = 0; i < h.length; i++) h[i] += o[i] * r;
    const xn2 = rmsNorm(h, p.postNorm, c.hiddenSize, c.rmsNormEps, new Float32Array(h.length)) as Float32Array;
    const moe = await p.moe.forward(xn2);
    const y = moe.output.data;
    for (let i = 0; i < h.length; i++) h[i] += y[i] * r;
    return { plan: moe.plan, stats: moe.stats };
  }

  /** Attention of layer l over its fused input projection: latent (DeepSeek-V2) or GQA. */
  private async attend(l: number, p: PreparedLayer, proj: Float32Array, segments: readonly AttentionSegment[], positions: Int32Array): Promise<Float32Array> {
    if (p.latent) {
      const step = { backend: this.backend, attention: this.attention, layer: l, spec: p.spec, segments, positions, invFreq: this.invFreq, ropeScale: this.ropeScale };
      return latentAttention(this.config, p.latent, proj, step);
    }
    const { q, k, v } = this.splitQkv(proj, positions, p);
    return this.attention.attend(l, p.spec, segments, q, k, v);
  }

  /** Splits the fused projection into q, k, v and applies q/k norms and rotary at each row's position. */
  private splitQkv(qkv: Float32Array, positions: Int32Array, p: PreparedLayer): { q: Float32Array; k: Float32Array; v: Float32Array } {
    const c = this.config;
    const n = positions.length;
    const qw = c.numHeads * c.headDim;
    const kvw = c.numKvHeads * c.headDim;
    const q = new Float32Array(n * qw);
    const k = new Float32Array(n * kvw);
    const v = new Float32Array(n * kvw);
    for (let i = 0; i < n; i++) {
      const row = qkv.subarray(i * (qw + 2 * kvw));
      q.set(row.subarray(0, qw), i * qw);
      k.set(row.subarray(qw, qw + kvw), i * kvw);
      v.set(row.subarray(qw + kvw, qw + 2 * kvw), i * kvw);
      this.normaliseQk(q.subarray(i * qw, (i + 1) * qw), k.subarray(i * kvw, (i + 1) * kvw), p);
      applyRotary(q, i * qw, c.numHeads, c.headDim, positions[i], this.invFreq, this.ropeScale);
      applyRotary(k, i * kvw, c.numKvHeads, c.headDim, positions[i], this.invFreq, this.ropeScale);
    }
    return { q, k, v };
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
    const m = this.config.multipliers?.embedding ?? 1;
    if (m !== 1) for (let i = 0; i < out.length; i++) out[i] *= m;
    return out;
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
      for (const x of [...(p.latent?.kb ?? []), ...(p.latent?.vb ?? []), ...(p.latent?.qB ? [p.latent.qB] : [])]) x.dispose();
    }
    this.lmHead.dispose();
  }
}
