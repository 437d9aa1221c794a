/** Validation (core's, shared by every backend) of the weights handed to `prepareLinear` / `prepareExperts`, and their float32 decoding where an engine needs it. */
import { expertWeightsFloat32, validateExpertGroup, validateLinearWeights, type ExpertGroup, type LinearWeights } from '@moe-runtime/core';
import type { ExpertGroupData, LinearData } from './engine.js';

/** Validates a linear layer's weights (the weight stays in its format, the bias becomes float32). */
export function linearData(weights: LinearWeights): LinearData {
  validateLinearWeights(weights);
  const [outFeatures, inFeatures] = weights.weight.shape;
  return { inFeatures, outFeatures, weight: weights.weight, bias: weights.bias?.toFloat32() };
}

/** Validates an expert group (kind, sizes, every tensor's shape); experts decode on demand. */
export function expertGroupData(group: ExpertGroup): ExpertGroupData {
  validateExpertGroup(group);
  const experts = [...group.experts];
  return {
    kind: group.kind,
    hiddenSize: group.hiddenSize,
    ffnSize: group.ffnSize,
    numExperts: experts.length,
    expert: (j) => expertWeightsFloat32(experts[j]),
    stored: (j) => experts[j],
  };
}
