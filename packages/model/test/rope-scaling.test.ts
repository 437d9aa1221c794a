/**
 * The rope scaling block: production `ropeFrequencies` against the reference decoder's own
 * copy (written separately from transformers' modeling_rope_utils), values the Hugging Face
 * formulas give by hand, and refusals naming the field.
 */
import { ConfigError } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { parseRopeScaling, ropeFrequencies, type RopeScaling } from '../src/rope-scaling.js';
import { referenceRopeParameters } from '../src/reference/rope-scaling.js';

const field = 'config.json: rope_scaling';
// gpt-oss-20b's config.json rope_scaling, max_position_embeddings 131072, rope_theta 150000, head_dim 64.
const gptOss = { beta_fast: 32.0, beta_slow: 1.0, factor: 32.0, original_max_position_embeddings: 4096, rope_type: 'yarn', truncate: false };
// Llama 3.1's.
const llama31 = { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' };

const cases: [string, RopeScaling | undefined, number, number][] = [
  ['none', undefined, 64, 10000],
  ['linear', parseRopeScaling({ type: 'linear', factor: 4 }, field, 4096), 64, 10000],
  ['yarn (gpt-oss)', parseRopeScaling(gptOss, field, 131072), 64, 150000],
  ['yarn truncated (DeepSeek-V2 style mscale)', parseRopeScaling({ type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 }, field, 163840), 64, 10000],
  ['llama3', parseRopeScaling(llama31, field, 131072), 128, 500000],
];

describe('ropeFrequencies', () => {
  it.each(cases)('%s: matches the reference copy', (_name, scaling, hd, theta) => {
    const p = ropeFrequencies(hd, theta, scaling);
    const r = referenceRopeParameters(hd, theta, scaling);
    expect(p.invFreq).toHaveLength(hd / 2);
    for (let i = 0; i < hd / 2; i++) expect(Math.abs(p.invFreq[i] - r.invFreq[i]) / r.invFreq[i]).toBeLessThan(1e-14);
    expect(p.attentionFactor).toBe(r.attentionScaling);
  });

  it('yarn (gpt-oss): high frequencies kept, low ones divided by factor, attention factor 0.1 ln 32 + 1', () => {
    const y = parseRopeScaling(gptOss, field, 131072)!;
    const { invFreq, attentionFactor } = ropeFrequencies(64, 150000, y);
    const plain = ropeFrequencies(64, 150000).invFreq;
    expect(attentionFactor).toBeCloseTo(0.1 * Math.log(32) + 1, 14);
    // find_correction_dim(32) = 64 ln(4096 / (64 pi)) / (2 ln 150000) = 8.09; (1) = 17.40 (not truncated).
    const low = (64 * Math.log(4096 / (32 * 2 * Math.PI))) / (2 * Math.log(150000));
    const high = (64 * Math.log(4096 / (2 * Math.PI))) / (2 * Math.log(150000));
    expect(invFreq[0]).toBe(plain[0]);
    expect(invFreq[8]).toBe(plain[8]);
    expect(invFreq[31]).toBeCloseTo(plain[31] / 32, 20);
    const ramp = (12 - low) / (high - low);
    expect(invFreq[12] / plain[12]).toBeCloseTo((1 - ramp) + ramp / 32, 12);
  });

  it('linear divides every frequency; llama3 keeps high and divides low ones', () => {
    const lin = ropeFrequencies(16, 10000, { type: 'linear', factor: 4 }).invFreq;
    const plain16 = ropeFrequencies(16, 10000).invFreq;
    lin.forEach((f, i) => expect(f).toBeCloseTo(plain16[i] / 4, 15));
    const l3 = ropeFrequencies(128, 500000, parseRopeScaling(llama31, field, 131072)).invFreq;
    const plain = ropeFrequencies(128, 500000).invFreq;
    expect(l3[0]).toBe(plain[0]);
    expect(l3[63]).toBeCloseTo(plain[63] / 8, 20);
  });
});

describe('parseRopeScaling', () => {
  it('is undefined for null and the default type', () => {
    expect(parseRopeScaling(null, field, 4096)).toBeUndefined();
    expect(parseRopeScaling({ rope_type: 'default' }, field, 4096)).toBeUndefined();
  });

  it('refuses an unknown type naming the field', () => {
    expect(() => parseRopeScaling({ rope_type: 'longrope', factor: 2 }, field, 4096)).toThrow(ConfigError);
    expect(() => parseRopeScaling({ rope_type: 'longrope', factor: 2 }, field, 4096)).toThrow(/rope_scaling\.rope_type: expected one of default, linear, yarn, llama3, got "longrope"/);
    expect(() => parseRopeScaling('yarn', field, 4096)).toThrow(/rope_scaling: expected an object/);
  });

  it('names a bad parameter', () => {
    expect(() => parseRopeScaling({ type: 'linear', factor: -1 }, field, 4096)).toThrow(/rope_scaling\.factor: expected a positive number/);
    expect(() => parseRopeScaling({ rope_type: 'llama3', factor: 8, low_freq_factor: 1, original_max_position_embeddings: 8192 }, field, 4096)).toThrow(/rope_scaling\.high_freq_factor/);
    expect(() => parseRopeScaling({ ...gptOss, truncate: 'no' }, field, 4096)).toThrow(/rope_scaling\.truncate/);
  });

  it('yarn: factor from max_position_embeddings / original when absent', () => {
    const y = parseRopeScaling({ rope_type: 'yarn', original_max_position_embeddings: 4096 }, field, 16384);
    expect(y).toMatchObject({ type: 'yarn', factor: 4, betaFast: 32, betaSlow: 1, truncate: true });
  });
});
