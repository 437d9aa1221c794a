/**
 * Granite-MoE's Hugging Face MoE tensors (`GraniteMoeMoE`): `block_sparse_moe.router.layer`
 * `[E, D]`, `block_sparse_moe.input_linear` `[E, 2F, D]` whose first F rows of expert j are
 * its gate and the next F its up projection (`chunk(2, dim=-1)`, gate first), and
 * `block_sparse_moe.output_linear` `[E, D, F]`, the down projections.
 */
import { HostTensor, type DType, type DTypeStorage, type ExpertWeights, type MoELayerConfig, type MoEWeights } from '@moe-runtime/core';
import { concatRows, stackTensors } from '../../tensor-concat.js';
import type { HfMoeLayout } from '../hf-moe-layout.js';

const ROUTER = 'block_sparse_moe.router.layer.weight';
const INPUT = 'block_sparse_moe.input_linear.weight';
const OUTPUT = 'block_sparse_moe.output_linear.weight';

/** Expert j's `[2F, D]` input rows as its gate and up projections (views, no copy). */
function splitGateUp(inputJ: HostTensor, f: number, d: number): { gate: HostTensor; up: HostTensor } {
  const pair = new HostTensor<DType>(inputJ.dtype, [2, f, d], inputJ.data as DTypeStorage[DType]);
  return { gate: pair.slice0(0), up: pair.slice0(1) };
}

/** The fused layout of Granite-MoE. */
export const GRANITE_MOE_LAYOUT: HfMoeLayout = {
  tensors: (moe) => {
    const { numExperts: e, hiddenSize: d } = moe;
    const f = moe.expert.ffnSize;
    return [
      { name: ROUTER, shape: [e, d], convertible: false },
      { name: INPUT, shape: [e, 2 * f, d], convertible: true },
      { name: OUTPUT, shape: [e, d, f], convertible: true },
    ];
  },
  read: async (src, prefix, moe): Promise<MoEWeights> => {
    const f = moe.expert.ffnSize;
    const d = moe.hiddenSize;
    const input = await src.read(prefix + INPUT);
    const output = await src.read(prefix + OUTPUT);
    const experts: ExpertWeights[] = [];
    for (let j = 0; j < moe.numExperts; j++) experts.push({ ...splitGateUp(input.slice0(j), f, d), down: output.slice0(j) });
    return { router: await src.read(prefix + ROUTER), experts };
  },
  write: (moe: MoELayerConfig, w: MoEWeights) =>
    new Map([
      [ROUTER, w.router],
      [INPUT, stackTensors(w.experts.map((x) => concatRows([x.gate!, x.up])))],
      [OUTPUT, stackTensors(w.experts.map((x) => x.down))],
    ]),
};
