/**
 * Exports a Mixtral-type model (weights + tokenizer) as a llama.cpp GGUF file, so llama.cpp can
 * evaluate exactly the same weights. Two layout facts matter:
 * - llama.cpp's rotary embedding pairs adjacent dimensions (2i, 2i+1) where Hugging Face's
 *   "rotate half" pairs (i, i + hd/2): q and k rows are permuted per head to match;
 * - experts are stacked into one tensor per projection (`ffn_gate_exps` is `[E, F, D]`).
 */
import { ConfigError, HostTensor } from '@moe-runtime/core';
import type { ModelConfig } from '../model-config.js';
import { stackTensors } from '../tensor-concat.js';
import type { ModelWeights } from '../model-weights.js';
import { writeGguf, type GgufTensor, type GgufValue } from './gguf-writer.js';

/** Permutes the rows of a `[heads * hd, in]` projection from rotate-half to interleaved pairs. */
export function permuteRotaryRows(w: HostTensor, heads: number): HostTensor {
  const [rows, cols] = w.shape;
  const hd = rows / heads;
  const half = hd / 2;
  const src = w.data;
  const out = src instanceof Float32Array ? new Float32Array(src.length) : new Uint16Array(src.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let t = 0; t < 2; t++) {
        const from = (h * hd + t * half + j) * cols;
        const to = (h * hd + 2 * j + t) * cols;
        out.set(src.subarray(from, from + cols), to);
      }
    }
  }
  return out instanceof Float32Array ? HostTensor.float32(w.shape, out) : new HostTensor(w.dtype as 'float16' | 'bfloat16', w.shape, out);
}

/** The tokenizer facts GGUF needs, read from `tokenizer.json`. */
export interface GgufTokenizer {
  readonly tokens: readonly string[];
  readonly specialIds: ReadonlySet<number>;
  readonly merges: readonly string[];
  readonly bosId: number;
  readonly eosId: number;
}

/** Extracts a byte-level BPE tokenizer's vocabulary and merges from parsed `tokenizer.json`. */
export function ggufTokenizerFromJson(json: Record<string, unknown>, bosId: number, eosId: number): GgufTokenizer {
  const model = json.model as { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] } | undefined;
  if (!model || model.type !== 'BPE' || !model.vocab) throw new ConfigError('tokenizer.json: model', 'GGUF export supports byte-level BPE tokenizers only');
  const tokens: string[] = [];
  for (const [tok, id] of Object.entries(model.vocab)) tokens[id] = tok;
  const specialIds = new Set<number>();
  for (const t of (json.added_tokens as { id: number; content: string; special?: boolean }[] | undefined) ?? []) {
    tokens[t.id] = t.content;
    if (t.special) specialIds.add(t.id);
  }
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) throw new ConfigError('tokenizer.json', `token id ${i} has no entry`);
  const merges = (model.merges ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  return { tokens, specialIds, merges, bosId, eosId };
}

/** Writes `config`/`weights` (model_type mixtral) and the tokenizer as a GGUF file for llama.cpp. */
export async function writeLlamaGguf(path: string, config: ModelConfig, weights: ModelWeights, tokenizer: GgufTokenizer): Promise<void> {
  if (config.modelType !== 'mixtral') throw new ConfigError('model_type', `GGUF export is implemented for mixtral, got ${config.modelType}`);
  if (tokenizer.tokens.length !== config.vocabSize) {
    throw new ConfigError('tokenizer.json', `has ${tokenizer.tokens.length} tokens, config.json vocab_size is ${config.vocabSize}`);
  }
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  const f32 = (value: number): GgufValue => ({ type: 'f32', value });
  const meta = new Map<string, GgufValue>([
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: 'moe-runtime export' }],
    ['general.alignment', u32(32)],
    ['llama.context_length', u32(config.maxPositions)],
    ['llama.embedding_length', u32(config.hiddenSize)],
    ['llama.block_count', u32(config.numLayers)],
    ['llama.feed_forward_length', u32(config.moe.expert.ffnSize)],
    ['llama.attention.head_count', u32(config.numHeads)],
    ['llama.attention.head_count_kv', u32(config.numKvHeads)],
    ['llama.attention.key_length', u32(config.headDim)],
    ['llama.attention.value_length', u32(config.headDim)],
    ['llama.rope.dimension_count', u32(config.headDim)],
    ['llama.rope.freq_base', f32(config.ropeTheta)],
    ['llama.attention.layer_norm_rms_epsilon', f32(config.rmsNormEps)],
    ['llama.expert_count', u32(config.moe.numExperts)],
    ['llama.expert_used_count', u32(config.moe.topK)],
    ['llama.vocab_size', u32(config.vocabSize)],
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: 'default' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: tokenizer.tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: tokenizer.tokens.map((_, i) => (tokenizer.specialIds.has(i) ? 3 : 1)) }],
    ['tokenizer.ggml.merges', { type: 'string[]', value: tokenizer.merges }],
    ['tokenizer.ggml.bos_token_id', u32(tokenizer.bosId)],
    ['tokenizer.ggml.eos_token_id', u32(tokenizer.eosId)],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
  ]);
  const tensors: GgufTensor[] = [{ name: 'token_embd.weight', tensor: weights.embed }];
  weights.layers.forEach((l, i) => {
    const b = `blk.${i}.`;
    const a = l.attention;
    tensors.push(
      { name: `${b}attn_norm.weight`, tensor: l.inputNorm.to('float32') },
      { name: `${b}attn_q.weight`, tensor: permuteRotaryRows(a.q, config.numHeads) },
      { name: `${b}attn_k.weight`, tensor: permuteRotaryRows(a.k, config.numKvHeads) },
      { name: `${b}attn_v.weight`, tensor: a.v },
      { name: `${b}attn_output.weight`, tensor: a.o },
      { name: `${b}ffn_norm.weight`, tensor: l.postAttentionNorm.to('float32') },
      { name: `${b}ffn_gate_inp.weight`, tensor: l.moe.router.to('float32') },
      { name: `${b}ffn_gate_exps.weight`, tensor: stackTensors(l.moe.experts.map((e) => e.gate!)) },
      { name: `${b}ffn_up_exps.weight`, tensor: stackTensors(l.moe.experts.map((e) => e.up)) },
      { name: `${b}ffn_down_exps.weight`, tensor: stackTensors(l.moe.experts.map((e) => e.down)) },
    );
  });
  tensors.push({ name: 'output_norm.weight', tensor: weights.finalNorm.to('float32') }, { name: 'output.weight', tensor: weights.lmHead });
  await writeGguf(path, meta, tensors);
}
