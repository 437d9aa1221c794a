/**
 * The adaptive prefill budget: from measured step times (a fake clock, a cost model of decode
 * steps and prompt rows) it picks the chunk that keeps a mixed step within 1.8 decode steps,
 * never below its floor; a ContinuousBatcher using it feeds chunks of that size beside decodes.
 */
import '@moe-runtime/backend-cpu';
import { ConfigError, createRng, getBackend } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { ContinuousBatcher, MoEModel, parseModelConfig, PrefillBudget, randomModelWeights, tinyConfigJson, type StepEntry } from '../src/index.js';

describe('PrefillBudget', () => {
  it('starts at its initial budget, then fits a mixed step within maxSlowdown decode steps', () => {
    const b = new PrefillBudget();
    expect(b.tokens).toBe(0); // no decode step measured: the first step beside decodes is a probe
    expect(b.chunk).toBe(32);
    b.observe(4, 0, 10); // decode steps of 10 ms
    expect(b.tokens).toBe(32); // no prompt row measured yet
    b.observe(4, 32, 10 + 32 * 0.5); // 0.5 ms a prompt row
    // 0.8 * 10 ms / 0.5 ms = 16 rows
    expect(b.tokens).toBe(16);
    expect(b.state).toEqual({ tokens: 16, decodeStepMs: 10, prefillRowMs: 0.5 });
    // Cheaper rows: a larger chunk, up to the ceiling.
    for (let i = 0; i < 40; i++) b.observe(4, 16, 10 + 16 * 0.01);
    expect(b.chunk).toBe(256);
  });

  it('probes a decode-only step every probeEvery mixed steps, so the decode time stays measured', () => {
    const b = new PrefillBudget({ probeEvery: 3 });
    b.observe(1, 0, 10);
    b.observe(1, 32, 26);
    expect(b.tokens).toBe(16);
    b.observe(1, 16, 18);
    b.observe(1, 16, 18);
    expect(b.tokens).toBe(0); // three mixed steps: the next feeds no prompt rows
    b.observe(1, 0, 20); // decode steps got slower (longer contexts): a larger chunk fits
    expect(b.state.decodeStepMs).toBe(12.5);
    expect(b.tokens).toBe(20); // floor(0.8 * 12.5 / 0.5)
  });

  it('never goes below its floor, ignores idle prefills, and averages noisy measurements', () => {
    const b = new PrefillBudget({ minTokens: 8, smoothing: 0.5 });
    b.observe(0, 512, 1000); // an idle prefill: nothing to say about decodes
    expect(b.state.decodeStepMs).toBeUndefined();
    b.observe(2, 0, 10);
    b.observe(2, 0, 20);
    expect(b.state.decodeStepMs).toBe(15);
    b.observe(2, 32, 15 + 32 * 10); // very slow rows: the fit is 1, the floor wins
    expect(b.tokens).toBe(8);
    b.observe(2, 8, 5); // faster than a decode step (noise): counted as free rows, averaged
    expect(b.state.prefillRowMs).toBe(5);
    expect(b.tokens).toBe(8); // floor(0.8 * 15 / 5) = 2 -> 8
  });

  it('adopts a rising per-row cost at once (rows deeper into a prompt cost more) and averages falls', () => {
    const b = new PrefillBudget({ smoothing: 0.25 });
    b.observe(4, 0, 20); // decode steps of 20 ms: 16 ms of room at maxSlowdown 1.8
    b.observe(4, 32, 20 + 32 * 0.25);
    expect(b.tokens).toBe(64); // 16 / 0.25
    b.observe(4, 64, 20 + 64 * 0.5); // the prompt got deeper: rows cost twice as much
    expect(b.state.prefillRowMs).toBe(0.5);
    expect(b.tokens).toBe(32); // the next mixed step stays within 1.8x, not 2.6x
    b.observe(4, 32, 20 + 32 * 0.1); // a cheap step: averaged in, not adopted
    expect(b.state.prefillRowMs).toBeCloseTo(0.4, 12);
    expect(b.tokens).toBe(40);
    const slow = new PrefillBudget({ riseSmoothing: 0.25 });
    slow.observe(4, 0, 20);
    slow.observe(4, 32, 20 + 32 * 0.25);
    slow.observe(4, 64, 20 + 64 * 0.5);
    expect(slow.state.prefillRowMs).toBeCloseTo(0.3125, 12);
  });

  it('refuses bad settings naming the field', () => {
    expect(() => new PrefillBudget({ riseSmoothing: 1.5 })).toThrow(/prefillBudget\.riseSmoothing: expected a number in \(0, 1\], got 1\.5/);
    expect(() => new PrefillBudget({ maxSlowdown: 1 })).toThrow(ConfigError);
    expect(() => new PrefillBudget({ maxSlowdown: 1 })).toThrow(/prefillBudget\.maxSlowdown: expected a number above 1, got 1/);
    expect(() => new PrefillBudget({ minTokens: 0 })).toThrow(/prefillBudget\.minTokens/);
    expect(() => new PrefillBudget({ minTokens: 16, maxTokens: 8 })).toThrow(/prefillBudget\.maxTokens: expected an integer >= minTokens \(16\)/);
    expect(() => new PrefillBudget({ initialTokens: 1000 })).toThrow(/prefillBudget\.initialTokens/);
    expect(() => new PrefillBudget({ smoothing: 0 })).toThrow(/prefillBudget\.smoothing/);
    expect(() => new PrefillBudget({ probeEvery: 0 })).toThrow(/prefillBudget\.probeEvery/);
  });
});

describe('ContinuousBatcher with the adaptive budget', () => {
  it('feeds a long prompt beside decodes in the chunks the measured costs allow', async () => {
    const backend = await getBackend('cpu');
    const config = parseModelConfig(tinyConfigJson({ modelType: 'mixtral', hiddenSize: 64, numHeads: 4, numKvHeads: 2, vocabSize: 256 }));
    const model = await MoEModel.create(config, randomModelWeights(config, 17), backend);
    const rng = createRng(99);
    const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + rng.int(250));
    // Fake clock: a step costs 10 ms plus 0.5 ms a prompt row, so the fit is 0.8 * 10 / 0.5 = 16.
    let now = 0;
    const prompts: number[] = [];
    const original = model.step.bind(model);
    model.step = async (entries: readonly StepEntry[]) => {
      const decoding = entries.filter((e) => e.tokens.length === 1).length;
      const rows = entries.reduce((n, e) => n + (e.tokens.length > 1 ? e.tokens.length : 0), 0);
      if (decoding > 0) prompts.push(rows);
      now += 10 + 0.5 * rows;
      return original(entries);
    };
    const batcher = new ContinuousBatcher(model, { clock: () => now });
    const streams = [model.newSession(), model.newSession()];
    for (const s of streams) await model.forward(s, tokens(5));
    const decode = async (s: (typeof streams)[number], steps: number): Promise<void> => {
      for (let i = 0; i < steps; i++) await batcher.forward(s, tokens(1));
    };
    const long = model.newSession();
    const running = streams.map((s) => decode(s, 60));
    // Wait for one decode-only step, then the prompt arrives.
    await new Promise<void>((r) => setTimeout(r, 0));
    const prefilled = batcher.forward(long, tokens(400));
    await Promise.all([...running, prefilled]);
    const first = prompts.findIndex((n) => n > 0);
    const last = prompts.findLastIndex((n) => n > 0);
    const during = prompts.slice(first, last + 1);
    const mixed = during.filter((n) => n > 0);
    expect(mixed[0]).toBe(32); // before any prompt row was measured
    expect(mixed.slice(1, -1).every((n) => n === 16)).toBe(true);
    expect(mixed.length).toBeGreaterThan(16);
    // A decode-only probe after 16 mixed steps, while the prompt still waited.
    expect(during.indexOf(0)).toBe(16);
    expect(batcher.prefillTokensPerStep).toBe(16);
    expect(long.position).toBe(400);
    for (const s of [...streams, long]) s.dispose();
    model.dispose();
  });
});
