/**
 * DeepSeek-V2's feed-forward in the reference decoder: `DeepseekV2MLP` for the first
 * `first_k_dense_replace` layers, `DeepseekV2MoE.forward` (with `MoEGate.forward`) for the rest:
 *
 *     scores = softmax(linear(x, gate.weight))              (scoring_func "softmax")
 *     greedy:               topk(scores, k)
 *     group_limited_greedy: group_scores = scores.view(n, n_group, -1).max(-1)
 *                           keep topk(group_scores, topk_group); others' scores -> 0; topk
 *     top_k > 1 and norm_topk_prob: weights / (sum + 1e-20); else weights * routed_scaling_factor
 *     y = sum_k weight_k expert_k(x) + shared_experts(x)
 *
 * The normalise/scale choice arrives already resolved in the parsed router options (the
 * factor is 1 when normalising). Ties go to the lower expert id.
 */
import { ConfigError, type ExpertWeights, type MoELayerConfig, type MoEWeights } from '@moe-runtime/core';
import { softmax } from './attention.js';
import { expertByExpert, type ReferenceMoEResult, type ReferenceRouting } from './sparse-moe.js';
import { linear64 } from './weight-values.js';

const silu = (v: number): number => v / (1 + Math.exp(-v));

/** `DeepseekV2MLP.forward`: `down_proj(silu(gate_proj(x)) * up_proj(x))` over `n` rows. */
export function deepseekMlp(e: ExpertWeights, x: Float64Array, n: number): Float64Array {
  if (!e.gate) throw new ConfigError('moe.expert.kind', 'DeepseekV2MLP needs gate_proj');
  const gate = linear64(x, n, e.gate);
  const up = linear64(x, n, e.up);
  return linear64(gate.map((g, i) => silu(g) * up[i]), n, e.down);
}

/** `torch.topk` of one row (ties: lower index first). */
function topk(row: Float64Array, k: number): number[] {
  return Array.from(row, (_, i) => i)
    .sort((a, b) => row[b] - row[a] || a - b)
    .slice(0, k);
}

interface GateOptions {
  readonly nGroup: number;
  readonly topkGroup: number;
  readonly normTopkProb: boolean;
  readonly routedScalingFactor: number;
}

/** `MoEGate.forward` over `n` rows. */
function gate(config: MoELayerConfig, w: MoEWeights, x: Float64Array, n: number): ReferenceRouting {
  if (config.router.name !== 'softmax-group-topk') throw new ConfigError('moe.router.name', `DeepSeek-V2's gate is "softmax-group-topk", got ${JSON.stringify(config.router.name)}`);
  const o = config.router.options as unknown as GateOptions;
  const e = config.numExperts;
  const logits = linear64(x, n, w.router);
  const experts: Int32Array[] = [];
  const weights: Float64Array[] = [];
  for (let t = 0; t < n; t++) {
    const scores = softmax(logits.slice(t * e, (t + 1) * e));
    const masked = scores.slice();
    if (o.nGroup > 1) {
      const size = e / o.nGroup;
      const groupScores = Float64Array.from({ length: o.nGroup }, (_, g) => Math.max(...scores.subarray(g * size, (g + 1) * size)));
      const kept = new Set(topk(groupScores, o.topkGroup));
      for (let j = 0; j < e; j++) if (!kept.has(Math.floor(j / size))) masked[j] = 0;
    }
    const chosen = topk(masked, config.topK);
    const wt = Float64Array.from(chosen, (j) => masked[j]);
    if (o.normTopkProb) {
      const sum = wt.reduce((a, b) => a + b, 0) + 1e-20;
      for (let s = 0; s < wt.length; s++) wt[s] /= sum;
    } else for (let s = 0; s < wt.length; s++) wt[s] *= o.routedScalingFactor;
    experts.push(Int32Array.from(chosen));
    weights.push(wt);
  }
  return { numTokens: n, experts, weights };
}

/** `DeepseekV2MoE.forward` over `n` rows `x` `[n, D]`. */
export function deepseekMoe(config: MoELayerConfig, w: MoEWeights, x: Float64Array, n: number): ReferenceMoEResult {
  const d = config.hiddenSize;
  const routing = gate(config, w, x, n);
  // moe_infer: expert by expert over the tokens routed to it.
  const output = expertByExpert(routing, x, d, config.numExperts, (ex, picked, rows) => deepseekMlp(w.experts[ex], picked, rows));
  // `y = y + self.shared_experts(identity)`: the n_shared_experts as one MLP, ungated.
  for (const s of w.shared ?? []) {
    const y = deepseekMlp(s, x, n);
    for (let i = 0; i < output.length; i++) output[i] += y[i];
  }
  return { output, routing };
}

/** A dense layer's `DeepseekV2MLP`, reported as the one-expert routing the decoder gives it (expert 0, weight 1). */
export function deepseekDenseMlp(w: MoEWeights, x: Float64Array, n: number): ReferenceMoEResult {
  return {
    output: deepseekMlp(w.experts[0], x, n),
    routing: { numTokens: n, experts: Array.from({ length: n }, () => Int32Array.of(0)), weights: Array.from({ length: n }, () => Float64Array.of(1)) },
  };
}
