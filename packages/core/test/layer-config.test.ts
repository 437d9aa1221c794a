import { describe, expect, it } from 'vitest';
import { activeExpertFlopsPerToken, ConfigError, denseEquivalentConfig, sharedExpertCount, validateLayerConfig, type MoELayerConfig } from '../src/index.js';

const OK: MoELayerConfig = { hiddenSize: 8, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 6 }, router: { name: 'topk-softmax' } };

function fieldOf(config: unknown): string {
  try {
    validateLayerConfig(config as MoELayerConfig);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).field;
  }
  throw new Error('expected a ConfigError');
}

describe('validateLayerConfig', () => {
  it('accepts a good config unchanged', () => {
    expect(validateLayerConfig(OK)).toBe(OK);
  });

  it('names the offending field', () => {
    expect(fieldOf(null)).toBe('config');
    expect(fieldOf({ ...OK, hiddenSize: 0 })).toBe('hiddenSize');
    expect(fieldOf({ ...OK, numExperts: 2.5 })).toBe('numExperts');
    expect(fieldOf({ ...OK, topK: 5 })).toBe('topK');
    expect(fieldOf({ ...OK, expert: undefined })).toBe('expert');
    expect(fieldOf({ ...OK, expert: { kind: 'swish', ffnSize: 6 } })).toBe('expert.kind');
    expect(fieldOf({ ...OK, expert: { kind: 'relu', ffnSize: -1 } })).toBe('expert.ffnSize');
    expect(fieldOf({ ...OK, expert: { kind: 'relu', ffnSize: 6, bias: 'yes' } })).toBe('expert.bias');
    expect(fieldOf({ ...OK, sharedExperts: { ffnSize: 0 } })).toBe('sharedExperts.ffnSize');
    expect(fieldOf({ ...OK, sharedExperts: { count: 0, ffnSize: 4 } })).toBe('sharedExperts.count');
    expect(fieldOf({ ...OK, sharedExperts: { ffnSize: 4, gated: 1 } })).toBe('sharedExperts.gated');
    expect(fieldOf({ ...OK, router: { name: '' } })).toBe('router.name');
    expect(fieldOf({ ...OK, router: { name: 'x', options: [1] } })).toBe('router.options');
  });

  it('says what was expected', () => {
    expect(() => validateLayerConfig({ ...OK, topK: 5 })).toThrow('topK: expected at most numExperts (4), got 5');
    expect(() => validateLayerConfig({ ...OK, hiddenSize: 0 })).toThrow('hiddenSize: expected a positive integer, got 0');
  });
});

describe('config helpers', () => {
  it('counts shared experts, builds the dense equivalent and the active FLOPs', () => {
    expect(sharedExpertCount(OK)).toBe(0);
    expect(sharedExpertCount({ ...OK, sharedExperts: { ffnSize: 4 } })).toBe(1);
    expect(sharedExpertCount({ ...OK, sharedExperts: { count: 3, ffnSize: 4 } })).toBe(3);
    expect(denseEquivalentConfig(OK)).toEqual({ hiddenSize: 8, numExperts: 1, topK: 1, expert: { kind: 'swiglu', ffnSize: 12, bias: undefined }, router: { name: 'topk-softmax' } });
    expect(activeExpertFlopsPerToken(OK)).toBe(2 * 3 * 8 * 6 * 2);
    expect(activeExpertFlopsPerToken({ ...OK, expert: { kind: 'gelu', ffnSize: 6 } })).toBe(2 * 2 * 8 * 6 * 2);
  });
});
