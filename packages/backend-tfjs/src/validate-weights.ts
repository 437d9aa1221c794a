/** Shape checks of what a caller hands to prepareLinear / prepareExperts (ShapeError / ConfigError naming the tensor). */
import { ConfigError, EXPERT_KINDS, HostTensor, ShapeError, type ExpertGroup, type LinearWeights } from '@moe-runtime/core';

function positiveInt(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(v)}`);
}

function isTensor(t: unknown): t is HostTensor {
  return t instanceof HostTensor;
}

/** Checks a linear layer's weight `[out, in]` and optional bias `[out]`. */
export function validateLinear(w: LinearWeights): void {
  if (!w || !isTensor(w.weight) || w.weight.shape.length !== 2) {
    throw new ShapeError(`linear.weight: expected a 2-D HostTensor [out, in], got ${w && isTensor(w.weight) ? `shape [${w.weight.shape}]` : typeof w?.weight}`);
  }
  const [out, inp] = w.weight.shape;
  if (out < 1 || inp < 1) throw new ShapeError(`linear.weight has shape [${out}, ${inp}]; expected positive dimensions [out, in]`);
  if (w.bias !== undefined) {
    if (!isTensor(w.bias)) throw new ShapeError('linear.bias: expected a HostTensor [out]');
    w.bias.assertShape('linear.bias', [w.weight.shape[0]]);
  }
}

/** Checks the group's kind, sizes, and every expert's tensors (shapes only: no data is read). */
export function validateExpertGroup(g: ExpertGroup): void {
  if (!g || typeof g !== 'object') throw new ConfigError('experts', 'expected an ExpertGroup { kind, hiddenSize, ffnSize, experts }');
  if (!EXPERT_KINDS.includes(g.kind)) throw new ConfigError('experts.kind', `expected one of ${EXPERT_KINDS.join(', ')}, got ${JSON.stringify(g.kind)}`);
  positiveInt('experts.hiddenSize', g.hiddenSize);
  positiveInt('experts.ffnSize', g.ffnSize);
  if (!Array.isArray(g.experts) || g.experts.length === 0) throw new ConfigError('experts.experts', 'expected a non-empty array of expert weights');
  const { hiddenSize: d, ffnSize: f } = g;
  g.experts.forEach((e, j) => {
    const at = `experts[${j}]`;
    if (!e || !isTensor(e.up) || !isTensor(e.down)) throw new ShapeError(`${at}: expected HostTensors up [${f}, ${d}] and down [${d}, ${f}]`);
    if (g.kind === 'swiglu') {
      if (!isTensor(e.gate)) throw new ShapeError(`${at}.gate is missing; SwiGLU experts need gate [${f}, ${d}]`);
      e.gate.assertShape(`${at}.gate`, [f, d]);
    } else if (e.gate || e.gateBias) {
      throw new ShapeError(`${at}.gate is present but ${g.kind} experts have no gate projection`);
    }
    e.up.assertShape(`${at}.up`, [f, d]);
    e.down.assertShape(`${at}.down`, [d, f]);
    e.gateBias?.assertShape(`${at}.gateBias`, [f]);
    e.upBias?.assertShape(`${at}.upBias`, [f]);
    e.downBias?.assertShape(`${at}.downBias`, [d]);
  });
}
