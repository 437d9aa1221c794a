/** Validation (core's, shared by every backend) and float32 decoding of the weights handed to `prepareLinear` / `prepareExperts`. */
import { validateExpertGroup, validateLinearWeights, type ExpertGroup, type ExpertWeights, type LinearWeights } from '@moe-runtime/core';
import type { ExpertData, ExpertGroupData, LinearData } from './engine.js';

/** Validates a linear layer's weights and decodes them to float32. */
export function linearData(weights: LinearWeights): LinearData {
  validateLinearWeights(weights);
  const [outFeatures, inFeatures] = weights.weight.shape;
  return { inFeatures, outFeatures, weight: weights.weight.toFloat32(), bias: weights.bias?.toFloat32() };
}

function expertData(e: ExpertWeights): ExpertData {
  return {
    gate: e.gate?.toFloat32(),
    up: e.up.toFloat32(),
    down: e.down.toFloat32(),
    gateBias: e.gateBias?.toFloat32(),
    upBias: e.upBias?.toFloat32(),
    downBias: e.downBias?.toFloat32(),
  };
}

/** Validates an expert group (kind, sizes, every tensor's shape); experts decode on demand. */
export function expertGroupData(group: ExpertGroup): ExpertGroupData {
  validateExpertGroup(group);
  const experts = [...group.experts];
  return { kind: group.kind, hiddenSize: group.hiddenSize, ffnSize: group.ffnSize, numExperts: experts.length, expert: (j) => expertData(experts[j]) };
}
