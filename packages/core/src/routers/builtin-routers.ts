/** Registers the routers that ship with core. */
import { registerRouter } from '../router-registry.js';
import { createSwitchRouter, SWITCH_OPTIONS } from './switch.js';
import { createTopKSoftmaxRouter, TOPK_SOFTMAX_OPTIONS } from './topk-softmax.js';

/** Registers (or re-registers) every built-in router. Called once when core is imported. */
export function registerBuiltinRouters(): void {
  registerRouter('topk-softmax', createTopKSoftmaxRouter, {
    description: 'softmax, top-k, optional renormalisation (Mixtral; Qwen-MoE norm_topk_prob)',
    options: TOPK_SOFTMAX_OPTIONS,
  });
  registerRouter('switch', createSwitchRouter, {
    description: 'top-1 with capacity factor and token dropping (Switch Transformer, Fedus et al. 2021)',
    options: SWITCH_OPTIONS,
  });
}
