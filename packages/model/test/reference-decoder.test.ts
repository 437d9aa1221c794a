import { ShapeError } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { parseModelConfig, randomModelWeights, referenceModelLogits, tinyConfigJson } from '../src/index.js';

describe('the reference decoder', () => {
  it('names a token id outside the vocabulary instead of returning NaN logits', () => {
    const config = parseModelConfig(tinyConfigJson({ modelType: 'mixtral', numLayers: 1 }));
    const weights = randomModelWeights(config, 5);
    expect(() => referenceModelLogits(config, weights, [1, 384])).toThrow(ShapeError);
    expect(() => referenceModelLogits(config, weights, [1, -1])).toThrow(/token id -1 at position 1 is outside the vocabulary \[0, 384\)/);
    expect(() => referenceModelLogits(config, weights, [])).toThrow(/at least one token/);
    const ok = referenceModelLogits(config, weights, [1, 383]);
    expect(ok.logits.every(Number.isFinite)).toBe(true);
  });
});
