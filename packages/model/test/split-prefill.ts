/**
 * Shared by the architecture tests: production logits of every position with the prompt fed in
 * two calls (so the second attends through the KV cache), the experts each call chose, and the
 * max abs difference the checks against the reference are stated in.
 */
import type { Backend } from '@moe-runtime/core';
import { chosenExperts, MoEModel, type ModelConfig, type ModelWeights } from '../src/index.js';

/** Max abs difference of two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Logits of every position of `prompt`, prefilled as `[0, split)` then the rest, and the experts of both calls per layer. */
export async function splitPrefill(backend: Backend, c: ModelConfig, w: ModelWeights, prompt: readonly number[], split: number): Promise<{ logits: Float32Array; experts: number[][][] }> {
  const model = await MoEModel.create(c, w, backend);
  try {
    const session = model.newSession();
    const a = await model.forward(session, prompt.slice(0, split), { allLogits: true });
    const b = await model.forward(session, prompt.slice(split), { allLogits: true });
    const logits = new Float32Array(a.logits.length + b.logits.length);
    logits.set(a.logits);
    logits.set(b.logits, a.logits.length);
    const ea = chosenExperts(a.routing.map((r) => r.plan));
    const eb = chosenExperts(b.routing.map((r) => r.plan));
    return { logits, experts: ea.map((l, i) => [...l, ...eb[i]]) };
  } finally {
    model.dispose();
  }
}
