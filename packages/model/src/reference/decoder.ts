/**
 * The float64 reference decoder: the whole model over a full sequence (no cache), in plain
 * loops written from the Hugging Face modelling code, the oracle the backends' logits are
 * checked against. It shares no code with the production decoder (its attention, rotary,
 * norms and MoE are in this folder); from core it takes only the exact weight decoding and
 * the config and weight types.
 *
 * The block follows `MixtralDecoderLayer.forward` (modeling_mixtral), `Qwen2MoeDecoderLayer`
 * (modeling_qwen2_moe), `Qwen3MoeDecoderLayer` (modeling_qwen3_moe), `OlmoeDecoderLayer`
 * (modeling_olmoe) and `GptOssDecoderLayer` (modeling_gpt_oss), which all read:
 * `h += self_attn(input_layernorm(h))`, `h += mlp(post_attention_layernorm(h))`.
 * `GraniteMoeDecoderLayer` (modeling_granitemoe) adds each branch times `residual_multiplier`:
 * `h = h + branch * residual_multiplier`. `DeepseekV2DecoderLayer` (modeling_deepseek) reads the
 * same with its latent attention (`latent-attention.ts`) and its dense or MoE `mlp`
 * (`deepseek-moe.ts`).
 */
import { ConfigError, plannedExperts, ShapeError, type RoutingPlan } from '@moe-runtime/core';
import type { ModelConfig } from '../model-config.js';
import type { AttentionWeights, DecoderLayerWeights, ModelWeights } from '../model-weights.js';
import { causalAttention64 } from './attention.js';
import { rmsNorm64 } from './rms-norm.js';
import { applyRotaryPosEmb, rotaryTables } from './rotary.js';
import { deepseekDenseMlp, deepseekMoe } from './deepseek-moe.js';
import { latentSelfAttention } from './latent-attention.js';
import { sparseMoeBlock, type ReferenceMoEResult, type ReferenceRouting } from './sparse-moe.js';
import { linear64, valuesOf } from './weight-values.js';

export type { ReferenceRouting } from './sparse-moe.js';

/** Reference results over a whole sequence. */
export interface ReferenceModelResult {
  /** `[n, V]` float64 logits of every position. */
  readonly logits: Float64Array;
  /** `plans[layer]`: the routing of every position in that layer. */
  readonly plans: readonly ReferenceRouting[];
}

/**
 * The attention block: `MixtralAttention.forward` (no q/k norm), `Qwen2MoeAttention.forward`
 * (q/k/v biases), `Qwen3MoeAttention.forward` (`q_norm`/`k_norm` over each head's head_dim,
 * before rotary) and `OlmoeAttention.forward` (`q_norm`/`k_norm` over the whole q and k
 * projections, before rotary) and `GptOssAttention.forward` (biases on q/k/v/o, sinks, the
 * layer's sliding window from `layer_types`; YaRN cos/sin from its rotary embedding).
 */
function selfAttention(c: ModelConfig, a: AttentionWeights, x: Float64Array, n: number, tables: ReturnType<typeof rotaryTables>, layer: number): Float64Array {
  if (c.latentAttention) return latentSelfAttention(c, a, x, n);
  if (!a.k || !a.v) throw new ShapeError(`${c.modelType} attention: the k_proj and v_proj weights are missing`);
  let q = linear64(x, n, a.q, a.qBias);
  let k = linear64(x, n, a.k, a.kBias);
  const v = linear64(x, n, a.v, a.vBias);
  if (c.qkNorm !== 'none') {
    if (!a.qNorm || !a.kNorm) throw new ShapeError(`${c.modelType} normalises q and k: q_norm and k_norm weights are missing`);
    const perHead = c.qkNorm === 'per-head';
    q = rmsNorm64(q, valuesOf(a.qNorm), perHead ? c.headDim : c.numHeads * c.headDim, c.rmsNormEps);
    k = rmsNorm64(k, valuesOf(a.kNorm), perHead ? c.headDim : c.numKvHeads * c.headDim, c.rmsNormEps);
  }
  q = applyRotaryPosEmb(q, n, c.numHeads, c.headDim, tables);
  k = applyRotaryPosEmb(k, n, c.numKvHeads, c.headDim, tables);
  if (c.attentionSinks && !a.sinks) throw new ShapeError(`${c.modelType} attention has sinks: the sinks weights are missing`);
  const window = c.layerWindows?.[layer] ?? undefined;
  const attn = causalAttention64(q, k, v, n, c, c.multipliers?.attentionScale, { window, sinks: c.attentionSinks && a.sinks ? valuesOf(a.sinks) : undefined });
  return linear64(attn, n, a.o, c.oBias ? a.oBias : undefined);
}

/** The layer's `mlp`: DeepSeek-V2's dense or MoE block, or the sparse MoE block of the others. */
function feedForward(c: ModelConfig, lw: DecoderLayerWeights, x: Float64Array, n: number, layer: number): ReferenceMoEResult {
  if (c.modelType === 'deepseek_v2') return layer < (c.leadingDense?.count ?? 0) ? deepseekDenseMlp(lw.moe, x, n) : deepseekMoe(c.moe, lw.moe, x, n);
  // GraniteMoeTopKGating and GptOssTopKRouter take the top-k logits first, then softmax them.
  const order = c.modelType === 'granitemoe' || c.modelType === 'gpt_oss' ? 'topk-then-softmax' : 'softmax-then-topk';
  return sparseMoeBlock(c.moe, lw.moe, x, n, order);
}

/** One decoder layer in place on the residual stream `h` `[n, D]`; returns its routing. */
function decoderLayer(c: ModelConfig, lw: DecoderLayerWeights, h: Float64Array, n: number, tables: ReturnType<typeof rotaryTables>, layer: number): ReferenceRouting {
  const d = c.hiddenSize;
  const residualMultiplier = c.multipliers?.residual ?? 1;
  const attn = selfAttention(c, lw.attention, rmsNorm64(h, valuesOf(lw.inputNorm), d, c.rmsNormEps), n, tables, layer);
  for (let i = 0; i < h.length; i++) h[i] = h[i] + attn[i] * residualMultiplier;
  const moe = feedForward(c, lw, rmsNorm64(h, valuesOf(lw.postAttentionNorm), d, c.rmsNormEps), n, layer);
  for (let i = 0; i < h.length; i++) h[i] = h[i] + moe.output[i] * residualMultiplier;
  return moe.routing;
}

/**
 * `embed_tokens(input_ids)`: the rows of the embedding table, each id checked; times
 * `embedding_multiplier` in `GraniteMoeModel.forward`.
 */
function embedTokens(c: ModelConfig, weights: ModelWeights, tokens: ArrayLike<number>): Float64Array {
  const d = c.hiddenSize;
  const table = valuesOf(weights.embed);
  const h = new Float64Array(tokens.length * d);
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i];
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new ShapeError(`token id ${id} at position ${i} is outside the vocabulary [0, ${c.vocabSize})`);
    h.set(table.subarray(id * d, (id + 1) * d), i * d);
  }
  const embeddingMultiplier = c.multipliers?.embedding ?? 1;
  for (let i = 0; i < h.length; i++) h[i] *= embeddingMultiplier;
  return h;
}

/**
 * Logits of every position of `tokens`, in float64: `MixtralForCausalLM.forward` (and its
 * Qwen2-MoE, Qwen3-MoE and OLMoE twins): embeddings, the decoder layers, `norm`, `lm_head`
 * (the embedding table itself when `tie_word_embeddings`); `GraniteMoeForCausalLM.forward`
 * then divides the logits by `logits_scaling`.
 */
export function referenceModelLogits(config: ModelConfig, weights: ModelWeights, tokens: ArrayLike<number>): ReferenceModelResult {
  const c = config;
  const n = tokens.length;
  if (n === 0) throw new ShapeError('the reference decoder needs at least one token');
  if (weights.layers.length !== c.numLayers) throw new ConfigError('num_hidden_layers', `expected ${weights.layers.length} (the layers of the weights), got ${c.numLayers}`);
  const h = embedTokens(c, weights, tokens);
  const tables = rotaryTables(n, c.headDim, c.ropeTheta, c.ropeScaling);
  const plans = weights.layers.map((lw, l) => decoderLayer(c, lw, h, n, tables, l));
  const normed = rmsNorm64(h, valuesOf(weights.finalNorm), c.hiddenSize, c.rmsNormEps);
  const head = c.tieWordEmbeddings ? weights.embed : weights.lmHead;
  const logits = linear64(normed, n, head);
  const logitsScaling = c.multipliers?.logitsScaling ?? 1;
  for (let i = 0; i < logits.length; i++) logits[i] = logits[i] / logitsScaling;
  return { logits, plans };
}

function isReferenceRouting(r: RoutingPlan | ReferenceRouting): r is ReferenceRouting {
  return 'experts' in r;
}

/**
 * Chosen experts of every position in every layer, `[layer][position] -> experts ascending`,
 * from the reference's routing or from the routing plans the production decoder returns.
 */
export function chosenExperts(plans: readonly (RoutingPlan | ReferenceRouting)[]): number[][][] {
  return plans.map((plan) =>
    Array.from({ length: plan.numTokens }, (_, t) => (isReferenceRouting(plan) ? Array.from(plan.experts[t]).sort((a, b) => a - b) : plannedExperts(plan, t))),
  );
}
