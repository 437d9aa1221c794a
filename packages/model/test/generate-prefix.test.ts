/**
 * Generation from a reused prefix: `generate` / `generateChoices` started from a session that a
 * PrefixCache forked from an earlier prompt (option `session`) give exactly the tokens of a fresh
 * generation, greedy and seeded, alone and through a ContinuousBatcher; a session that does not
 * hold a prefix of the prompt is refused (and disposed).
 */
import '@moe-runtime/backend-cpu';
import { ConfigError, createRng, getBackend, type Backend } from '@moe-runtime/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ContinuousBatcher,
  generate,
  generateChoices,
  ModelTokenizer,
  MoEModel,
  parseModelConfig,
  PrefixCache,
  randomModelWeights,
  tinyConfigJson,
  tinyTokenizerJson,
  type GeneratedChunk,
  type GenerateOptions,
  type GenerationStats,
} from '../src/index.js';

let backend: Backend;
let model: MoEModel;
const rng = createRng(5151);
const randomTokens = (n: number): number[] => Array.from({ length: n }, () => 3 + rng.int(380));
const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(384));

beforeAll(async () => {
  backend = await getBackend('cpu');
  const config = parseModelConfig(tinyConfigJson({ modelType: 'mixtral', hiddenSize: 128, numHeads: 4, numKvHeads: 2, vocabSize: 384 }));
  model = await MoEModel.create(config, randomModelWeights(config, 77), backend);
});

async function collect(gen: AsyncGenerator<GeneratedChunk, GenerationStats, void>): Promise<{ ids: number[]; stats: GenerationStats }> {
  const ids: number[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { ids, stats: r.value };
    ids.push(...r.value.tokenIds);
  }
}

const settings: GenerateOptions[] = [
  { temperature: 0, maxTokens: 24, stopTokenIds: [] },
  { temperature: 0.9, topP: 0.9, seed: 11, maxTokens: 24, stopTokenIds: [] },
];

describe('generate from a reused prefix', () => {
  for (const base of settings) {
    it(`gives the tokens of a fresh generation (${base.temperature === 0 ? 'greedy' : 'seeded'})`, async () => {
      const system = randomTokens(41);
      const first = [...system, ...randomTokens(9)];
      const second = [...system, ...randomTokens(14)];
      const cache = new PrefixCache(model, { maxBytes: 1 << 22, minTokens: 8 });
      // The first generation retains its prompt as soon as it is prefilled.
      const a = await collect(generate(model, tokenizer, first, { ...base, onPrefill: async (s) => void (await cache.retain(s)) }));
      expect(a.stats.reusedPromptTokens).toBe(0);
      expect(cache.stats.entries).toBe(1);
      const fresh = await collect(generate(model, tokenizer, second, base));
      const { session, reusedTokens } = await cache.startSession(second);
      expect(reusedTokens).toBe(41);
      const reused = await collect(generate(model, tokenizer, second, { ...base, session }));
      expect(reused.ids.length).toBeGreaterThan(0);
      expect(reused.ids).toEqual(fresh.ids);
      expect(reused.stats.reusedPromptTokens).toBe(41);
      expect(reused.stats.promptTokens).toBe(second.length);
      expect(session.disposed).toBe(true);
    });
  }

  it('retains a finished reply (onFinish) so the next chat turn reuses prompt and reply', async () => {
    const prompt = randomTokens(30);
    const cache = new PrefixCache(model, { maxBytes: 1 << 22, minTokens: 8 });
    const base: GenerateOptions = { temperature: 0, maxTokens: 12, stopTokenIds: [] };
    let heldAtFinish = -1;
    const turn1 = await collect(
      generate(model, tokenizer, prompt, {
        ...base,
        onPrefill: async (s) => void (await cache.retain(s)),
        onFinish: async (s) => {
          heldAtFinish = s.position;
          await cache.retain(s);
        },
      }),
    );
    expect(turn1.ids.length).toBe(12);
    // Every generated token but the last sampled one was fed back.
    expect(heldAtFinish).toBe(prompt.length + turn1.ids.length - 1);
    // The reply's prefix replaced the prompt's (it extends it): one entry.
    expect(cache.stats.entries).toBe(1);
    const turn2 = [...prompt, ...turn1.ids, ...randomTokens(6)];
    const fresh = await collect(generate(model, tokenizer, turn2, base));
    const { session, reusedTokens } = await cache.startSession(turn2);
    expect(reusedTokens).toBe(heldAtFinish);
    const reused = await collect(generate(model, tokenizer, turn2, { ...base, session }));
    expect(reused.ids).toEqual(fresh.ids);
    expect(reused.stats.reusedPromptTokens).toBe(heldAtFinish);
  });

  it('does not call onFinish for an aborted generation', async () => {
    const abort = new AbortController();
    let finished = 0;
    const gen = generate(model, tokenizer, randomTokens(20), { temperature: 0, maxTokens: 40, stopTokenIds: [], signal: abort.signal, onFinish: () => void finished++ });
    await gen.next();
    abort.abort();
    await expect(collect(gen)).rejects.toThrow();
    expect(finished).toBe(0);
  });

  it('gives the fresh tokens through a batcher beside another stream, and for every choice', async () => {
    const system = randomTokens(50);
    const prompt = [...system, ...randomTokens(7)];
    const cache = new PrefixCache(model, { maxBytes: 1 << 22, minTokens: 8 });
    const warm = model.newSession();
    await model.forward(warm, [...system, ...randomTokens(3)]);
    await cache.retain(warm);
    warm.dispose();
    const seeded = settings[1];
    const freshChoices = await Promise.all((await generateChoices(model, tokenizer, prompt, 3, seeded)).map(collect));
    const batcher = new ContinuousBatcher(model, { prefillTokensPerStep: 4 });
    const otherGen = generate(model, tokenizer, randomTokens(20), { ...settings[0], maxTokens: 40, stepper: batcher });
    await otherGen.next(); // decoding now: the reused prompt's rest is fed beside its steps
    const other = collect(otherGen);
    const { session, reusedTokens } = await cache.startSession(prompt);
    expect(reusedTokens).toBe(50);
    const reused = await Promise.all((await generateChoices(model, tokenizer, prompt, 3, { ...seeded, session, stepper: batcher })).map(collect));
    await other;
    expect(reused.map((r) => r.ids)).toEqual(freshChoices.map((r) => r.ids));
    expect(batcher.counters.mixedSteps).toBeGreaterThan(0);
  });

  it('refuses a session that does not hold a prefix of the prompt, and disposes it', async () => {
    const prompt = randomTokens(20);
    const other = model.newSession();
    await model.forward(other, [prompt[0] === 3 ? 4 : 3, ...prompt.slice(1, 10)]);
    const err = await generate(model, tokenizer, prompt, { session: other }).next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/session: token 0 is \d+, the prompt's is \d+; expected a session holding a prefix of the prompt/);
    expect(other.disposed).toBe(true);
    const whole = model.newSession();
    await model.forward(whole, prompt);
    await expect(generateChoices(model, tokenizer, prompt, 2, { session: whole })).rejects.toThrow(/session: holds 20 positions; expected fewer than the prompt's 20 tokens/);
    expect(whole.disposed).toBe(true);
  });
});
