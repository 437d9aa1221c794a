/**
 * A seeded generator of small random checkpoints in the Hugging Face layout (`config.json`,
 * `model.safetensors` or shards + index, `tokenizer.json`, `tokenizer_config.json`), since no
 * real model can be downloaded here. The files are exactly what `loadCheckpoint` reads from a
 * real Mixtral / Qwen-MoE / OLMoE folder.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createRng,
  HostTensor,
  moeLayerTensors,
  randomNormal,
  randomWeights,
  writeSafetensors,
  writeShardedSafetensors,
  type DType,
  type ElementDType,
  type MoEWeights,
  type Rng,
  type WritableTensor,
} from '@moe-runtime/core';
import { moduleQuantization } from './architectures/hf-quantization.js';
import { architectureOf, DEFAULT_MODEL_TYPE } from './architectures/registry.js';
import { hfTensorNames, moeScheme } from './checkpoint-names.js';
import { layerMoeConfig, parseModelConfig, type ModelConfig, type ModelType } from './model-config.js';
import type { AttentionWeights, DecoderLayerWeights, ModelWeights } from './model-weights.js';
import { tinyTokenizerConfig, tinyTokenizerJson, TINY_SPECIAL_TOKENS } from './tiny-tokenizer.js';

/** Shape and storage of a generated checkpoint. */
export interface TinyCheckpointOptions {
  readonly modelType?: ModelType;
  readonly seed?: number;
  /** Storage dtype of the weights (default float32). */
  readonly dtype?: ElementDType;
  readonly numLayers?: number;
  readonly hiddenSize?: number;
  readonly numHeads?: number;
  readonly numKvHeads?: number;
  readonly vocabSize?: number;
  readonly numExperts?: number;
  readonly topK?: number;
  /** Expert inner size F. */
  readonly ffnSize?: number;
  /** Qwen2-MoE shared expert inner size. */
  readonly sharedFfnSize?: number;
  /** Write this many shards plus an index (default 1: a single model.safetensors). */
  readonly shards?: number;
  /** Tie the LM head to the embeddings (no `lm_head.weight` is written). Default false. */
  readonly tieWordEmbeddings?: boolean;
  /**
   * Store the routed experts quantized as the architecture's released checkpoints do
   * (`mxfp4`: gpt-oss's `*_blocks` / `*_scales` with `quantization_config`, the other tensors in
   * `dtype`); the seeded experts are quantized with core's mxfp4 encoder, and the returned
   * weights hold exactly the stored blocks (what a GGUF export of them stores too).
   */
  readonly expertFormat?: 'mxfp4';
  /** `config.json` keys that replace the generated ones (e.g. another `topk_method`, `rope_scaling: null`). */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
}

/** The Hugging Face `config.json` object for the options. */
export function tinyConfigJson(o: TinyCheckpointOptions = {}): Record<string, unknown> {
  const type = o.modelType ?? DEFAULT_MODEL_TYPE;
  const arch = architectureOf(type);
  const d = o.hiddenSize ?? 64;
  const heads = o.numHeads ?? 4;
  const common = {
    model_type: type,
    architectures: [arch.hf.className],
    vocab_size: o.vocabSize ?? 384,
    hidden_size: d,
    num_hidden_layers: o.numLayers ?? 2,
    num_attention_heads: heads,
    num_key_value_heads: o.numKvHeads ?? 2,
    head_dim: d / heads,
    rms_norm_eps: 1e-5,
    rope_theta: arch.hf.defaults.ropeTheta,
    max_position_embeddings: 4096,
    tie_word_embeddings: o.tieWordEmbeddings ?? false,
    bos_token_id: TINY_SPECIAL_TOKENS.bos,
    eos_token_id: TINY_SPECIAL_TOKENS.eos,
    num_experts_per_tok: o.topK ?? 2,
    torch_dtype: { float32: 'float32', float16: 'float16', bfloat16: 'bfloat16' }[o.dtype ?? 'float32'],
  };
  // As gpt-oss's released config.json says: everything but the experts left in bf16.
  const quantization = o.expertFormat
    ? { quantization_config: { quant_method: o.expertFormat, modules_to_not_convert: ['model.layers.*.self_attn', 'model.layers.*.mlp.router', 'model.embed_tokens', 'lm_head'] } }
    : {};
  return { ...common, ...quantization, ...arch.hf.tinyKeys({ hiddenSize: d, numExperts: o.numExperts ?? 8, ffnSize: o.ffnSize ?? 96, sharedFfnSize: o.sharedFfnSize, numLayers: o.numLayers ?? 2, numHeads: heads }), ...o.extraConfig };
}

function tensor(rng: Rng, shape: number[], scale: number, dtype: DType, mean = 0): HostTensor {
  const data = randomNormal(rng, shape.reduce((a, b) => a * b, 1), scale);
  if (mean) for (let i = 0; i < data.length; i++) data[i] += mean;
  return HostTensor.float32(shape, data).to(dtype);
}

function withRouterBias(config: ModelConfig, moe: MoEWeights, rng: Rng, dtype: DType): MoEWeights {
  return config.routerBias ? { ...moe, routerBias: tensor(rng, [config.moe.numExperts], 0.5, dtype) } : moe;
}

/** Multi-head latent attention weights (DeepSeek-V2), each projection scaled by 1/sqrt(fan-in). */
function latentAttentionWeights(config: ModelConfig, rng: Rng, dtype: DType, norm: (n: number) => HostTensor): AttentionWeights {
  const m = config.latentAttention!;
  const { hiddenSize: d, numHeads: h } = config;
  const rq = m.qLoraRank;
  const q = rq === undefined ? { q: tensor(rng, [h * config.headDim, d], 1 / Math.sqrt(d), dtype) } : { qA: tensor(rng, [rq, d], 1 / Math.sqrt(d), dtype), qANorm: norm(rq), q: tensor(rng, [h * config.headDim, rq], 1 / Math.sqrt(rq), dtype) };
  return {
    ...q,
    kvA: tensor(rng, [m.kvLoraRank + m.qkRopeHeadDim, d], 1 / Math.sqrt(d), dtype),
    kvANorm: norm(m.kvLoraRank),
    kvB: tensor(rng, [h * (m.qkNopeHeadDim + m.vHeadDim), m.kvLoraRank], 1 / Math.sqrt(m.kvLoraRank), dtype),
    o: tensor(rng, [d, h * m.vHeadDim], 1 / Math.sqrt(h * m.vHeadDim), dtype),
  };
}

/** Layer i's feed-forward: a leading dense layer's one-expert MoE has the zero router its checkpoint implies. */
function layerMoeWeights(config: ModelConfig, i: number, seed: number, rng: Rng, dtype: DType): MoEWeights {
  const moe = randomWeights(layerMoeConfig(config, i), { seed: seed * 1000 + i + 1, dtype });
  if (i < (config.leadingDense?.count ?? 0)) return { ...moe, router: HostTensor.float32([1, config.hiddenSize], new Float32Array(config.hiddenSize)) };
  return withRouterBias(config, moe, rng, dtype);
}

/** Seeded random weights for a parsed config. */
export function randomModelWeights(config: ModelConfig, seed: number, dtype: DType = 'float32'): ModelWeights {
  const rng = createRng(seed);
  const { hiddenSize: d, vocabSize: v, headDim: hd } = config;
  const qw = config.numHeads * hd;
  const kvw = config.numKvHeads * hd;
  const s = 1 / Math.sqrt(d);
  const norm = (n: number): HostTensor => tensor(rng, [n], 0.1, dtype, 1);
  const layers: DecoderLayerWeights[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const bias = (n: number): HostTensor | undefined => (config.qkvBias ? tensor(rng, [n], 0.1, dtype) : undefined);
    const qkNorm = (full: number): HostTensor | undefined => (config.qkNorm === 'none' ? undefined : norm(config.qkNorm === 'per-head' ? hd : full));
    if (config.latentAttention) {
      layers.push({ inputNorm: norm(d), postAttentionNorm: norm(d), attention: latentAttentionWeights(config, rng, dtype, norm), moe: layerMoeWeights(config, i, seed, rng, dtype) });
      continue;
    }
    layers.push({
      inputNorm: norm(d),
      postAttentionNorm: norm(d),
      attention: {
        q: tensor(rng, [qw, d], s, dtype),
        k: tensor(rng, [kvw, d], s, dtype),
        v: tensor(rng, [kvw, d], s, dtype),
        o: tensor(rng, [d, qw], 1 / Math.sqrt(qw), dtype),
        qBias: bias(qw),
        kBias: bias(kvw),
        vBias: bias(kvw),
        ...(config.oBias ? { oBias: tensor(rng, [d], 0.1, dtype) } : {}),
        // Sinks of the size of attention logits, so they take a real share of each softmax.
        ...(config.attentionSinks ? { sinks: tensor(rng, [config.numHeads], 1, dtype) } : {}),
        qNorm: qkNorm(qw),
        kNorm: qkNorm(kvw),
      },
      moe: layerMoeWeights(config, i, seed, rng, dtype),
    });
  }
  const embed = tensor(rng, [v, d], 1, dtype);
  return { embed, layers, finalNorm: norm(d), lmHead: config.tieWordEmbeddings ? embed : tensor(rng, [v, d], 2 * s, dtype) };
}

/** The checkpoint tensors of a model under their Hugging Face names. */
export function modelTensors(config: ModelConfig, weights: ModelWeights): Map<string, WritableTensor> {
  const N = hfTensorNames(config.modelType);
  const out = new Map<string, WritableTensor>([[N.embed, weights.embed]]);
  const layers = architectureOf(config.modelType).names.layers;
  weights.layers.forEach((l, i) => {
    const p = N.layerPrefix(i);
    if (layers) {
      for (const [name, t] of layers.hf.write(config, l, i)) out.set(p + name, t);
      return;
    }
    out.set(p + N.inputNorm, l.inputNorm);
    out.set(p + N.postAttentionNorm, l.postAttentionNorm);
    const a = l.attention;
    for (const x of ['q', 'k', 'v', 'o'] as const) out.set(p + N.proj(x), a[x]!);
    if (a.qBias) out.set(p + N.proj('q', 'bias'), a.qBias);
    if (a.kBias) out.set(p + N.proj('k', 'bias'), a.kBias);
    if (a.vBias) out.set(p + N.proj('v', 'bias'), a.vBias);
    if (a.oBias) out.set(p + N.proj('o', 'bias'), a.oBias);
    if (a.sinks) out.set(p + N.sinks, a.sinks);
    if (a.qNorm) out.set(p + N.qNorm, a.qNorm);
    if (a.kNorm) out.set(p + N.kNorm, a.kNorm);
    const layout = architectureOf(config.modelType).names.hfMoe;
    const moe = layout ? [...layout.write(config.moe, l.moe, moduleQuantization(config.hfQuantization, p))].map(([n, t]) => [p + n, t] as const) : moeLayerTensors(config.moe, l.moe, { scheme: moeScheme(config.modelType), prefix: p });
    for (const [name, t] of moe) out.set(name, t);
  });
  out.set(N.finalNorm, weights.finalNorm);
  if (!config.tieWordEmbeddings) out.set(N.lmHead, weights.lmHead);
  return out;
}

/** The weights with every routed expert matrix in `format` (biases and everything else unchanged). */
export function withExpertFormat(w: ModelWeights, format: DType): ModelWeights {
  const to = (t: HostTensor): HostTensor => (t.dtype === format ? t : t.to(format));
  return {
    ...w,
    layers: w.layers.map((l) => ({ ...l, moe: { ...l.moe, experts: l.moe.experts.map((e) => ({ ...e, gate: e.gate && to(e.gate), up: to(e.up), down: to(e.down) })) } })),
  };
}

/** Writes a tiny checkpoint folder; returns its parsed config and weights. */
export async function writeTinyCheckpoint(dir: string, options: TinyCheckpointOptions = {}): Promise<{ config: ModelConfig; weights: ModelWeights }> {
  const json = tinyConfigJson(options);
  const config = parseModelConfig(json);
  const seeded = randomModelWeights(config, options.seed ?? 1, options.dtype ?? 'float32');
  const weights = options.expertFormat ? withExpertFormat(seeded, options.expertFormat) : seeded;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(json, null, 2));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson(config.vocabSize)));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(tinyTokenizerConfig(), null, 2));
  const tensors = modelTensors(config, weights);
  const shards = options.shards ?? 1;
  if (shards <= 1) await writeSafetensors(join(dir, 'model.safetensors'), tensors);
  else {
    const names = [...tensors.keys()];
    const per = Math.ceil(names.length / shards);
    const parts = Array.from({ length: shards }, (_, s) => new Map(names.slice(s * per, (s + 1) * per).map((n) => [n, tensors.get(n)!])));
    await writeShardedSafetensors(dir, parts);
  }
  return { config, weights };
}
