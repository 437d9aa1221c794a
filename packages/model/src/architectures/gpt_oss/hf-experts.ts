/**
 * gpt-oss's Hugging Face MoE layout (modeling_gpt_oss `GptOssTopKRouter`, `GptOssExperts`):
 * `mlp.router.weight` `[E, D]` and `.bias` `[E]`; the experts stacked, `gate_up_proj`
 * `[E, D, 2F]` (input-major, gate and up columns interleaved: column 2j is gate j, 2j+1 up j),
 * `gate_up_proj_bias` `[E, 2F]` interleaved alike, `down_proj` `[E, F, D]`, `down_proj_bias`
 * `[E, D]`. Reading splits and transposes them into core's `[out, in]` expert weights.
 *
 * The released checkpoints store the experts in mxfp4 instead (`quantization_config`
 * `quant_method: "mxfp4"`, the experts not in `modules_to_not_convert`): `gate_up_proj_blocks`
 * `[E, 2F, D/32, 16]` and `gate_up_proj_scales` `[E, 2F, D/32]` (U8), output-major with gate and
 * up rows interleaved (row 2j gate j, 2j+1 up j), `down_proj_blocks` `[E, D, F/32, 16]` and
 * `down_proj_scales` `[E, D, F/32]`; the biases as above. Reading repacks each block into core's
 * (GGUF's) `mxfp4` order (`hf-mxfp4.ts`) and splits the rows: the experts stay mxfp4, bit for
 * bit, with no float copy.
 */
import { ConfigError, HostTensor, RawSafetensor, type DType, type ExpertWeights, type MoELayerConfig, type MoEWeights, type TensorSource, type WritableTensor } from '@moe-runtime/core';
import type { HfMoeLayout, HfMoeTensor } from '../hf-moe-layout.js';
import type { HfModuleQuantization } from '../hf-quantization.js';
import { ggufRowsFromHf, HF_MXFP4_BLOCK_BYTES, hfRowsFromGguf } from './hf-mxfp4.js';

const ROUTER = 'mlp.router.weight';
const ROUTER_BIAS = 'mlp.router.bias';
const GATE_UP = 'mlp.experts.gate_up_proj';
const GATE_UP_BIAS = 'mlp.experts.gate_up_proj_bias';
const DOWN = 'mlp.experts.down_proj';
const DOWN_BIAS = 'mlp.experts.down_proj_bias';
const GATE_UP_BLOCKS = 'mlp.experts.gate_up_proj_blocks';
const GATE_UP_SCALES = 'mlp.experts.gate_up_proj_scales';
const DOWN_BLOCKS = 'mlp.experts.down_proj_blocks';
const DOWN_SCALES = 'mlp.experts.down_proj_scales';
/** The module `quantization_config` names the experts by (relative to the layer). */
const EXPERTS = 'mlp.experts';

/** Whether the layer's experts are stored in mxfp4 (`*_blocks` / `*_scales`). */
function mxfp4Experts(quantized: HfModuleQuantization | undefined): boolean {
  return quantized?.(EXPERTS) === 'mxfp4';
}

/** Blocks of 32 run along the input dimension of both projections: D and F must divide. */
function checkBlockRows(moe: MoELayerConfig): void {
  for (const [key, n] of [['hidden_size', moe.hiddenSize], ['intermediate_size', moe.expert.ffnSize]] as const) {
    if (n % 32 !== 0) throw new ConfigError(`config.json: ${key}`, `mxfp4 experts (quantization_config) need a multiple of 32, got ${n}`);
  }
}

function mxfp4TensorsOf(moe: MoELayerConfig): HfMoeTensor[] {
  checkBlockRows(moe);
  const { numExperts: e, hiddenSize: d } = moe;
  const f = moe.expert.ffnSize;
  // Planned as held: one mxfp4 [F, D] gate and up per expert, one [D, F] down; the scales are
  // each block's exponent byte, counted in the blocks' 17 bytes per 32 values.
  return [
    { name: ROUTER, shape: [e, d], convertible: false },
    { name: ROUTER_BIAS, shape: [e], convertible: false },
    { name: GATE_UP_BLOCKS, shape: [e, 2 * f, d / 32, HF_MXFP4_BLOCK_BYTES], convertible: false, rawDType: 'U8', heldAs: 'mxfp4', heldShape: [2 * e, f, d], slices: 2 * e },
    { name: GATE_UP_SCALES, shape: [e, 2 * f, d / 32], convertible: false, rawDType: 'U8', partOf: GATE_UP_BLOCKS },
    { name: GATE_UP_BIAS, shape: [e, 2 * f], convertible: false },
    { name: DOWN_BLOCKS, shape: [e, d, f / 32, HF_MXFP4_BLOCK_BYTES], convertible: false, rawDType: 'U8', heldAs: 'mxfp4', heldShape: [e, d, f], slices: e },
    { name: DOWN_SCALES, shape: [e, d, f / 32], convertible: false, rawDType: 'U8', partOf: DOWN_BLOCKS },
    { name: DOWN_BIAS, shape: [e, d], convertible: false },
  ];
}

function tensorsOf(moe: MoELayerConfig, quantized?: HfModuleQuantization): HfMoeTensor[] {
  if (mxfp4Experts(quantized)) return mxfp4TensorsOf(moe);
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

/** mxfp4 experts: each block repacked into core's order, gate and up rows split; biases decoded. */
async function readMxfp4(src: TensorSource, p: string, moe: MoELayerConfig): Promise<MoEWeights> {
  const { numExperts: e, hiddenSize: d } = moe;
  const f = moe.expert.ffnSize;
  const gateUp = { blocks: await src.readBytes(p + GATE_UP_BLOCKS), scales: await src.readBytes(p + GATE_UP_SCALES) };
  const down = { blocks: await src.readBytes(p + DOWN_BLOCKS), scales: await src.readBytes(p + DOWN_SCALES) };
  const gateUpBias = (await src.read(p + GATE_UP_BIAS)).toFloat32();
  const downBias = (await src.read(p + DOWN_BIAS)).toFloat32();
  const experts: ExpertWeights[] = [];
  for (let j = 0; j < e; j++) {
    experts.push({
      gate: new HostTensor('mxfp4', [f, d], ggufRowsFromHf(gateUp.blocks, gateUp.scales, j, 2 * f, d / 32, 0, 2, f)),
      up: new HostTensor('mxfp4', [f, d], ggufRowsFromHf(gateUp.blocks, gateUp.scales, j, 2 * f, d / 32, 1, 2, f)),
      down: new HostTensor('mxfp4', [d, f], ggufRowsFromHf(down.blocks, down.scales, j, d, f / 32, 0, 1, d)),
      gateBias: vectorSlice(gateUpBias, j, 2 * f, 0, 2),
      upBias: vectorSlice(gateUpBias, j, 2 * f, 1, 2),
      downBias: vectorSlice(downBias, j, d, 0, 1),
    });
  }
  return { router: await src.read(p + ROUTER), routerBias: await src.read(p + ROUTER_BIAS), experts };
}

// The loader checked every tensor's shape against the config when the source was opened.
async function read(src: TensorSource, p: string, moe: MoELayerConfig, quantized?: HfModuleQuantization): Promise<MoEWeights> {
  if (mxfp4Experts(quantized)) return readMxfp4(src, p, moe);
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

/** The interleaved `[E, 2F]` gate/up biases and the `[E, D]` down biases (0 where an expert has none), as float32. */
function stackedBiases(config: MoELayerConfig, moe: MoEWeights): { gateUp: Float32Array; down: Float32Array } {
  const { numExperts: e, hiddenSize: d } = config;
  const f = config.expert.ffnSize;
  const gateUp = new Float32Array(e * 2 * f);
  const down = new Float32Array(e * d);
  moe.experts.forEach((x, j) => {
    const gb = x.gateBias?.toFloat32();
    const ub = x.upBias?.toFloat32();
    for (let o = 0; o < f; o++) {
      gateUp[j * 2 * f + 2 * o] = gb ? gb[o] : 0;
      gateUp[j * 2 * f + 2 * o + 1] = ub ? ub[o] : 0;
    }
    const db = x.downBias?.toFloat32();
    if (db) down.set(db, j * d);
  });
  return { gateUp, down };
}

/** An expert matrix in mxfp4: as it is, or quantized (core's encoder) when held in another format. */
function asMxfp4(t: HostTensor): Uint8Array {
  return (t.dtype === 'mxfp4' ? t : t.to('mxfp4')).bytes();
}

/** Core's experts as the mxfp4 `*_blocks` / `*_scales` tensors (what `readMxfp4` undoes, bit for bit for mxfp4 experts). */
function writeMxfp4(config: MoELayerConfig, moe: MoEWeights): Map<string, WritableTensor> {
  checkBlockRows(config);
  const { numExperts: e, hiddenSize: d } = config;
  const f = config.expert.ffnSize;
  const gateUp = { blocks: new Uint8Array(e * 2 * f * (d / 32) * HF_MXFP4_BLOCK_BYTES), scales: new Uint8Array(e * 2 * f * (d / 32)) };
  const down = { blocks: new Uint8Array(e * d * (f / 32) * HF_MXFP4_BLOCK_BYTES), scales: new Uint8Array(e * d * (f / 32)) };
  moe.experts.forEach((x, j) => {
    hfRowsFromGguf(asMxfp4(x.gate!), f, d / 32, gateUp.blocks, gateUp.scales, j * 2 * f, 2);
    hfRowsFromGguf(asMxfp4(x.up), f, d / 32, gateUp.blocks, gateUp.scales, j * 2 * f + 1, 2);
    hfRowsFromGguf(asMxfp4(x.down), d, f / 32, down.blocks, down.scales, j * d, 1);
  });
  // The biases in the experts' bias dtype (the released files' bf16 where the weights say so).
  const bias = stackedBiases(config, moe);
  const dtype: DType = moe.experts[0]?.gateBias?.dtype ?? 'float32';
  return new Map<string, WritableTensor>([
    [ROUTER, moe.router],
    [ROUTER_BIAS, moe.routerBias ?? HostTensor.float32([e], new Float32Array(e))],
    [GATE_UP_BLOCKS, new RawSafetensor('U8', [e, 2 * f, d / 32, HF_MXFP4_BLOCK_BYTES], gateUp.blocks)],
    [GATE_UP_SCALES, new RawSafetensor('U8', [e, 2 * f, d / 32], gateUp.scales)],
    [GATE_UP_BIAS, HostTensor.float32([e, 2 * f], bias.gateUp).to(dtype)],
    [DOWN_BLOCKS, new RawSafetensor('U8', [e, d, f / 32, HF_MXFP4_BLOCK_BYTES], down.blocks)],
    [DOWN_SCALES, new RawSafetensor('U8', [e, d, f / 32], down.scales)],
    [DOWN_BIAS, HostTensor.float32([e, d], bias.down).to(dtype)],
  ]);
}

/** Core's expert weights stacked back into gpt-oss's tensors (what `read` undoes). */
function write(config: MoELayerConfig, moe: MoEWeights, quantized?: HfModuleQuantization): Map<string, WritableTensor> {
  if (mxfp4Experts(quantized)) return writeMxfp4(config, moe);
  const { numExperts: e, hiddenSize: d } = config;
  const f = config.expert.ffnSize;
  const gateUp = new Float32Array(e * d * 2 * f);
  const down = new Float32Array(e * f * d);
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
  });
  const bias = stackedBiases(config, moe);
  const routerBias = moe.routerBias ?? HostTensor.float32([e], new Float32Array(e));
  return new Map<string, WritableTensor>([
    [ROUTER, moe.router],
    [ROUTER_BIAS, routerBias],
    [GATE_UP, HostTensor.float32([e, d, 2 * f], gateUp)],
    [GATE_UP_BIAS, HostTensor.float32([e, 2 * f], bias.gateUp)],
    [DOWN, HostTensor.float32([e, f, d], down)],
    [DOWN_BIAS, HostTensor.float32([e, d], bias.down)],
  ]);
}

/** The layout the gpt_oss module declares. */
export const GPT_OSS_HF_MOE: HfMoeLayout = { tensors: tensorsOf, read, write };
