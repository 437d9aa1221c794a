/** Registers the routers that ship with core. */
import { registerRouter } from '../router-registry.js';
import { createExpertChoiceRouter, EXPERT_CHOICE_OPTIONS } from './expert-choice.js';
import { createHashRouter, HASH_OPTIONS } from './hash.js';
import { createNoisyTopKRouter, NOISY_TOPK_OPTIONS } from './noisy-topk.js';
import { createSigmoidGroupTopKRouter, SIGMOID_GROUP_TOPK_OPTIONS } from './sigmoid-group-topk.js';
import { createSoftmaxGroupTopKRouter, SOFTMAX_GROUP_TOPK_OPTIONS } from './softmax-group-topk.js';
import { createSwitchRouter, SWITCH_OPTIONS } from './switch.js';
import { createTopKCapacityRouter, TOPK_CAPACITY_OPTIONS } from './topk-capacity.js';
import { createTopKSoftmaxRouter, TOPK_SOFTMAX_OPTIONS } from './topk-softmax.js';

/** Capacity grows with the batch's T and drops go in batch order; without drops a token routes alone. */
function enforcesCapacity(options: Readonly<Record<string, unknown>>): boolean {
  return options.dropTokens !== false;
}

/** Registers (or re-registers) every built-in router. Called once when core is imported. */
export function registerBuiltinRouters(): void {
  registerRouter('topk-softmax', createTopKSoftmaxRouter, {
    description: 'softmax, top-k, optional renormalisation (Mixtral; Qwen-MoE norm_topk_prob)',
    options: TOPK_SOFTMAX_OPTIONS,
  });
  registerRouter('switch', createSwitchRouter, {
    description: 'top-1 with capacity factor and token dropping (Switch Transformer, Fedus et al. 2021)',
    options: SWITCH_OPTIONS,
    batchDependent: enforcesCapacity,
  });
  registerRouter('topk-capacity', createTopKCapacityRouter, {
    description: 'softmax top-k with capacity max(minCapacity, ceil(T/E * cf * k)), first choices kept before second (GShard, Lepikhin et al. 2020; DeepSpeed-MoE)',
    options: TOPK_CAPACITY_OPTIONS,
    batchDependent: enforcesCapacity,
  });
  registerRouter('noisy-topk', createNoisyTopKRouter, {
    description: 'top-k of l + N(0,1) * softplus(noise), softmax over the kept; noise only with train: true (Shazeer et al. 2017)',
    options: NOISY_TOPK_OPTIONS,
    // The noise stream is drawn per batch.
    batchDependent: (options) => options.train === true,
  });
  registerRouter('expert-choice', createExpertChoiceRouter, {
    description: 'each expert takes its top ceil(T * c / E) tokens by softmax score; depends on the whole batch (Zhou et al. 2022)',
    options: EXPERT_CHOICE_OPTIONS,
    batchDependent: true,
  });
  registerRouter('hash', createHashRouter, {
    description: 'expert = murmur3-fmix32(token id) mod E, weight 1; needs token ids (Hash Layers, Roller et al. 2021)',
    options: HASH_OPTIONS,
    needsTokenIds: true,
  });
  registerRouter('sigmoid-group-topk', createSigmoidGroupTopKRouter, {
    description: 'sigmoid scores, bias for choosing only, group-limited top-k, scaled weights (DeepSeek-V3)',
    options: SIGMOID_GROUP_TOPK_OPTIONS,
  });
  registerRouter('softmax-group-topk', createSoftmaxGroupTopKRouter, {
    description: 'softmax, groups scored by their max, group-limited top-k, scaled weights (DeepSeek-V2 group_limited_greedy)',
    options: SOFTMAX_GROUP_TOPK_OPTIONS,
  });
}
