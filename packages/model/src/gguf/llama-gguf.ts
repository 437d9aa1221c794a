/**
 * Exports a model (weights + vocabulary) as a llama.cpp GGUF checkpoint of its architecture
 * (`llama` for Mixtral, `qwen2moe`, `qwen3moe`, `olmoe`), with llama.cpp's tensor names and
 * metadata keys, so llama.cpp can evaluate exactly the same weights and this package reads the
 * file back. Layout facts:
 * - `llama`'s rotary embedding pairs adjacent dimensions: q and k rows are permuted per head
 *   ({@link permuteRotaryRows}); the NEOX architectures keep Hugging Face's order;
 * - experts are stacked into one tensor per projection (`ffn_gate_exps` is `[E, F, D]`);
 * - matrices are written in their stored format (block formats as their blocks), norms,
 *   biases and routers as float32 (as llama.cpp's converter writes them).
 * Tensors are produced one at a time while the file is written.
 */
import { ConfigError, type HostTensor } from '@moe-runtime/core';
import type { ModelConfig } from '../model-config.js';
import type { ModelWeights } from '../model-weights.js';
import { stackTensors } from '../tensor-concat.js';
import { checkGgufReadable, GGUF_ARCHITECTURE_FACTS, ggufArchitectureOf } from './gguf-architecture.js';
import { architectureOf, ARCHITECTURES } from '../architectures/registry.js';
import { GGUF_TOKEN_TYPES } from './gguf-tokenizer.js';
import { writeGgufStream, writeSplitGguf, type GgufTensorSpec, type GgufValue } from './gguf-writer.js';
import { permuteRotaryRows } from './rotary-permutation.js';

export { permuteRotaryRows } from './rotary-permutation.js';

/** The vocabulary a GGUF file carries (`tokenizer.ggml.*`). */
export interface GgufVocabulary {
  /** `gpt2` (byte-level BPE with merges) or `llama` (SentencePiece with scores). */
  readonly model: 'gpt2' | 'llama';
  /** `tokenizer.ggml.pre` (gpt2 only). */
  readonly pre?: string;
  readonly tokens: readonly string[];
  /** llama.cpp token types, one per token (1 normal, 3 control, 6 byte, ...). */
  readonly types: readonly number[];
  readonly scores?: readonly number[];
  readonly merges?: readonly string[];
  readonly bosId?: number;
  readonly eosId?: number;
  readonly addBos?: boolean;
  readonly chatTemplate?: string;
}

/** @deprecated the name of {@link GgufVocabulary} before SentencePiece vocabularies. */
export type GgufTokenizer = GgufVocabulary;

/** Extracts a byte-level BPE tokenizer's vocabulary and merges from parsed `tokenizer.json` (GPT-2 pre-tokenization). */
export function ggufTokenizerFromJson(json: Record<string, unknown>, bosId: number, eosId: number): GgufVocabulary {
  const model = json.model as { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] } | undefined;
  if (!model || model.type !== 'BPE' || !model.vocab) throw new ConfigError('tokenizer.json: model', 'GGUF export supports byte-level BPE tokenizers only');
  const tokens: string[] = [];
  for (const [tok, id] of Object.entries(model.vocab)) tokens[id] = tok;
  const special = new Set<number>();
  for (const t of (json.added_tokens as { id: number; content: string; special?: boolean }[] | undefined) ?? []) {
    tokens[t.id] = t.content;
    if (t.special) special.add(t.id);
  }
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) throw new ConfigError('tokenizer.json', `token id ${i} has no entry`);
  const merges = (model.merges ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const types = tokens.map((_, i) => (special.has(i) ? GGUF_TOKEN_TYPES.control : GGUF_TOKEN_TYPES.normal));
  return { model: 'gpt2', pre: 'gpt-2', tokens, types, merges, bosId, eosId, addBos: true };
}

/** The `tokenizer.ggml.*` metadata of a vocabulary. */
export function vocabularyMetadata(v: GgufVocabulary): [string, GgufValue][] {
  const out: [string, GgufValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: v.model }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: v.tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: v.types }],
  ];
  if (v.pre !== undefined) out.push(['tokenizer.ggml.pre', { type: 'string', value: v.pre }]);
  if (v.scores) out.push(['tokenizer.ggml.scores', { type: 'f32[]', value: v.scores }]);
  if (v.merges) out.push(['tokenizer.ggml.merges', { type: 'string[]', value: v.merges }]);
  if (v.bosId !== undefined) out.push(['tokenizer.ggml.bos_token_id', { type: 'u32', value: v.bosId }]);
  if (v.eosId !== undefined) out.push(['tokenizer.ggml.eos_token_id', { type: 'u32', value: v.eosId }]);
  if (v.addBos !== undefined) out.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: v.addBos }]);
  if (v.chatTemplate !== undefined) out.push(['tokenizer.chat_template', { type: 'string', value: v.chatTemplate }]);
  return out;
}

/** The architecture metadata of a model config, under llama.cpp's keys. */
export function modelMetadata(config: ModelConfig, name = 'moe-runtime export'): Map<string, GgufValue> {
  const arch = ggufArchitectureOf(config.modelType);
  const facts = GGUF_ARCHITECTURE_FACTS[arch];
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  const f32 = (value: number): GgufValue => ({ type: 'f32', value });
  const moe = config.moe;
  const general: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: arch }],
    ['general.name', { type: 'string', value: name }],
    ['general.alignment', u32(32)],
  ];
  // An architecture with its own keys (deepseek2) writes them all.
  const own = architectureOf(config.modelType).gguf.metadata;
  if (own) return new Map([...general, ...own(config)]);
  const meta = new Map<string, GgufValue>([
    ...general,
    [`${arch}.context_length`, u32(config.maxPositions)],
    [`${arch}.embedding_length`, u32(config.hiddenSize)],
    [`${arch}.block_count`, u32(config.numLayers)],
    [`${arch}.feed_forward_length`, u32(moe.expert.ffnSize)],
    [`${arch}.attention.head_count`, u32(config.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(config.numKvHeads)],
    [`${arch}.attention.key_length`, u32(config.headDim)],
    [`${arch}.attention.value_length`, u32(config.headDim)],
    [`${arch}.rope.dimension_count`, u32(config.headDim)],
    [`${arch}.rope.freq_base`, f32(config.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(config.rmsNormEps)],
    [`${arch}.expert_count`, u32(moe.numExperts)],
    [`${arch}.expert_used_count`, u32(moe.topK)],
    [`${arch}.vocab_size`, u32(config.vocabSize)],
  ]);
  if (facts.expertWidthKey) meta.set(`${arch}.${facts.expertWidthKey}`, u32(moe.expert.ffnSize));
  if (moe.sharedExperts) meta.set(`${arch}.expert_shared_feed_forward_length`, u32(moe.sharedExperts.ffnSize));
  const m = config.multipliers;
  if (facts.multipliers && m) {
    meta.set(`${arch}.embedding_scale`, f32(m.embedding));
    meta.set(`${arch}.attention.scale`, f32(m.attentionScale));
    meta.set(`${arch}.residual_scale`, f32(m.residual));
    meta.set(`${arch}.logit_scale`, f32(m.logitsScaling));
  }
  const renormalize = (moe.router.options as { renormalize?: boolean } | undefined)?.renormalize ?? false;
  // Only where it departs from the architecture's fixed rule (llama.cpp itself applies that rule).
  if (renormalize !== facts.renormalize) meta.set(`${arch}.expert_weights_norm`, { type: 'bool', value: renormalize });
  for (const [k, v] of attentionMetadata(config)) meta.set(`${arch}.${k}`, v);
  return meta;
}

/**
 * gpt-oss's keys (llama.cpp `llama_load_hparams_openai_moe`): the sliding window (llama.cpp
 * slides the even layers, `set_swa_pattern(2)`, so other patterns are refused) and YaRN.
 */
function attentionMetadata(config: ModelConfig): [string, GgufValue][] {
  const out: [string, GgufValue][] = [];
  const windows = config.layerWindows;
  if (windows?.some((w) => w !== null)) {
    const w = windows.find((x) => x !== null)!;
    if (windows.some((x, i) => x !== (i % 2 === 0 ? w : null))) throw new ConfigError('layer_types', `GGUF (llama.cpp) slides the even layers with one window; got windows ${JSON.stringify(windows)}`);
    out.push(['attention.sliding_window', { type: 'u32', value: w }]);
  }
  const r = config.ropeScaling;
  if (r?.type === 'yarn') {
    out.push(['rope.scaling.type', { type: 'string', value: 'yarn' }], ['rope.scaling.factor', { type: 'f32', value: r.factor }], ['rope.scaling.original_context_length', { type: 'u32', value: r.originalMaxPositions }]);
    out.push(['rope.scaling.yarn_beta_fast', { type: 'f32', value: r.betaFast }], ['rope.scaling.yarn_beta_slow', { type: 'f32', value: r.betaSlow }]);
  } else if (r) throw new ConfigError('rope_scaling', `the GGUF export writes yarn scaling only, got ${r.type}`);
  return out;
}

interface TensorPlan {
  readonly spec: GgufTensorSpec;
  readonly make: () => HostTensor;
}

/** The tensors of a model under llama.cpp's names, each produced when it is written. */
function tensorPlans(config: ModelConfig, weights: ModelWeights): TensorPlan[] {
  const G = architectureOf(config.modelType).names.gguf;
  const facts = GGUF_ARCHITECTURE_FACTS[ggufArchitectureOf(config.modelType)];
  const plans: TensorPlan[] = [];
  // `name` is the full tensor name for f32 entries (biases end in `.bias`), the base name otherwise.
  const f32Entry = (name: string, shape: readonly number[], make: () => HostTensor): void => void plans.push({ spec: { name, dtype: 'float32', shape }, make });
  const asIs = (name: string, t: HostTensor, make: () => HostTensor = () => t): void => void plans.push({ spec: { name: `${name}.weight`, dtype: t.dtype, shape: t.shape }, make });
  const f32 = (name: string, t: HostTensor): void => f32Entry(name.endsWith('.bias') ? name : `${name}.weight`, t.shape, () => t.to('float32'));
  asIs(G.embed, weights.embed);
  const own = architectureOf(config.modelType).names.layers?.gguf;
  weights.layers.forEach((l, i) => {
    const b = G.block(i);
    if (own) {
      // The layout names its tensors in full (`.weight` included) and sets their formats.
      for (const [name, t] of own.write(config, l, i)) plans.push({ spec: { name: b + name, dtype: t.dtype, shape: t.shape }, make: () => t });
      return;
    }
    const a = l.attention;
    f32(b + G.attnNorm, l.inputNorm);
    const rot = (t: HostTensor, heads: number) => () => (facts.permutedRotary ? permuteRotaryRows(t, heads) : t);
    asIs(b + G.q, a.q, rot(a.q, config.numHeads));
    asIs(b + G.k, a.k!, rot(a.k!, config.numKvHeads));
    asIs(b + G.v, a.v!);
    asIs(b + G.o, a.o);
    if (a.oBias) f32(`${b}${G.o}.bias`, a.oBias);
    if (a.sinks) f32(b + G.sinks, a.sinks);
    if (a.qBias && a.kBias && a.vBias) {
      f32(`${b}${G.q}.bias`, a.qBias);
      f32(`${b}${G.k}.bias`, a.kBias);
      f32(`${b}${G.v}.bias`, a.vBias);
    }
    if (a.qNorm) f32(b + G.qNorm, a.qNorm);
    if (a.kNorm) f32(b + G.kNorm, a.kNorm);
    f32(b + G.ffnNorm, l.postAttentionNorm);
    f32(b + G.router, l.moe.router);
    if (l.moe.routerBias) f32(`${b}${G.router}.bias`, l.moe.routerBias);
    for (const p of ['gate', 'up', 'down'] as const) {
      const parts = l.moe.experts.map((e) => (p === 'gate' ? e.gate! : e[p]));
      const dtype = parts.every((t) => t.dtype === parts[0].dtype) ? parts[0].dtype : 'float32';
      plans.push({ spec: { name: `${b}${G.experts(p)}.weight`, dtype, shape: [parts.length, ...parts[0].shape] }, make: () => stackTensors(parts) });
      // Expert biases stacked `[E, F]` / `[E, D]` (gpt-oss `ffn_*_exps.bias`).
      const biases = l.moe.experts.map((e) => e[`${p}Bias`]);
      if (biases.every((t) => t !== undefined)) {
        const bs = biases as HostTensor[];
        plans.push({ spec: { name: `${b}${G.experts(p)}.bias`, dtype: 'float32', shape: [bs.length, bs[0].shape[0]] }, make: () => stackTensors(bs.map((t) => t.to('float32'))) });
      }
    }
    const s = l.moe.shared?.[0];
    if (s) {
      asIs(b + G.shared('gate'), s.gate!);
      asIs(b + G.shared('up'), s.up);
      asIs(b + G.shared('down'), s.down);
      const g = l.moe.sharedGate!;
      f32Entry(`${b}${G.sharedGate}.weight`, [config.hiddenSize], () => g.to('float32').slice0(0));
    }
  });
  f32(G.finalNorm, weights.finalNorm);
  if (!config.tieWordEmbeddings || weights.lmHead !== weights.embed) asIs(G.lmHead, weights.lmHead);
  return plans;
}

/** Options of {@link writeModelGguf}. */
export interface WriteModelGgufOptions {
  /** `general.name`. */
  readonly name?: string;
  /** Write a split checkpoint of this many shards into the folder of `path` (named from its base name). */
  readonly shards?: number;
}

/**
 * Writes `config`/`weights` (any supported model type) and a vocabulary as a GGUF checkpoint.
 * Returns the paths written (one, or the shards).
 */
export async function writeModelGguf(path: string, config: ModelConfig, weights: ModelWeights, vocabulary: GgufVocabulary, options: WriteModelGgufOptions = {}): Promise<string[]> {
  if (vocabulary.tokens.length !== config.vocabSize) {
    throw new ConfigError('vocabulary', `has ${vocabulary.tokens.length} tokens, the model's vocab_size is ${config.vocabSize}`);
  }
  checkGgufReadable(ggufArchitectureOf(config.modelType), (why) => {
    throw new ConfigError('model_type', `cannot write ${config.modelType} as GGUF: ${why}`);
  });
  const meta = modelMetadata(config, options.name);
  for (const [k, v] of vocabularyMetadata(vocabulary)) meta.set(k, v);
  const plans = tensorPlans(config, weights);
  const specs = plans.map((p) => p.spec);
  const produce = (_: GgufTensorSpec, i: number): HostTensor => plans[i].make();
  if ((options.shards ?? 1) > 1) {
    const dir = path.replace(/[/\\][^/\\]*$/, '') || '.';
    const prefix = path.slice(dir.length + 1).replace(/\.gguf$/i, '');
    return writeSplitGguf(dir, prefix, options.shards!, meta, specs, produce);
  }
  await writeGgufStream(path, meta, specs, produce);
  return [path];
}

/** Writes a Mixtral-type model (`llama` architecture) and its vocabulary as a GGUF file for llama.cpp. */
export async function writeLlamaGguf(path: string, config: ModelConfig, weights: ModelWeights, tokenizer: GgufVocabulary): Promise<void> {
  const llama = ARCHITECTURES.filter((a) => a.gguf.architecture === 'llama').map((a) => a.modelType);
  if (ggufArchitectureOf(config.modelType) !== 'llama') throw new ConfigError('model_type', `writeLlamaGguf writes ${llama.join(', ')} models, got ${config.modelType}; use writeModelGguf`);
  await writeModelGguf(path, config, weights, tokenizer);
}
