/** Validation and float32 decoding of the weights handed to `prepareLinear` / `prepareExperts`. */
import {
  ConfigError,
  EXPERT_KINDS,
  HostTensor,
  ShapeError,
  type ExpertGroup,
  type ExpertWeights,
  type LinearWeights,
} from '@moe-runtime/core';
import type { ExpertData, ExpertGroupData, LinearData } from './engine.js';

function checkTensor(what: string, t: unknown): HostTensor {
  if (!(t instanceof HostTensor)) throw new ShapeError(`${what} must be a HostTensor, got ${(t as object)?.constructor?.name ?? typeof t}`);
  return t;
}

/** Validates a linear layer's weights (the weight stays in its format, the bias becomes float32). */
export function linearData(weights: LinearWeights): LinearData {
  const weight = checkTensor('weights.weight', weights?.weight);
  if (weight.shape.length !== 2) throw new ShapeError(`weights.weight has shape [${weight.shape.join(', ')}], expected [out, in]`);
  const [outFeatures, inFeatures] = weight.shape;
  if (outFeatures < 1 || inFeatures < 1) throw new ShapeError(`weights.weight has shape [${weight.shape.join(', ')}], expected positive dimensions`);
  let bias: Float32Array | undefined;
  if (weights.bias !== undefined) {
    checkTensor('weights.bias', weights.bias).assertShape('weights.bias', [outFeatures]);
    bias = weights.bias.toFloat32();
  }
  return { inFeatures, outFeatures, weight, bias };
}

function optional(what: string, t: HostTensor | undefined, shape: number[]): void {
  if (t !== undefined) checkTensor(what, t).assertShape(what, shape);
}

function checkExpert(where: string, e: ExpertWeights, kind: string, d: number, f: number): void {
  if (!e || typeof e !== 'object') throw new ShapeError(`${where}: expected { up, down${kind === 'swiglu' ? ', gate' : ''} } weights`);
  checkTensor(`${where}.up`, e.up).assertShape(`${where}.up`, [f, d]);
  checkTensor(`${where}.down`, e.down).assertShape(`${where}.down`, [d, f]);
  if (kind === 'swiglu') {
    checkTensor(`${where}.gate`, e.gate).assertShape(`${where}.gate`, [f, d]);
    optional(`${where}.gateBias`, e.gateBias, [f]);
  } else if (e.gate || e.gateBias) {
    throw new ShapeError(`${where}.gate is present but ${kind} experts have no gate projection`);
  }
  optional(`${where}.upBias`, e.upBias, [f]);
  optional(`${where}.downBias`, e.downBias, [d]);
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

function positive(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** Validates an expert group (kind, sizes, every tensor's shape); experts decode on demand. */
export function expertGroupData(group: ExpertGroup): ExpertGroupData {
  if (!group || typeof group !== 'object') throw new ConfigError('experts', 'expected { kind, hiddenSize, ffnSize, experts }');
  if (!EXPERT_KINDS.includes(group.kind)) {
    throw new ConfigError('experts.kind', `expected one of ${EXPERT_KINDS.join(', ')}, got ${JSON.stringify(group.kind)}`);
  }
  const d = positive('experts.hiddenSize', group.hiddenSize);
  const f = positive('experts.ffnSize', group.ffnSize);
  if (!Array.isArray(group.experts) || group.experts.length === 0) throw new ConfigError('experts.experts', 'expected a non-empty array of expert weights');
  group.experts.forEach((e, j) => checkExpert(`experts[${j}]`, e, group.kind, d, f));
  const experts = [...group.experts];
  return { kind: group.kind, hiddenSize: d, ffnSize: f, numExperts: experts.length, expert: (j) => expertData(experts[j]), stored: (j) => experts[j] };
}
