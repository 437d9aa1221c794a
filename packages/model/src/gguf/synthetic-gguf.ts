/**
 * Seeded synthetic GGUF checkpoints with the exact shapes and tensor formats of real MoE
 * models, for memory and speed measurements without downloads. Weights are random block codes
 * written block by block (scales set so values have a fan-in-sized spread); the header is the
 * model's real one (llama.cpp names and metadata, a byte-level vocabulary of the real size).
 * A file is written one tensor at a time, so a 19 GB checkpoint never sits in memory; a
 * shape-only file is written sparse (its data is a hole on disk) for the memory check alone.
 *
 * `Q4_K_M` follows llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp) for that file
 * type: q4_k by default; q6_k for `output` and for `attn_v` / `ffn_down` in the layers
 * `use_more_bits` picks (the first and last eighth, and every third in between); for 8-expert
 * models (Mixtral) `attn_v` and `attn_k` in q8_0 and `attn_output` in q5_k; and its fallback for
 * rows that are not whole 256-value blocks (q4_k -> q5_0, q6_k -> q8_0: DeepSeek-V2-Lite's
 * `ffn_down_exps` rows of 1408 and its dense `ffn_down` rows of 10944). `Q8_0` stores every
 * matrix in q8_0. Norms and routers (`ffn_gate_inp`) stay float32, as llama.cpp keeps them.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { ConfigError, float32ToFloat16, formatLayout, isBlockFormat, storageBytes, type DType } from '@moe-runtime/core';
import { parseModelConfig, type ModelConfig } from '../model-config.js';
import { architectureOf } from '../architectures/registry.js';
import type { LayerLayout } from '../architectures/layer-layout.js';
import { GGUF_TOKEN_TYPES } from './gguf-tokenizer.js';
import { writeGgufStream, type GgufTensorSpec } from './gguf-writer.js';
import { modelMetadata, vocabularyMetadata, type GgufVocabulary } from './llama-gguf.js';

/**
 * How a file's matrices are stored: llama.cpp's mixture `Q4_K_M`; `MXFP4_MOE` (gpt-oss as
 * released: routed experts in mxfp4, the other matrices in q8_0); or one format for all (`--pure`).
 */
export type SyntheticFileType = 'Q4_K_M' | 'MXFP4_MOE' | DType;

/** One synthetic checkpoint to write. */
export interface SyntheticModel {
  /** File name stem, e.g. `olmoe-1b-7b-q8_0`. */
  readonly id: string;
  readonly description: string;
  readonly config: ModelConfig;
  readonly fileType: SyntheticFileType;
  /** Header only, data left as a hole: for the memory check. */
  readonly shapeOnly?: boolean;
  /** The real files' `tokenizer.ggml.pre` (default `gpt-2`), so their pre-tokenizer is the one that runs. */
  readonly pre?: string;
}

function moeConfig(p: {
  type: ModelConfig['modelType'];
  d: number;
  layers: number;
  heads: number;
  kv: number;
  hd: number;
  experts: number;
  k: number;
  f: number;
  vocab: number;
  context: number;
  theta: number;
  eps: number;
  renormalize: boolean;
  qkNorm: ModelConfig['qkNorm'];
}): ModelConfig {
  return {
    modelType: p.type,
    vocabSize: p.vocab,
    hiddenSize: p.d,
    numLayers: p.layers,
    numHeads: p.heads,
    numKvHeads: p.kv,
    headDim: p.hd,
    rmsNormEps: p.eps,
    ropeTheta: p.theta,
    maxPositions: p.context,
    qkvBias: false,
    qkNorm: p.qkNorm,
    tieWordEmbeddings: false,
    moe: { hiddenSize: p.d, numExperts: p.experts, topK: p.k, expert: { kind: 'swiglu', ffnSize: p.f }, router: { name: 'topk-softmax', options: { renormalize: p.renormalize } } },
    bosTokenId: 1,
    eosTokenIds: [2],
  };
}

/** allenai/OLMoE-1B-7B-0924 (6.9B parameters). */
export const OLMOE_1B_7B = moeConfig({ type: 'olmoe', d: 2048, layers: 16, heads: 16, kv: 16, hd: 128, experts: 64, k: 8, f: 1024, vocab: 50304, context: 4096, theta: 10000, eps: 1e-5, renormalize: false, qkNorm: 'full' });
/** Qwen/Qwen3-30B-A3B (30.5B parameters). */
export const QWEN3_30B_A3B = moeConfig({ type: 'qwen3_moe', d: 2048, layers: 48, heads: 32, kv: 4, hd: 128, experts: 128, k: 8, f: 768, vocab: 151936, context: 40960, theta: 1e6, eps: 1e-6, renormalize: true, qkNorm: 'per-head' });
/** mistralai/Mixtral-8x7B-v0.1 (46.7B parameters). */
export const MIXTRAL_8X7B = moeConfig({ type: 'mixtral', d: 4096, layers: 32, heads: 32, kv: 8, hd: 128, experts: 8, k: 2, f: 14336, vocab: 32000, context: 32768, theta: 1e6, eps: 1e-5, renormalize: true, qkNorm: 'none' });
/**
 * openai/gpt-oss-20b (20.9B parameters), from its `config.json`: 24 layers alternating a
 * 128-token sliding window and full attention, sinks, biases, YaRN (factor 32 over 4096), 32
 * experts of which 4 are routed, the clamped SwiGLU.
 */
export const GPT_OSS_20B = parseModelConfig(
  {
    model_type: 'gpt_oss',
    architectures: ['GptOssForCausalLM'],
    hidden_size: 2880,
    num_hidden_layers: 24,
    num_attention_heads: 64,
    num_key_value_heads: 8,
    head_dim: 64,
    intermediate_size: 2880,
    num_local_experts: 32,
    num_experts_per_tok: 4,
    vocab_size: 201088,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-5,
    rope_theta: 150000,
    rope_scaling: { rope_type: 'yarn', factor: 32, beta_fast: 32, beta_slow: 1, original_max_position_embeddings: 4096, truncate: false },
    sliding_window: 128,
    layer_types: Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention')),
    attention_bias: true,
    swiglu_limit: 7,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
  },
  'gpt-oss-20b config.json',
);
/**
 * deepseek-ai/DeepSeek-V2-Lite (15.7B parameters), from its `config.json`: multi-head latent
 * attention (kv_lora_rank 512, no low-rank q), the first layer dense, 64 routed experts (6 a
 * token) and 2 shared, YaRN (factor 40 over 4096, mscale 0.707).
 */
export const DEEPSEEK_V2_LITE = parseModelConfig(
  {
    model_type: 'deepseek_v2',
    architectures: ['DeepseekV2ForCausalLM'],
    hidden_size: 2048,
    num_hidden_layers: 27,
    num_attention_heads: 16,
    num_key_value_heads: 16,
    intermediate_size: 10944,
    moe_intermediate_size: 1408,
    n_routed_experts: 64,
    n_shared_experts: 2,
    num_experts_per_tok: 6,
    first_k_dense_replace: 1,
    moe_layer_freq: 1,
    routed_scaling_factor: 1.0,
    topk_method: 'greedy',
    n_group: 1,
    topk_group: 1,
    norm_topk_prob: false,
    scoring_func: 'softmax',
    q_lora_rank: null,
    kv_lora_rank: 512,
    qk_nope_head_dim: 128,
    qk_rope_head_dim: 64,
    v_head_dim: 128,
    vocab_size: 102400,
    max_position_embeddings: 163840,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 },
    attention_bias: false,
    tie_word_embeddings: false,
    bos_token_id: 100000,
    eos_token_id: 100001,
  },
  'DeepSeek-V2-Lite config.json',
);
/** The model benchmark's Mixtral-shaped 428M model (`src/bench/model-bench.ts`). */
export const BENCH_428M = moeConfig({ type: 'mixtral', d: 1024, layers: 4, heads: 8, kv: 2, hd: 128, experts: 8, k: 2, f: 3584, vocab: 32000, context: 4096, theta: 1e6, eps: 1e-5, renormalize: true, qkNorm: 'none' });

/** Formats the 428M benchmark shape is written in. */
export const BENCH_FORMATS: readonly DType[] = ['float32', 'float16', 'bfloat16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'mxfp4'];

/** Every synthetic checkpoint the generator knows, by id. */
export const SYNTHETIC_MODELS: readonly SyntheticModel[] = [
  { id: 'olmoe-1b-7b-q8_0', description: 'OLMoE-1B-7B Q8_0', config: OLMOE_1B_7B, fileType: 'q8_0', pre: 'olmo' },
  { id: 'olmoe-1b-7b-q4_k_m', description: 'OLMoE-1B-7B Q4_K_M', config: OLMOE_1B_7B, fileType: 'Q4_K_M', pre: 'olmo' },
  { id: 'qwen3-30b-a3b-q4_k_m', description: 'Qwen3-30B-A3B Q4_K_M', config: QWEN3_30B_A3B, fileType: 'Q4_K_M', pre: 'qwen2' },
  { id: 'gpt-oss-20b-mxfp4', description: 'gpt-oss-20b MXFP4 (experts mxfp4, other matrices q8_0)', config: GPT_OSS_20B, fileType: 'MXFP4_MOE', pre: 'gpt-4o' },
  { id: 'deepseek-v2-lite-q8_0', description: 'DeepSeek-V2-Lite Q8_0', config: DEEPSEEK_V2_LITE, fileType: 'q8_0', pre: 'deepseek-llm' },
  // llama.cpp's Q4_K_M falls back to q5_0 (q8_0 where it would pick q6_k) for rows that are not
  // whole 256-value blocks: ffn_down_exps' 1408, the dense ffn_down's 10944.
  { id: 'deepseek-v2-lite-q4_k_m', description: 'DeepSeek-V2-Lite Q4_K_M', config: DEEPSEEK_V2_LITE, fileType: 'Q4_K_M', pre: 'deepseek-llm' },
  { id: 'mixtral-8x7b-q4_k_m-shape', description: 'Mixtral-8x7B Q4_K_M, shape only (sparse)', config: MIXTRAL_8X7B, fileType: 'Q4_K_M', shapeOnly: true },
  ...BENCH_FORMATS.map((f): SyntheticModel => ({ id: `bench-428m-${f}`, description: `428M benchmark shape, ${f}`, config: BENCH_428M, fileType: f })),
];

/** llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third in between. */
export function useMoreBits(layer: number, layers: number): boolean {
  const e = Math.floor(layers / 8);
  return layer < e || layer >= Math.floor((7 * layers) / 8) || (layer - e) % 3 === 2;
}

/**
 * llama.cpp's fallback (`llama_tensor_get_type`, `convert_incompatible_tensor`) for a k-quant
 * chosen for rows of `cols` values that are not whole 256-value blocks: q4_k -> q5_0, q6_k ->
 * q8_0 (q5_k -> q5_1 is not read by this runtime: a ConfigError naming the tensor).
 */
export function llamaCppFallback(dtype: DType, cols: number, tensor: string): DType {
  if (cols % 256 === 0 || (dtype !== 'q4_k' && dtype !== 'q5_k' && dtype !== 'q6_k')) return dtype;
  if (dtype === 'q4_k') return 'q5_0';
  if (dtype === 'q6_k') return 'q8_0';
  throw new ConfigError('fileType', `${tensor}: llama.cpp would store these rows of ${cols} values as q5_1, which this runtime does not read`);
}

/** The storage format of one tensor in a file of `fileType` (matrices only; vectors and routers stay float32). */
export function syntheticTensorType(role: 'embed' | 'output' | 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down', layer: number, c: ModelConfig, fileType: SyntheticFileType): DType {
  if (fileType === 'MXFP4_MOE') return role === 'gate' || role === 'up' || role === 'down' ? 'mxfp4' : 'q8_0';
  if (fileType !== 'Q4_K_M') return fileType;
  const eight = c.moe.numExperts === 8;
  switch (role) {
    case 'output':
      return 'q6_k';
    case 'v':
      return eight ? 'q8_0' : useMoreBits(layer, c.numLayers) ? 'q6_k' : 'q4_k';
    case 'k':
      return eight ? 'q8_0' : 'q4_k';
    case 'o':
      return eight ? 'q5_k' : 'q4_k';
    case 'down':
      return useMoreBits(layer, c.numLayers) ? 'q6_k' : 'q4_k';
    default:
      return 'q4_k';
  }
}

/** What a tensor's values are: a matrix with a fan-in, a norm near 1, or a bias (or sink logit) near 0. */
interface SyntheticTensor extends GgufTensorSpec {
  readonly fill: 'matrix' | 'norm' | 'bias';
  readonly fanIn: number;
}

function tensorsOf(c: ModelConfig, fileType: SyntheticFileType): SyntheticTensor[] {
  const G = architectureOf(c.modelType).names.gguf;
  const d = c.hiddenSize;
  const qw = c.numHeads * c.headDim;
  const kvw = c.numKvHeads * c.headDim;
  const e = c.moe.numExperts;
  const f = c.moe.expert.ffnSize;
  const out: SyntheticTensor[] = [];
  const matrix = (name: string, shape: number[], chosen: DType, scale = 1): void => {
    const cols = shape[shape.length - 1];
    const dtype = fileType === 'Q4_K_M' ? llamaCppFallback(chosen, cols, `${name}.weight`) : chosen;
    out.push({ name: `${name}.weight`, shape, dtype, fill: 'matrix', fanIn: cols / (scale * scale) });
  };
  const norm = (name: string, n: number): void => void out.push({ name: `${name}.weight`, shape: [n], dtype: 'float32', fill: 'norm', fanIn: 1 });
  const bias = (name: string, shape: number[]): void => void out.push({ name, shape, dtype: 'float32', fill: 'bias', fanIn: 1 });
  matrix(G.embed, [c.vocabSize, d], syntheticTensorType('embed', 0, c, fileType), Math.sqrt(d));
  const layout = architectureOf(c.modelType).names.layers?.gguf;
  for (let i = 0; layout && i < c.numLayers; i++) out.push(...layoutTensors(layout, c, i, fileType));
  for (let i = 0; !layout && i < c.numLayers; i++) {
    const b = G.block(i);
    const t = (role: Parameters<typeof syntheticTensorType>[0]): DType => syntheticTensorType(role, i, c, fileType);
    norm(b + G.attnNorm, d);
    matrix(b + G.q, [qw, d], t('q'));
    matrix(b + G.k, [kvw, d], t('k'));
    matrix(b + G.v, [kvw, d], t('v'));
    matrix(b + G.o, [d, qw], t('o'));
    if (c.qkvBias) for (const [x, n] of [[G.q, qw], [G.k, kvw], [G.v, kvw]] as const) bias(`${b}${x}.bias`, [n]);
    if (c.oBias) bias(`${b}${G.o}.bias`, [d]);
    if (c.attentionSinks) bias(`${b}${G.sinks}.weight`, [c.numHeads]);
    if (c.qkNorm !== 'none') {
      norm(b + G.qNorm, c.qkNorm === 'per-head' ? c.headDim : qw);
      norm(b + G.kNorm, c.qkNorm === 'per-head' ? c.headDim : kvw);
    }
    norm(b + G.ffnNorm, d);
    // The router stays float32 (llama.cpp never quantizes ffn_gate_inp), with a larger spread so routing is decisive.
    matrix(b + G.router, [e, d], 'float32', 2);
    if (c.routerBias) bias(`${b}${G.router}.bias`, [e]);
    matrix(b + G.experts('gate'), [e, f, d], t('gate'));
    matrix(b + G.experts('up'), [e, f, d], t('up'));
    matrix(b + G.experts('down'), [e, d, f], t('down'));
    if (c.moe.expert.bias) {
      bias(`${b}${G.experts('gate')}.bias`, [e, f]);
      bias(`${b}${G.experts('up')}.bias`, [e, f]);
      bias(`${b}${G.experts('down')}.bias`, [e, d]);
    }
  }
  norm(G.finalNorm, d);
  matrix(G.lmHead, [c.vocabSize, d], syntheticTensorType('output', 0, c, fileType));
  return out;
}

/**
 * The Q4_K_M format of a layout-defined layer's matrix, by llama.cpp's name rules: `ffn_down`,
 * `ffn_down_exps` and `ffn_down_shexp` q6_k in the layers `use_more_bits` picks, everything else
 * q4_k (none of DeepSeek-V2's attention names is `attn_v` / `attn_k`, and it has 64 experts, not
 * 8), then the fallback for rows that are not whole 256-value blocks.
 */
function layoutQ4KM(name: string, shape: readonly number[], layer: number, c: ModelConfig): DType {
  const chosen: DType = name.includes('ffn_down') && useMoreBits(layer, c.numLayers) ? 'q6_k' : 'q4_k';
  return llamaCppFallback(chosen, shape[shape.length - 1], name);
}

/**
 * Layer i's tensors of an architecture with its own layer layout (DeepSeek-V2), as the layout
 * lists them: vectors as norms, routers float32, every other matrix in the file's one format or
 * llama.cpp's Q4_K_M choice for it (MXFP4_MOE is defined for gpt-oss's layers only).
 */
function layoutTensors(layout: LayerLayout, c: ModelConfig, i: number, fileType: SyntheticFileType): SyntheticTensor[] {
  if (fileType === 'MXFP4_MOE') throw new ConfigError('fileType', `${c.modelType} synthetic files take one storage format or Q4_K_M, got ${fileType}`);
  const G = architectureOf(c.modelType).names.gguf;
  const b = G.block(i);
  return layout.tensors(c, i).map((t): SyntheticTensor => {
    const name = b + t.name;
    if (t.use === 'host-vector') return { name, shape: [...t.shape], dtype: 'float32', fill: 'norm', fanIn: 1 };
    // What a load-time dtype would not convert stays float32: the router, and the per-head latent
    // projections (attn_k_b / attn_v_b), which node-llama-cpp 3.22.1's CPU backend aborts
    // scheduling its MLA products on as q8_0, q4_0 or float16 (GGML_ASSERT in ggml-backend.cpp,
    // tried on a 27-layer file). The router gets a larger spread, as in tensorsOf.
    const router = t.name === `${G.router}.weight`;
    const dtype = !t.convertible ? 'float32' : fileType === 'Q4_K_M' ? layoutQ4KM(name, t.shape, i, c) : fileType;
    return { name, shape: [...t.shape], dtype, fill: 'matrix', fanIn: t.shape[t.shape.length - 1] / (router ? 4 : 1) };
  });
}

/** A byte-level vocabulary of `size` tokens: three control tokens, the 256 byte tokens, fillers; no merges; `pre` as `tokenizer.ggml.pre`. */
export function syntheticVocabulary(size: number, pre = 'gpt-2'): GgufVocabulary {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [GGUF_TOKEN_TYPES.control, GGUF_TOKEN_TYPES.control, GGUF_TOKEN_TYPES.control];
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    tokens.push(String.fromCodePoint(keep.includes(b) ? b : 256 + extra++));
    types.push(GGUF_TOKEN_TYPES.normal);
  }
  for (let i = 0; tokens.length < size; i++) {
    tokens.push(`<x${i}>`);
    types.push(GGUF_TOKEN_TYPES.normal);
  }
  return { model: 'gpt2', pre, tokens, types, merges: [], bosId: 1, eosId: 2, addBos: false };
}

/**
 * Seeded random bytes at gigabytes per second: the AES-128-CTR keystream of a key derived from
 * the seed (OpenSSL's AES instructions), one stream per tensor, so every byte is reproducible.
 */
class ByteStream {
  private readonly key: Buffer;

  constructor(seed: number) {
    this.key = createHash('sha256').update(`moe-runtime synthetic ${seed}`).digest().subarray(0, 16);
  }

  /** Fills `out` with the keystream of stream `index`. */
  fill(out: Uint8Array, index: number): void {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(index, 0);
    const cipher = createCipheriv('aes-128-ctr', this.key, iv);
    const chunk = 1 << 24;
    const zeros = new Uint8Array(Math.min(chunk, out.length));
    for (let o = 0; o < out.length; o += chunk) {
      const n = Math.min(chunk, out.length - o);
      out.set(cipher.update(zeros.subarray(0, n)), o);
    }
  }
}

function putF16(bytes: Uint8Array, at: number, value: number): void {
  const h = float32ToFloat16(value);
  bytes[at] = h & 255;
  bytes[at + 1] = h >> 8;
}

/**
 * Random blocks of a block format with valid scales: every scale field is overwritten with a
 * value that makes the decoded values' spread about `std` (codes stay random).
 */
function fillBlocks(dtype: DType, bytes: Uint8Array, std: number): void {
  const { blockBytes } = formatLayout(dtype);
  const blocks = bytes.length / blockBytes;
  const scale = (d: number, at: number): void => putF16(bytes, at, d);
  for (let k = 0, p = 0; k < blocks; k++, p += blockBytes) {
    switch (dtype) {
      case 'q8_0':
        scale(std / 73.9, p); // int8 codes: spread 73.9
        break;
      case 'q4_0':
        scale(std / 4.6, p); // nibble - 8: spread 4.6
        break;
      case 'q5_0':
        scale(std / 9.23, p); // 5-bit code - 16: spread 9.23
        break;
      case 'q4_k':
        // d*sc*q - dmin*m with sc, m, q uniform: dmin = 7.5 d centres q's mean.
        scale(std / 145, p);
        scale((7.5 * std) / 145, p + 2);
        break;
      case 'q5_k':
        scale(std / 290, p);
        scale((15.5 * std) / 290, p + 2);
        break;
      case 'q6_k':
        scale(std / (74 * 18.5), p + 208); // int8 scales (spread 74) times codes - 32 (spread 18.5)
        break;
      case 'mxfp4':
        bytes[p] = 128 + Math.round(Math.log2(std / 5.4)); // doubled FP4 values: spread about 5.4
        break;
      default:
        break;
    }
  }
}

function fillTensor(t: SyntheticTensor, stream: ByteStream, index: number): Uint8Array {
  const bytes = storageBytes(t.dtype, t.shape);
  const buffer = new ArrayBuffer(Math.ceil(bytes / 4) * 4);
  const out = new Uint8Array(buffer, 0, bytes);
  stream.fill(new Uint8Array(buffer), index);
  if (isBlockFormat(t.dtype)) {
    // Random codes; the scales are set so values have the spread of N(0, 1/fan_in).
    fillBlocks(t.dtype, out, 1 / Math.sqrt(t.fanIn));
    return out;
  }
  // Element types: uniform values from the random words (norms near 1).
  const n = t.shape.reduce((a, b) => a * b, 1);
  const words = new Uint32Array(buffer);
  const amp = t.fill === 'norm' ? 0.1 : t.fill === 'bias' ? 0.05 : Math.sqrt(3 / t.fanIn);
  const offset = t.fill === 'norm' ? 1 : 0;
  const value = (i: number): number => offset + amp * (words[i] / 2 ** 31 - 1);
  if (t.dtype === 'float32') {
    const v = new Float32Array(buffer);
    for (let i = 0; i < n; i++) v[i] = value(i);
  } else {
    // Half types: each random 16-bit word becomes one value (16 bits of resolution is plenty).
    const v = new Uint16Array(buffer);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < n; i++) {
      f[0] = offset + amp * (v[i] / 32768 - 1);
      v[i] = t.dtype === 'float16' ? float32ToFloat16(f[0]) : u[0] >>> 16;
    }
  }
  return out;
}

/** What a synthetic write produced. */
export interface SyntheticReport {
  readonly path: string;
  readonly bytes: number;
  readonly parameters: number;
  /** Tensor count per storage format. */
  readonly formats: Readonly<Record<string, number>>;
  readonly ms: number;
}

/** Writes one synthetic checkpoint to `path`, one tensor at a time (`seed` fixes every byte). */
export async function writeSyntheticGguf(path: string, model: SyntheticModel, seed = 1, onTensor?: (i: number, of: number) => void): Promise<SyntheticReport> {
  const t0 = performance.now();
  const c = model.config;
  const meta = modelMetadata(c, `synthetic ${model.description}`);
  for (const [k, v] of vocabularyMetadata(syntheticVocabulary(c.vocabSize, model.pre))) meta.set(k, v);
  const tensors = tensorsOf(c, model.fileType);
  const stream = new ByteStream(seed);
  await writeGgufStream(
    path,
    meta,
    tensors,
    (_, i) => {
      onTensor?.(i + 1, tensors.length);
      return fillTensor(tensors[i], stream, i);
    },
    { sparse: model.shapeOnly },
  );
  const formats: Record<string, number> = {};
  for (const t of tensors) formats[t.dtype] = (formats[t.dtype] ?? 0) + 1;
  const bytes = tensors.reduce((s, t) => s + storageBytes(t.dtype, t.shape), 0);
  const parameters = tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  return { path, bytes, parameters, formats, ms: performance.now() - t0 };
}
