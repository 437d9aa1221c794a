/**
 * The architectures added as modules (Granite-MoE, ...) on every backend against the float64
 * reference decoder: a seeded tiny checkpoint written in the Hugging Face layout and read
 * back, its prompt prefilled in two calls (so the second attends through the KV cache),
 * logits within 1e-4 in float32, the same argmax and the same experts at every position.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import '@moe-runtime/backend-gpujs';
import '@moe-runtime/backend-onnx';
import '@moe-runtime/backend-tfjs';
import { getBackend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmax, chosenExperts, loadCheckpoint, MoEModel, referenceModelLogits, writeTinyCheckpoint, type ModelType } from '../src/index.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-arch-backends-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const PROMPT = [1, 70, 104, 101, 32, 120, 200, 33, 90, 250, 301, 17, 5, 66];
const SPLIT = 6;
/** The bound for float32 backends against the float64 reference. */
const BOUND = 1e-4;
const TYPES: readonly ModelType[] = ['granitemoe'];
const BACKENDS = ['cpu', 'onnx', 'tfjs', 'gpujs'] as const;

describe.each(TYPES)('%s', (type) => {
  it.each(BACKENDS)('on %s: logits within 1e-4 of the reference, same argmax and experts, prefill split across two calls', async (name) => {
    const dir = join(root, `${type}-${name}`);
    await writeTinyCheckpoint(dir, { modelType: type, seed: 31 + type.length });
    const { config, weights } = await loadCheckpoint(dir);
    const model = await MoEModel.create(config, weights, await getBackend(name));
    try {
      const session = model.newSession();
      const a = await model.forward(session, PROMPT.slice(0, SPLIT), { allLogits: true });
      const b = await model.forward(session, PROMPT.slice(SPLIT), { allLogits: true });
      const ref = referenceModelLogits(config, weights, PROMPT);
      const v = config.vocabSize;
      const got = new Float32Array(PROMPT.length * v);
      got.set(a.logits);
      got.set(b.logits, a.logits.length);
      let max = 0;
      for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - ref.logits[i]));
      if (process.env.MOE_PRINT_DIFFS) console.log(`${type} on ${name}: max abs ${max.toExponential(2)}`);
      expect(max).toBeLessThan(BOUND);
      for (let p = 0; p < PROMPT.length; p++) expect(argmax(got, p * v, v)).toBe(argmax(ref.logits, p * v, v));
      const refExperts = chosenExperts(ref.plans);
      const first = chosenExperts(a.routing.map((r) => r.plan));
      const second = chosenExperts(b.routing.map((r) => r.plan));
      for (let l = 0; l < config.numLayers; l++) expect([...first[l], ...second[l]]).toEqual(refExperts[l]);
    } finally {
      model.dispose();
    }
  });
});
