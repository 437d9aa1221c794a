/**
 * The reference decoder's own `rope_scaling` frequencies, written literally from transformers'
 * `modeling_rope_utils.py` (no code shared with the production `rope-scaling.ts`): each
 * function names the Hugging Face function it follows. Input is the parsed scaling of the
 * config (a plain record of its fields).
 */
import { ConfigError } from '@moe-runtime/core';
import type { ModelConfig } from '../model-config.js';

/** The config's parsed `rope_scaling`. */
type RopeScaling = NonNullable<ModelConfig['ropeScaling']>;

/** `inv_freq = 1 / base^(arange(0, dim, 2) / dim)` of `_compute_default_rope_parameters`. */
function defaultInvFreq(dim: number, base: number): Float64Array {
  return Float64Array.from({ length: dim / 2 }, (_, j) => 1 / base ** ((2 * j) / dim));
}

/** `_compute_yarn_parameters`: its `find_correction_range` and `linear_ramp_factor` inline. */
function yarn(dim: number, base: number, s: Extract<RopeScaling, { type: 'yarn' }>): Float64Array {
  const findCorrectionDim = (numRotations: number): number => (dim * Math.log(s.originalMaxPositions / (numRotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = findCorrectionDim(s.betaFast);
  let high = findCorrectionDim(s.betaSlow);
  if (s.truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
  [low, high] = [Math.max(low, 0), Math.min(high, dim - 1)];
  const max = low === high ? high + 0.001 : high;
  const posFreqs = Float64Array.from({ length: dim / 2 }, (_, j) => base ** ((2 * j) / dim));
  const out = new Float64Array(dim / 2);
  for (let j = 0; j < dim / 2; j++) {
    const rampFunc = Math.min(Math.max((j - low) / (max - low), 0), 1);
    const invFreqExtrapolationFactor = 1 - rampFunc;
    const interpolation = 1 / (s.factor * posFreqs[j]);
    const extrapolation = 1 / posFreqs[j];
    out[j] = interpolation * (1 - invFreqExtrapolationFactor) + extrapolation * invFreqExtrapolationFactor;
  }
  return out;
}

/** `_compute_llama3_parameters`. */
function llama3(dim: number, base: number, s: Extract<RopeScaling, { type: 'llama3' }>): Float64Array {
  const invFreq = defaultInvFreq(dim, base);
  const lowFreqWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositions / s.highFreqFactor;
  return invFreq.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    const llama = wavelen > lowFreqWavelen ? f / s.factor : f;
    const smoothFactor = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    const smoothed = ((1 - smoothFactor) * llama) / s.factor + smoothFactor * llama;
    const isMediumFreq = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    return isMediumFreq ? smoothed : llama;
  });
}

/**
 * `ROPE_INIT_FUNCTIONS[rope_type](config)`: `[inv_freq, attention_scaling]`. The rotary
 * embedding's forward multiplies cos and sin by `attention_scaling`.
 */
export function referenceRopeParameters(dim: number, base: number, s: RopeScaling | undefined): { invFreq: Float64Array; attentionScaling: number } {
  if (!s) return { invFreq: defaultInvFreq(dim, base), attentionScaling: 1 };
  switch (s.type) {
    case 'linear':
      // `_compute_linear_scaling_rope_parameters`: inv_freq / factor.
      return { invFreq: defaultInvFreq(dim, base).map((f) => f / s.factor), attentionScaling: 1 };
    case 'yarn':
      return { invFreq: yarn(dim, base, s), attentionScaling: s.attentionFactor };
    case 'llama3':
      return { invFreq: llama3(dim, base, s), attentionScaling: 1 };
    default:
      throw new ConfigError('rope_scaling', `the reference decoder implements linear, yarn and llama3, got ${JSON.stringify((s as { type: unknown }).type)}`);
  }
}
