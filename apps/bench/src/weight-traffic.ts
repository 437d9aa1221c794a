/**
 * Weight bytes of a layer: what one forward pass streams (the decode-time memory traffic) and
 * what a decode pass can touch over many tokens (the working set the last-level cache is
 * compared with). Counted from the config, biases included.
 */
import { bitsPerValue, sharedExpertCount, type DType, type MoELayerConfig } from '@moe-runtime/core';

/** Bytes per element of a storage dtype (fractional for block formats: 34 / 32 for q8_0). */
export function dtypeBytes(dtype: DType): number {
  return bitsPerValue(dtype) / 8;
}

/** Parameters of one expert of inner size `ffnSize`: its matrices and, when the layer has them, biases. */
export function expertParameters(config: MoELayerConfig, ffnSize: number): number {
  const d = config.hiddenSize;
  const gated = config.expert.kind === 'swiglu';
  const matrices = (gated ? 3 : 2) * d * ffnSize;
  const biases = config.expert.bias ? (gated ? 2 : 1) * ffnSize + d : 0;
  return matrices + biases;
}

/** Parameters every pass reads whatever the routing: the router, the shared experts and their gate. */
export function fixedParameters(config: MoELayerConfig): number {
  const shared = sharedExpertCount(config);
  const sharedParams = shared ? shared * expertParameters(config, config.sharedExperts!.ffnSize) + (config.sharedExperts!.gated ? config.hiddenSize : 0) : 0;
  return config.numExperts * config.hiddenSize + sharedParams;
}

/** Parameters of the whole layer: every routed expert plus {@link fixedParameters}. */
export function layerParameters(config: MoELayerConfig): number {
  return config.numExperts * expertParameters(config, config.expert.ffnSize) + fixedParameters(config);
}

/**
 * Bytes one pass reads when it touches `expertsTouched` routed experts, counted as float32:
 * the cpu, tfjs and gpujs backends widen float16 and bfloat16 weights to float32 when they
 * prepare them, and onnx widens bfloat16 (it keeps float16 as float16, so for its float16
 * cases this counts twice the bytes it reads).
 */
export function passWeightBytes(config: MoELayerConfig, expertsTouched: number): number {
  return 4 * (expertsTouched * expertParameters(config, config.expert.ffnSize) + fixedParameters(config));
}

/**
 * The decode working set: bytes of every weight a one-token pass can touch (all routed experts,
 * since fresh tokens go to any of them, plus the router and the shared experts) in the
 * scenario's storage dtype, the smallest form any backend holds them in.
 */
export function workingSetBytes(config: MoELayerConfig, dtype: DType): number {
  return layerParameters(config) * dtypeBytes(dtype);
}
