/**
 * gpt-oss's Hugging Face MoE layout (modeling_gpt_oss `GptOssTopKRouter`, `GptOssExperts`):
 * `mlp.router.weight` `[E, D]` and `.bias` `[E]`; the experts stacked, `gate_up_proj`
 * `[E, D, 2F]` (input-major, gate and up columns interleaved: column 2j is gate j, 2j+1 up j),
 * `gate_up_proj_bias` `[E, 2F]` interleaved alike, `down_proj` `[E, F, D]`, `down_proj_bias`
 * `[E, D]`. Reading splits and transposes them into core's `[out, in]` expert weights.
 */
import { HostTensor, type ExpertWeights, type MoELayerConfig, type MoEWeights, type TensorSource } from '@moe-runtime/core';
import type { HfMoeLayout, HfMoeTensor } from '../hf-moe-layout.js';

const ROUTER = 'mlp.router.weight';
const ROUTER_BIAS = 'mlp.router.bias';
const GATE_UP = 'mlp.experts.gate_up_proj';
const GATE_UP_BIAS = 'mlp.experts.gate_up_proj_bias';
const DOWN = 'mlp.experts.down_proj';
const DOWN_BIAS = 'mlp.experts.down_proj_bias';

function tensorsOf(moe: MoELayerConfig): HfMoeTensor[] {
  const { numExperts: e, hiddenSize: d } = moe;
  const f = moe.expert.ffnSize;
  // Input-major stacks are split and transposed at read: not converted by a load-time dtype.
  return [
    { name: ROUTER, shape: [e, d], convertible: false },
    { name: ROUTER_BIAS, shape: [e], convertible: false },
    { name: GATE_UP, shape: [e, d, 2 * f], convertible: false },
    { name: GATE_UP_BIAS, shape: [e, 2 * f], convertible: false },
    { name: DOWN, shape: [e, f, d], convertible: false },
    { name: DOWN_BIAS, shape: [e, d], convertible: false },
  ];
}

/** Expert j of a stacked `[E, rows, cols]` tensor, transposed to `[cols / step, rows]` taking every `step`-th column from `first`. */
function transposedSlice(all: Float32Array, j: number, rows: number, cols: number, first: number, step: number): HostTensor {
  const outRows = cols / step;
  const out = new Float32Array(outRows * rows);
  const base = j * rows * cols;
  for (let r = 0; r < rows; r++) for (let o = 0; o < outRows; o++) out[o * rows + r] = all[base + r * cols + first + o * step];
  return HostTensor.float32([outRows, rows], out);
}

function vectorSlice(all: Float32Array, j: number, width: number, first: number, step: number): HostTensor {
  const n = width / step;
  return HostTensor.float32([n], Float32Array.from({ length: n }, (_, i) => all[j * width + first + i * step]));
}

// The loader checked every tensor's shape against the config when the source was opened.
async function read(src: TensorSource, p: string, moe: MoELayerConfig): Promise<MoEWeights> {
  const { numExperts: e, hiddenSize: d } = moe;
  const f = moe.expert.ffnSize;
  const gateUp = (await src.read(p + GATE_UP)).toFloat32();
  const gateUpBias = (await src.read(p + GATE_UP_BIAS)).toFloat32();
  const down = (await src.read(p + DOWN)).toFloat32();
  const downBias = (await src.read(p + DOWN_BIAS)).toFloat32();
  const experts: ExpertWeights[] = [];
  for (let j = 0; j < e; j++) {
    experts.push({
      gate: transposedSlice(gateUp, j, d, 2 * f, 0, 2),
      up: transposedSlice(gateUp, j, d, 2 * f, 1, 2),
      down: transposedSlice(down, j, f, d, 0, 1),
      gateBias: vectorSlice(gateUpBias, j, 2 * f, 0, 2),
      upBias: vectorSlice(gateUpBias, j, 2 * f, 1, 2),
      downBias: vectorSlice(downBias, j, d, 0, 1),
    });
  }
  return { router: await src.read(p + ROUTER), routerBias: await src.read(p + ROUTER_BIAS), experts };
}

/** Core's expert weights stacked back into gpt-oss's tensors (what `read` undoes). */
function write(config: MoELayerConfig, moe: MoEWeights): Map<string, HostTensor> {
  const { numExperts: e, hiddenSize: d } = config;
  const f = config.expert.ffnSize;
  const gateUp = new Float32Array(e * d * 2 * f);
  const gateUpBias = new Float32Array(e * 2 * f);
  const down = new Float32Array(e * f * d);
  const downBias = new Float32Array(e * d);
  moe.experts.forEach((x, j) => {
    const g = x.gate!.toFloat32();
    const u = x.up.toFloat32();
    const dn = x.down.toFloat32();
    for (let r = 0; r < d; r++) {
      for (let o = 0; o < f; o++) {
        gateUp[(j * d + r) * 2 * f + 2 * o] = g[o * d + r];
        gateUp[(j * d + r) * 2 * f + 2 * o + 1] = u[o * d + r];
      }
    }
    for (let r = 0; r < f; r++) for (let o = 0; o < d; o++) down[(j * f + r) * d + o] = dn[o * f + r];
    const gb = x.gateBias?.toFloat32();
    const ub = x.upBias?.toFloat32();
    for (let o = 0; o < f; o++) {
      gateUpBias[j * 2 * f + 2 * o] = gb ? gb[o] : 0;
      gateUpBias[j * 2 * f + 2 * o + 1] = ub ? ub[o] : 0;
    }
    const db = x.downBias?.toFloat32();
    if (db) downBias.set(db, j * d);
  });
  const routerBias = moe.routerBias ?? HostTensor.float32([e], new Float32Array(e));
  return new Map([
    [ROUTER, moe.router],
    [ROUTER_BIAS, routerBias],
    [GATE_UP, HostTensor.float32([e, d, 2 * f], gateUp)],
    [GATE_UP_BIAS, HostTensor.float32([e, 2 * f], gateUpBias)],
    [DOWN, HostTensor.float32([e, f, d], down)],
    [DOWN_BIAS, HostTensor.float32([e, d], downBias)],
  ]);
}

/** The layout the gpt_oss module declares. */
export const GPT_OSS_HF_MOE: HfMoeLayout = { tensors: tensorsOf, read, write };
