/**
 * Continuous batching: concurrent generations through one ContinuousBatcher share forward
 * passes (fewer steps than calls, several sequences a step), a long prompt is fed in chunks
 * mixed with the running decodes, and every sequence gets exactly what it gets alone (the cpu
 * backend and host attention are bit for bit independent of batching, see decoder-step.test).
 */
import '@moe-runtime/backend-cpu';
import { ContextLengthError, createRng, getBackend, type Backend } from '@moe-runtime/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ContinuousBatcher,
  generate,
  MoEModel,
  parseModelConfig,
  randomModelWeights,
  tinyConfigJson,
  ModelTokenizer,
  tinyTokenizerJson,
  type GeneratedChunk,
  type GenerateOptions,
  type GenerationStats,
  type StepEntry,
} from '../src/index.js';

let backend: Backend;
let model: MoEModel;
const rng = createRng(4242);
const randomTokens = (n: number): number[] => Array.from({ length: n }, () => 3 + rng.int(380));

beforeAll(async () => {
  backend = await getBackend('cpu');
  const config = parseModelConfig(tinyConfigJson({ modelType: 'mixtral', hiddenSize: 128, numHeads: 4, numKvHeads: 2, vocabSize: 384 }));
  model = await MoEModel.create(config, randomModelWeights(config, 91), backend);
});

async function collect(gen: AsyncGenerator<GeneratedChunk, GenerationStats, void>, onFirst?: () => void): Promise<{ ids: number[]; stats: GenerationStats }> {
  const ids: number[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { ids, stats: r.value };
    ids.push(...r.value.tokenIds);
    onFirst?.();
  }
}

const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(384));

describe('ContinuousBatcher', () => {
  it('runs concurrent generations in shared steps and gives each the tokens it gets alone', async () => {
    const prompts = [randomTokens(5), randomTokens(31), randomTokens(12), randomTokens(150)];
    const options: GenerateOptions[] = [{ temperature: 0 }, { temperature: 0.9, seed: 3 }, { temperature: 1, topP: 0.8, seed: 8 }, { temperature: 0 }].map((o) => ({ ...o, maxTokens: 20, stopTokenIds: [] }));
    const alone = [];
    for (let i = 0; i < prompts.length; i++) alone.push(await collect(generate(model, tokenizer, prompts[i], options[i])));
    const batcher = new ContinuousBatcher(model, { prefillTokensPerStep: 16 });
    const steps: StepEntry[][] = [];
    // Records every step (an own property shadows the prototype's method for this test).
    const original = model.step.bind(model);
    model.step = async (entries) => {
      steps.push([...entries]);
      return original(entries);
    };
    try {
      // The long prompt arrives once the others decode (after the first streamed token).
      let firstToken!: () => void;
      const decoding = new Promise<void>((r) => (firstToken = r));
      const run = (i: number) => collect(generate(model, tokenizer, prompts[i], { ...options[i], stepper: batcher }), i === 0 ? firstToken : undefined);
      const late = decoding.then(() => run(3));
      const together = [...(await Promise.all([0, 1, 2].map(run))), await late];
      for (let i = 0; i < prompts.length; i++) {
        expect(together[i].ids).toEqual(alone[i].ids);
        expect(together[i].ids.length).toBeGreaterThan(0);
        expect(together[i].stats.completionTokens).toBe(alone[i].stats.completionTokens);
        // Per-sequence routing counts, not the whole step's.
        expect(together[i].stats.tokensPerExpert).toEqual(alone[i].stats.tokensPerExpert);
      }
    } finally {
      delete (model as unknown as { step?: unknown }).step;
    }
    const c = batcher.counters;
    const calls = alone.reduce((n, r) => n + 1 + Math.max(0, r.stats.completionTokens - 1), 0);
    expect(c.steps).toBe(steps.length);
    expect(c.steps).toBeLessThan(calls);
    expect(c.sequences / c.steps).toBeGreaterThan(2);
    // While others decode, a step feeds at most 16 prompt tokens; the 150-token prompt arrived
    // once the others decoded, so it was chunked and mixed with decode rows.
    expect(c.mixedSteps).toBeGreaterThan(0);
    for (const entries of steps) {
      const decoding = entries.filter((e) => e.tokens.length === 1).length;
      const prompt = entries.reduce((n, e) => n + (e.tokens.length > 1 ? e.tokens.length : 0), 0);
      if (decoding > 0) expect(prompt).toBeLessThanOrEqual(16);
    }
  });

  it('streams that arrive together are prefilled in one step and decode in lockstep: one step per token', async () => {
    const n = 8;
    const maxTokens = 12;
    // 8 x 40 = 320 prompt tokens: more than one idle chunk (256), so one step holds them only with idleStepTokens.
    const prompts = Array.from({ length: n }, () => randomTokens(40));
    const options: GenerateOptions[] = prompts.map((_, i) => ({ maxTokens, temperature: i % 2 ? 0.8 : 0, seed: 50 + i }));
    const alone: { ids: number[]; stats: GenerationStats }[] = [];
    for (let i = 0; i < n; i++) alone.push(await collect(generate(model, tokenizer, prompts[i], options[i])));
    // The scenario needs every stream to run to maxTokens (no EOS sampled): then lockstep means
    // 1 prefill step + (maxTokens - 1) decode steps, each with all n sequences.
    expect(alone.map((r) => r.stats.completionTokens)).toEqual(new Array(n).fill(maxTokens));
    const together = async (batcher: ContinuousBatcher) => Promise.all(prompts.map((p, i) => collect(generate(model, tokenizer, p, { ...options[i], stepper: batcher }))));
    const batcher = new ContinuousBatcher(model);
    const runs = await together(batcher);
    runs.forEach((r, i) => expect(r.ids).toEqual(alone[i].ids));
    expect(batcher.counters.steps).toBe(maxTokens);
    expect(batcher.counters.sequences).toBe(n * maxTokens);
    expect(batcher.counters.rows).toBe(n * (prompts[0].length + maxTokens - 1));
    // Negative control: an idle step that holds only two of the prompts staggers the streams
    // (the others join beside decodes at the prefill budget), so the same work takes more steps.
    const staggered = new ContinuousBatcher(model, { idleStepTokens: 80, prefillTokensPerStep: 8 });
    const late = await together(staggered);
    late.forEach((r, i) => expect(r.ids).toEqual(alone[i].ids));
    expect(staggered.counters.steps).toBeGreaterThan(maxTokens + 4);
  });

  it('a failing call fails alone: the others of its step still get their results', async () => {
    const batcher = new ContinuousBatcher(model);
    const small = model.newSession({ contextLength: 8 });
    const a = model.newSession();
    const b = model.newSession();
    const pa = randomTokens(6);
    const pb = randomTokens(9);
    try {
      const [ra, rbad, rb] = await Promise.allSettled([batcher.forward(a, pa), batcher.forward(small, randomTokens(9)), batcher.forward(b, pb)]);
      expect(rbad.status).toBe('rejected');
      expect((rbad as PromiseRejectedResult).reason).toBeInstanceOf(ContextLengthError);
      expect(small.position).toBe(0);
      const wantA = await model.forward(model.newSession(), pa);
      const wantB = await model.forward(model.newSession(), pb);
      expect(ra.status === 'fulfilled' && Array.from(ra.value.logits)).toEqual(Array.from(wantA.logits));
      expect(rb.status === 'fulfilled' && Array.from(rb.value.logits)).toEqual(Array.from(wantB.logits));
    } finally {
      for (const s of [small, a, b]) s.dispose();
    }
  });

  it('an aborted call is dropped before it runs; a second call on a waiting session is refused', async () => {
    const batcher = new ContinuousBatcher(model);
    const s = model.newSession();
    const t = model.newSession();
    const ac = new AbortController();
    const dropped = batcher.forward(s, randomTokens(4), { signal: ac.signal });
    await expect(batcher.forward(s, randomTokens(2))).rejects.toThrow(/already has a forward call waiting/);
    const kept = batcher.forward(t, randomTokens(4));
    ac.abort(new Error('client went away'));
    await expect(dropped).rejects.toThrow('client went away');
    expect((await kept).rows).toBe(1);
    expect(s.position).toBe(0);
    expect(t.position).toBe(4);
    s.dispose();
    t.dispose();
  });

  it('generate disposes its session however it ends', async () => {
    const made: { disposed: boolean }[] = [];
    const newSession = model.newSession.bind(model);
    model.newSession = (o) => {
      const s = newSession(o);
      made.push(s);
      return s;
    };
    try {
      await collect(generate(model, tokenizer, randomTokens(5), { maxTokens: 3, temperature: 0 }));
      const gen = generate(model, tokenizer, randomTokens(5), { maxTokens: 30, temperature: 0 });
      await gen.next();
      await gen.return(undefined as never);
    } finally {
      delete (model as unknown as { newSession?: unknown }).newSession;
    }
    expect(made).toHaveLength(2);
    expect(made.every((s) => s.disposed)).toBe(true);
  });

  it('refuses bad options with the field named', () => {
    expect(() => new ContinuousBatcher(model, { prefillTokensPerStep: 0 })).toThrow(/prefillTokensPerStep/);
    expect(() => new ContinuousBatcher(model, { idlePrefillChunk: 1.5 })).toThrow(/idlePrefillChunk/);
    expect(() => new ContinuousBatcher(model, { idleStepTokens: 0 })).toThrow(/idleStepTokens/);
  });
});
