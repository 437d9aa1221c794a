/** The routers that ship with core, and the helpers routing rules share. */
export { softmaxRow, topKIndices } from './select.js';
export { createTopKSoftmaxRouter, TOPK_SOFTMAX_OPTIONS } from './topk-softmax.js';
export { createSwitchRouter, SWITCH_OPTIONS } from './switch.js';
export { registerBuiltinRouters } from './builtin-routers.js';
