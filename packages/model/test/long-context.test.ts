/**
 * Long context against the independent float64 reference decoder: a 4096-token prompt fed in
 * chunks of odd sizes (single tokens among them, so decode-shaped and prefill-shaped calls both
 * read the cache), on the backends with their own attention (`cpu`: the SIMD flash-attention
 * kernel; `onnx`: its MatMul/Softmax graph), for plain causal grouped-query attention (Mixtral)
 * and for alternating 128-token windows with learned sinks (gpt-oss). The logits of the 1st,
 * 1024th and 4096th positions are checked, with the experts every position chose.
 */
import '@moe-runtime/backend-cpu';
import '@moe-runtime/backend-onnx';
import { createRng, getBackend } from '@moe-runtime/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { argmax, chosenExperts, MoEModel, parseModelConfig, randomModelWeights, referenceModelLogits, tinyConfigJson, type ModelConfig, type ModelWeights } from '../src/index.js';
import { maxAbsDiff } from './split-prefill.js';

const T = 4096;
/** Chunk sizes of the prefill: 4096 tokens in all, the 1024th position inside the second chunk's end. */
const CHUNKS = [1, 1022, 1, 1, 2047, 513, 511];
/** The positions whose logits are compared: the 1st, the 1024th, the 4096th. */
const CHECKED = [0, 1023, T - 1];
/**
 * Max abs logit difference allowed. Measured 2026-12-03 over the three positions: 1.3e-6 ..
 * 2.5e-6 (Mixtral) and 1.7e-6 .. 3.1e-6 (gpt-oss) on cpu and onnx; asserted 2e-5, about 6x the
 * largest (the architecture issue's f32 bound is 1e-4).
 */
const BOUND = 2e-5;

interface Case {
  readonly name: string;
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly prompt: number[];
  ref?: ReturnType<typeof referenceModelLogits>;
}

function makeCase(name: string, json: Record<string, unknown>, seed: number): Case {
  const config = parseModelConfig({ ...json, max_position_embeddings: T });
  const rng = createRng(seed);
  const prompt = Array.from({ length: T }, () => 3 + rng.int(config.vocabSize - 3));
  return { name, config, weights: randomModelWeights(config, seed), prompt };
}

const cases: Case[] = [
  makeCase('mixtral (causal, 4 query heads over 2 KV heads)', tinyConfigJson({ modelType: 'mixtral', numLayers: 2 }), 41),
  makeCase('gpt-oss (128-token windows on even layers, sinks)', { ...tinyConfigJson({ modelType: 'gpt_oss', numLayers: 2, numExperts: 8, topK: 4 }), sliding_window: 128 }, 42),
];

/** Logits of every position of the case's prompt fed in CHUNKS on `backend`, and the experts chosen. */
async function production(c: Case, backend: string): Promise<{ logits: Float32Array; plans: number[][][] }> {
  const model = await MoEModel.create(c.config, c.weights, await getBackend(backend));
  const v = c.config.vocabSize;
  const logits = new Float32Array(T * v);
  const plans: number[][][] = [];
  try {
    const session = model.newSession({ contextLength: T });
    let at = 0;
    for (const n of CHUNKS) {
      const out = await model.forward(session, c.prompt.slice(at, at + n), { allLogits: true });
      logits.set(out.logits, at * v);
      const chosen = chosenExperts(out.routing.map((r) => r.plan));
      chosen.forEach((layer, l) => (plans[l] = [...(plans[l] ?? []), ...layer]));
      at += n;
    }
    session.dispose();
  } finally {
    model.dispose();
  }
  return { logits, plans };
}

beforeAll(() => {
  // The reference once per case, shared by the backends.
  for (const c of cases) c.ref = referenceModelLogits(c.config, c.weights, c.prompt);
}, 300_000);

describe.each(cases)('$name: a 4096-token prompt in odd chunks', (c) => {
  it('is the configuration it says', () => {
    expect(CHUNKS.reduce((a, b) => a + b, 0)).toBe(T);
    if (c.config.modelType === 'gpt_oss') {
      expect(c.config.layerWindows).toEqual([128, null]);
      expect(c.config.attentionSinks).toBe(true);
    }
  });

  it.each(['cpu', 'onnx'])('%s: logits at positions 1, 1024 and 4096 within 2e-5 of the reference, same argmax; same experts everywhere', async (name) => {
    const { logits, plans } = await production(c, name);
    const v = c.config.vocabSize;
    const ref = c.ref!;
    const diffs = CHECKED.map((p) => maxAbsDiff(logits.subarray(p * v, (p + 1) * v), ref.logits.subarray(p * v, (p + 1) * v)));
    console.log(`[long context] ${c.name} on ${name}: max abs at positions 1 / 1024 / 4096: ${diffs.map((d) => d.toExponential(2)).join(' / ')}`);
    for (const d of diffs) expect(d).toBeLessThan(BOUND);
    for (const p of CHECKED) expect(argmax(logits, p * v, v)).toBe(argmax(ref.logits, p * v, v));
    expect(plans).toEqual(chosenExperts(ref.plans));
  }, 300_000);
});

describe('negative control at 4096 tokens', () => {
  it('a reference that ignores gpt-oss\'s window misses the cpu logits at position 4096 by far more than the bound', async () => {
    const c = cases[1];
    const { logits } = await production(c, 'cpu');
    const wrong = referenceModelLogits({ ...c.config, layerWindows: undefined }, c.weights, c.prompt);
    const v = c.config.vocabSize;
    const diff = maxAbsDiff(logits.subarray((T - 1) * v, T * v), wrong.logits.subarray((T - 1) * v, T * v));
    console.log(`[long context] negative control (window ignored): max abs at position 4096 ${diff.toExponential(2)}`);
    expect(diff).toBeGreaterThan(100 * BOUND);
  }, 300_000);
});
