/** The routers that ship with core, and the helpers routing rules share. */
export { softmaxRow, topKIndices } from './select.js';
export { AssignmentList } from './assignments.js';
export { checkGroupLayout, maskToTopGroups, groupScratch, type GroupLayout, type GroupScoring, type GroupScratch } from './group-limit.js';
export { createTopKSoftmaxRouter, TOPK_SOFTMAX_OPTIONS } from './topk-softmax.js';
export { createSwitchRouter, SWITCH_OPTIONS } from './switch.js';
export { createTopKCapacityRouter, topKCapacity, TOPK_CAPACITY_OPTIONS } from './topk-capacity.js';
export { createNoisyTopKRouter, NOISY_TOPK_OPTIONS, softplus } from './noisy-topk.js';
export { createExpertChoiceRouter, expertChoiceCapacity, EXPERT_CHOICE_OPTIONS } from './expert-choice.js';
export { createHashRouter, fmix32, hashExperts, tokenHash, HASH_OPTIONS } from './hash.js';
export { createSigmoidGroupTopKRouter, SIGMOID_GROUP_TOPK_OPTIONS } from './sigmoid-group-topk.js';
export { createSoftmaxGroupTopKRouter, SOFTMAX_GROUP_TOPK_OPTIONS } from './softmax-group-topk.js';
export { registerBuiltinRouters } from './builtin-routers.js';
