/**
 * Rotary embeddings with `rope_scaling`: the inverse frequencies of each scaling type and the
 * factor the cos/sin tables are multiplied by (YaRN's attention factor, 1 otherwise). The types
 * follow transformers' `modeling_rope_utils.py`: `_compute_linear_scaling_rope_parameters`,
 * `_compute_yarn_parameters` and `_compute_llama3_parameters`. Any other type is refused.
 */
import { ConfigError } from '@moe-runtime/core';

/** `rope_type: "linear"`: positions divided by `factor`. */
export interface LinearRopeScaling {
  readonly type: 'linear';
  readonly factor: number;
}

/** `rope_type: "yarn"` (gpt-oss, DeepSeek-V2): NTK-by-parts interpolation and an attention factor. */
export interface YarnRopeScaling {
  readonly type: 'yarn';
  readonly factor: number;
  /** The pre-extension context length the ramp is computed for. */
  readonly originalMaxPositions: number;
  readonly betaFast: number;
  readonly betaSlow: number;
  /** Round the correction range outward (`truncate`, default true; gpt-oss sets false). */
  readonly truncate: boolean;
  /** cos/sin multiplier; derived from factor (and mscale / mscale_all_dim) when the config has none. */
  readonly attentionFactor: number;
}

/** `rope_type: "llama3"`: low frequencies divided by `factor`, a smooth band between. */
export interface Llama3RopeScaling {
  readonly type: 'llama3';
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositions: number;
}

/** A parsed `rope_scaling`. */
export type RopeScaling = LinearRopeScaling | YarnRopeScaling | Llama3RopeScaling;

/** The rope scaling types this package implements. */
export const ROPE_SCALING_TYPES: readonly RopeScaling['type'][] = ['linear', 'yarn', 'llama3'];

/** Inverse frequencies `[headDim / 2]` and the cos/sin multiplier. */
export interface RopeFrequencies {
  readonly invFreq: Float64Array;
  readonly attentionFactor: number;
}

function positive(field: string, v: unknown, fallback?: number): number {
  const x = v ?? fallback;
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new ConfigError(field, `expected a positive number, got ${JSON.stringify(v)}`);
  return x;
}

/** YaRN's `get_mscale`. */
function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

function parseYarn(s: Readonly<Record<string, unknown>>, field: string, maxPositions: number): YarnRopeScaling {
  const orig = positive(`${field}.original_max_position_embeddings`, s.original_max_position_embeddings, maxPositions);
  const factor = positive(`${field}.factor`, s.factor, maxPositions / orig);
  let attentionFactor: number;
  if (s.attention_factor !== undefined && s.attention_factor !== null) attentionFactor = positive(`${field}.attention_factor`, s.attention_factor);
  else if (typeof s.mscale === 'number' && s.mscale !== 0 && typeof s.mscale_all_dim === 'number' && s.mscale_all_dim !== 0) attentionFactor = yarnMscale(factor, s.mscale) / yarnMscale(factor, s.mscale_all_dim);
  else attentionFactor = yarnMscale(factor);
  // `or 32` / `or 1` in Hugging Face: 0 and null fall back too.
  const betaFast = positive(`${field}.beta_fast`, s.beta_fast || 32);
  const betaSlow = positive(`${field}.beta_slow`, s.beta_slow || 1);
  if (s.truncate !== undefined && typeof s.truncate !== 'boolean') throw new ConfigError(`${field}.truncate`, `expected a boolean, got ${JSON.stringify(s.truncate)}`);
  return { type: 'yarn', factor, originalMaxPositions: orig, betaFast, betaSlow, truncate: s.truncate !== false, attentionFactor };
}

/**
 * Parses a `rope_scaling` value (`field` names it in errors, e.g. `config.json: rope_scaling`):
 * undefined for null/absent or `default`, a ConfigError for a type not implemented.
 */
export function parseRopeScaling(value: unknown, field: string, maxPositions: number): RopeScaling | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(field, `expected an object or null, got ${JSON.stringify(value)}`);
  const s = value as Readonly<Record<string, unknown>>;
  // Older configs call the key `type`; transformers reads `rope_type` first.
  const type = s.rope_type ?? s.type;
  switch (type) {
    case 'default':
      return undefined;
    case 'linear':
      return { type: 'linear', factor: positive(`${field}.factor`, s.factor) };
    case 'yarn':
      return parseYarn(s, field, maxPositions);
    case 'llama3': {
      const low = positive(`${field}.low_freq_factor`, s.low_freq_factor);
      const high = positive(`${field}.high_freq_factor`, s.high_freq_factor);
      if (high <= low) throw new ConfigError(`${field}.high_freq_factor`, `expected more than low_freq_factor (${low}), got ${high}`);
      return { type: 'llama3', factor: positive(`${field}.factor`, s.factor), lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: positive(`${field}.original_max_position_embeddings`, s.original_max_position_embeddings) };
    }
    default:
      throw new ConfigError(`${field}.rope_type`, `expected one of default, ${ROPE_SCALING_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  }
}

/** YaRN's `find_correction_dim`: the dimension index whose wavelength makes `rotations` turns over `positions`. */
function correctionDim(rotations: number, dim: number, base: number, positions: number): number {
  return (dim * Math.log(positions / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
}

function yarnFrequencies(plain: Float64Array, dim: number, base: number, y: YarnRopeScaling): Float64Array {
  let low = correctionDim(y.betaFast, dim, base, y.originalMaxPositions);
  let high = correctionDim(y.betaSlow, dim, base, y.originalMaxPositions);
  if (y.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  return plain.map((f, i) => {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    // ramp 0: extrapolate (plain frequency); ramp 1: interpolate (divided by factor).
    return (f / y.factor) * ramp + f * (1 - ramp);
  });
}

function llama3Frequencies(plain: Float64Array, l: Llama3RopeScaling): Float64Array {
  const lowWavelen = l.originalMaxPositions / l.lowFreqFactor;
  const highWavelen = l.originalMaxPositions / l.highFreqFactor;
  return plain.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / l.factor;
    const smooth = (l.originalMaxPositions / wavelen - l.lowFreqFactor) / (l.highFreqFactor - l.lowFreqFactor);
    return ((1 - smooth) * f) / l.factor + smooth * f;
  });
}

/** The inverse frequencies of head size `headDim` (even) and base `theta` under `scaling` (none: plain rotary). */
export function ropeFrequencies(headDim: number, theta: number, scaling?: RopeScaling): RopeFrequencies {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new ConfigError('head_dim', `rotary needs an even integer >= 2, got ${headDim}`);
  const plain = new Float64Array(headDim / 2);
  for (let i = 0; i < plain.length; i++) plain[i] = 1 / theta ** ((2 * i) / headDim);
  if (!scaling) return { invFreq: plain, attentionFactor: 1 };
  switch (scaling.type) {
    case 'linear':
      return { invFreq: plain.map((f) => f / scaling.factor), attentionFactor: 1 };
    case 'yarn':
      return { invFreq: yarnFrequencies(plain, headDim, theta, scaling), attentionFactor: scaling.attentionFactor };
    case 'llama3':
      return { invFreq: llama3Frequencies(plain, scaling), attentionFactor: 1 };
  }
}
