/** Validation of what `prepareExperts` / `prepareLinear` receive, with typed errors. */
import { ConfigError, EXPERT_KINDS, HostTensor, ShapeError, type ExpertGroup, type LinearWeights } from '@moe-runtime/core';

function positiveInt(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(v)}`);
}

function tensor(what: string, t: unknown, shape: readonly number[]): void {
  if (!(t instanceof HostTensor)) throw new ShapeError(`${what} is missing; expected a HostTensor of shape [${shape.join(', ')}]`);
  t.assertShape(what, shape);
}

/** Checks an expert group's kind, sizes and every weight's shape. */
export function checkExpertGroup(group: ExpertGroup): void {
  if (!group || typeof group !== 'object') throw new ConfigError('experts', 'expected an ExpertGroup { kind, hiddenSize, ffnSize, experts }');
  if (!EXPERT_KINDS.includes(group.kind)) throw new ConfigError('experts.kind', `expected one of ${EXPERT_KINDS.join(', ')}, got ${JSON.stringify(group.kind)}`);
  positiveInt('experts.hiddenSize', group.hiddenSize);
  positiveInt('experts.ffnSize', group.ffnSize);
  if (!Array.isArray(group.experts) || group.experts.length === 0) throw new ConfigError('experts.experts', 'expected a non-empty array of expert weights');
  const { hiddenSize: d, ffnSize: f } = group;
  group.experts.forEach((e, i) => {
    const at = `experts[${i}]`;
    if (!e || typeof e !== 'object') throw new ShapeError(`${at}: expected { up, down${group.kind === 'swiglu' ? ', gate' : ''} } weights`);
    if (group.kind === 'swiglu') tensor(`${at}.gate`, e.gate, [f, d]);
    else if (e.gate) throw new ShapeError(`${at}.gate is present but ${group.kind} experts have no gate projection`);
    tensor(`${at}.up`, e.up, [f, d]);
    tensor(`${at}.down`, e.down, [d, f]);
    if (e.gateBias) {
      if (group.kind !== 'swiglu') throw new ShapeError(`${at}.gateBias is present but ${group.kind} experts have no gate projection`);
      tensor(`${at}.gateBias`, e.gateBias, [f]);
    }
    if (e.upBias) tensor(`${at}.upBias`, e.upBias, [f]);
    if (e.downBias) tensor(`${at}.downBias`, e.downBias, [d]);
  });
}

/** Checks a linear layer's weight `[out, in]` and optional bias `[out]`. */
export function checkLinearWeights(weights: LinearWeights): void {
  if (!weights || !(weights.weight instanceof HostTensor) || weights.weight.shape.length !== 2) {
    throw new ShapeError('linear weight is missing or not 2-D; expected a HostTensor [out, in]');
  }
  const [out, inF] = weights.weight.shape;
  if (out < 1 || inF < 1) throw new ShapeError(`linear weight has shape [${out}, ${inF}]; both dimensions must be positive`);
  if (weights.bias !== undefined) tensor('linear bias', weights.bias, [out]);
}
