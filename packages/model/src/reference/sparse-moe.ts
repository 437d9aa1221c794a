/**
 * The MoE feed-forward of the reference decoder, in float64: router, top-k, SwiGLU experts
 * and the shared expert. Follows `MixtralSparseMoeBlock.forward` (modeling_mixtral),
 * `Qwen2MoeSparseMoeBlock.forward` (modeling_qwen2_moe, with its sigmoid-gated shared
 * expert), `Qwen3MoeSparseMoeBlock.forward` (modeling_qwen3_moe),
 * `OlmoeSparseMoeBlock.forward` (modeling_olmoe), `GraniteMoeMoE.forward` (modeling_granitemoe,
 * whose router softmaxes over the top-k logits) and `GptOssMLP.forward` (modeling_gpt_oss:
 * `GptOssTopKRouter` with its bias, top-k then softmax; `GptOssExperts` with biases and the
 * clamped SwiGLU).
 */
import { ConfigError, ShapeError, type ExpertWeights, type MoELayerConfig, type MoEWeights } from '@moe-runtime/core';
import { softmax } from './attention.js';
import { linear64 } from './weight-values.js';

/** The routing of one layer: per position, the chosen experts (top-k order) and their weights. */
export interface ReferenceRouting {
  readonly numTokens: number;
  /** `experts[t]`: the k experts of position t, best first. */
  readonly experts: readonly Int32Array[];
  /** `weights[t][s]`: the combine weight of `experts[t][s]`. */
  readonly weights: readonly Float64Array[];
}

/**
 * `torch.topk(routing_weights, top_k)` of one row, best first; an equal probability goes to
 * the lower expert id (the runtime's documented tie rule).
 */
function topK(probs: Float64Array, k: number): Int32Array {
  const order = Array.from(probs, (_, e) => e).sort((a, b) => probs[b] - probs[a] || a - b);
  return Int32Array.from(order.slice(0, k));
}

/**
 * The order of a router's softmax and top-k: `softmax-then-topk` (Mixtral, Qwen-MoE, OLMoE:
 * `softmax(gate(x))`, then its top-k) or `topk-then-softmax` (`GraniteMoeTopKGating.forward`:
 * `logits.topk(k)`, then `softmax` over those k).
 */
export type RouterOrder = 'softmax-then-topk' | 'topk-then-softmax';

/**
 * `GraniteMoeTopKGating.forward` and `GptOssTopKRouter.forward` (whose `router_logits =
 * linear(x, weight, bias)`): the top-k logits (ties to the lower id), softmaxed over those k.
 */
function routeTopKThenSoftmax(config: MoELayerConfig, weights: MoEWeights, x: Float64Array, n: number): ReferenceRouting {
  const e = config.numExperts;
  const logits = linear64(x, n, weights.router, weights.routerBias);
  const experts: Int32Array[] = [];
  const combine: Float64Array[] = [];
  for (let t = 0; t < n; t++) {
    const row = logits.slice(t * e, (t + 1) * e);
    const chosen = topK(row, config.topK);
    experts.push(chosen);
    combine.push(softmax(Float64Array.from(chosen, (j) => row[j])));
  }
  return { numTokens: n, experts, weights: combine };
}

/**
 * The router of the softmax-first blocks: `softmax(gate(x))`, its top-k, divided by their sum
 * when the model renormalises (Mixtral always; Qwen2/3-MoE and OLMoE when `norm_topk_prob`).
 */
function route(config: MoELayerConfig, weights: MoEWeights, x: Float64Array, n: number, order: RouterOrder): ReferenceRouting {
  const { name, options } = config.router;
  if (name !== 'topk-softmax') throw new ConfigError('moe.router.name', `the reference decoder implements "topk-softmax", got ${JSON.stringify(name)}`);
  if (Object.keys(weights.routerParams ?? {}).length > 0) throw new ConfigError('moe.routerParams', 'the reference decoder implements routers without extra parameters');
  if (order === 'topk-then-softmax') return routeTopKThenSoftmax(config, weights, x, n);
  const normTopkProb = options?.renormalize ?? true;
  const e = config.numExperts;
  if (weights.routerBias) throw new ConfigError('moe.routerBias', 'a router bias is read by the top-k-then-softmax router (gpt-oss) only');
  const logits = linear64(x, n, weights.router);
  const experts: Int32Array[] = [];
  const combine: Float64Array[] = [];
  for (let t = 0; t < n; t++) {
    const probs = softmax(logits.slice(t * e, (t + 1) * e));
    const chosen = topK(probs, config.topK);
    const w = Float64Array.from(chosen, (j) => probs[j]);
    if (normTopkProb === true) {
      const sum = w.reduce((a, b) => a + b, 0);
      for (let s = 0; s < w.length; s++) w[s] /= sum;
    }
    experts.push(chosen);
    combine.push(w);
  }
  return { numTokens: n, experts, weights: combine };
}

const silu = (v: number): number => v / (1 + Math.exp(-v));

/**
 * `GptOssExperts.forward` on one expert's rows: `gate_up = x @ gate_up_proj + bias`, gate and
 * up its even and odd columns (here already split), `gate.clamp(max=limit)`,
 * `up.clamp(-limit, limit)`, `glu = gate * sigmoid(gate * alpha)`, `((up + 1) * glu) @ down_proj + bias`.
 */
function gptOssExpert(e: ExpertWeights, x: Float64Array, n: number): Float64Array {
  const limit = 7.0;
  const alpha = 1.702;
  const gate = linear64(x, n, e.gate!, e.gateBias).map((g) => Math.min(g, limit));
  const up = linear64(x, n, e.up, e.upBias).map((u) => Math.min(Math.max(u, -limit), limit));
  const gated = gate.map((g, i) => (up[i] + 1) * (g * (1 / (1 + Math.exp(-g * alpha)))));
  return linear64(gated, n, e.down, e.downBias);
}

/**
 * One SwiGLU MLP (`MixtralBlockSparseTop2MLP` / `Qwen2MoeMLP` / `Qwen3MoeMLP` / `OlmoeMLP`; in
 * `GraniteMoeMoE` the halves of `input_linear`'s output): `down(silu(gate(x)) * up(x))` over `n` rows.
 */
function swiglu(e: ExpertWeights, x: Float64Array, n: number): Float64Array {
  if (!e.gate) throw new ConfigError('moe.expert.kind', 'the reference decoder implements SwiGLU experts (gate, up, down)');
  const gate = linear64(x, n, e.gate, e.gateBias);
  const up = linear64(x, n, e.up, e.upBias);
  const inner = gate.map((g, i) => silu(g) * up[i]);
  return linear64(inner, n, e.down, e.downBias);
}

/** Result of one MoE feed-forward. */
export interface ReferenceMoEResult {
  /** `[n, D]` */
  readonly output: Float64Array;
  readonly routing: ReferenceRouting;
}

/** The whole sparse MoE block over `n` rows `x` `[n, D]`. */
/**
 * The Hugging Face loop over experts (`moe_infer` in modeling_deepseek, the expert loop of
 * modeling_mixtral): expert by expert, `run` over the rows routed to it, each output row added
 * to its token's with the routing weight. `x` holds the tokens' rows of `d` values.
 */
export function expertByExpert(routing: ReferenceRouting, x: Float64Array, d: number, numExperts: number, run: (expert: number, picked: Float64Array, rows: number) => Float64Array): Float64Array {
  const output = new Float64Array(routing.numTokens * d);
  for (let ex = 0; ex < numExperts; ex++) {
    const rows: { token: number; weight: number }[] = [];
    routing.experts.forEach((chosen, t) => chosen.forEach((j, s) => j === ex && rows.push({ token: t, weight: routing.weights[t][s] })));
    if (rows.length === 0) continue;
    const picked = new Float64Array(rows.length * d);
    rows.forEach((r, i) => picked.set(x.subarray(r.token * d, (r.token + 1) * d), i * d));
    const y = run(ex, picked, rows.length);
    rows.forEach((r, i) => {
      for (let c = 0; c < d; c++) output[r.token * d + c] += r.weight * y[i * d + c];
    });
  }
  return output;
}

export function sparseMoeBlock(config: MoELayerConfig, weights: MoEWeights, x: Float64Array, n: number, order: RouterOrder = 'softmax-then-topk'): ReferenceMoEResult {
  const kind = config.expert.kind;
  if (kind !== 'swiglu' && kind !== 'clamped-swiglu') throw new ConfigError('moe.expert.kind', `the reference decoder implements "swiglu" and "clamped-swiglu", got ${JSON.stringify(kind)}`);
  if (kind === 'clamped-swiglu' && !weights.experts.every((e) => e.gate)) throw new ConfigError('moe.expert.kind', 'clamped-swiglu experts need gate weights');
  const expert = kind === 'swiglu' ? swiglu : gptOssExpert;
  const d = config.hiddenSize;
  const routing = route(config, weights, x, n, order);
  const output = expertByExpert(routing, x, d, config.numExperts, (ex, picked, rows) => expert(weights.experts[ex], picked, rows));
  addSharedExperts(config, weights, x, n, output);
  return { output, routing };
}

/**
 * `Qwen2MoeSparseMoeBlock`'s shared expert: `sigmoid(shared_expert_gate(x)) * shared_expert(x)`
 * added to the routed output (ungated when the config has no gate).
 */
function addSharedExperts(config: MoELayerConfig, weights: MoEWeights, x: Float64Array, n: number, output: Float64Array): void {
  const shared = config.sharedExperts;
  if (!shared || shared.count === 0) return;
  const d = config.hiddenSize;
  const experts = weights.shared ?? [];
  if (experts.length !== shared.count) throw new ConfigError('moe.sharedExperts.count', `expected ${shared.count} shared experts in the weights, got ${experts.length}`);
  if (shared.gated && !weights.sharedGate) throw new ShapeError(`weights.sharedGate is missing; a gated shared expert needs [1, ${d}]`);
  const gate = shared.gated && weights.sharedGate ? linear64(x, n, weights.sharedGate) : undefined;
  for (const e of experts) {
    const y = swiglu(e, x, n);
    for (let t = 0; t < n; t++) {
      const g = gate ? 1 / (1 + Math.exp(-gate[t])) : 1;
      for (let c = 0; c < d; c++) output[t * d + c] += g * y[t * d + c];
    }
  }
}
