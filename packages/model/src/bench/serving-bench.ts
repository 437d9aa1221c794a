/**
 * Continuous-batching benchmark (a script, not a test): concurrent generations on the seeded
 * 428M Mixtral-shaped f32 model (D=1024, F=3584, 4 layers, E=8, k=2; the attention bench's
 * model) through `generate` + one `ContinuousBatcher`, the server's generation path without
 * HTTP. In one run:
 *
 * - 1, 2, 4, 8, 16 concurrent streams (greedy, fresh random prompts): total decode tokens/s,
 *   time to first token p50/p99, inter-token latency p50/p99;
 * - the same with a long prompt (4096 tokens) arriving once the streams decode: the running
 *   streams' inter-token p99 while it is fed, against the run without it;
 * - llama.cpp (node-llama-cpp, the same weights as an F32 GGUF) decoding the same numbers of
 *   sequences in one context (its batched decoding).
 *
 *   node dist/bench/serving-bench.js [--backend cpu] [--streams 1,2,4,8,16] [--prompt 64]
 *     [--tokens 64] [--long 4096] [--long-streams 8] [--prefill-per-step adaptive|N] [--max-slowdown 1.8] [--threads 2]
 *     [--no-llama] [--json FILE]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { createRng, disposeAllBackends, errorMessage, getBackend } from '@moe-runtime/core';
import { importBackends } from '../backends.js';
import { ContinuousBatcher, type ContinuousBatcherOptions, type ForwardStepper } from '../continuous-batcher.js';
import { generate } from '../generate.js';
import { parseModelConfig, type ModelConfig } from '../model-config.js';
import { MoEModel } from '../moe-model.js';
import { randomModelWeights, tinyConfigJson } from '../tiny-checkpoint.js';
import { tinyTokenizerJson } from '../tiny-tokenizer.js';
import { ModelTokenizer } from '../tokenizer.js';
import { exportGguf, LlamaCppBatch, loadNodeLlamaCpp } from './llama-cpp.js';

const list = (v: string): number[] => v.split(',').map(Number);
const prefillOption = (v: string): number | 'adaptive' => (v === 'adaptive' ? v : Number(v));
const program = new Command('serving-bench')
  .option('--backend <name>', 'backend to run the model on', 'cpu')
  .option('--streams <list>', 'concurrent stream counts', list, [1, 2, 4, 8, 16])
  .option('--prompt <n>', 'prompt tokens of each stream', Number, 64)
  .option('--tokens <n>', 'tokens each stream generates', Number, 64)
  .option('--long <n>', 'tokens of the long prompt that arrives mid-run (0: skip)', Number, 4096)
  .option('--long-streams <n>', 'streams running when the long prompt arrives', Number, 8)
  .option('--max-slowdown <x>', 'with the adaptive budget: longest mixed step as a multiple of a decode step', Number, 1.8)
  .option('--prefill-per-step <n>', "the batcher's prompt tokens per step while others decode: a number, or adaptive (chosen from measured step times)", prefillOption, 'adaptive' as const)
  .option('--threads <n>', 'llama.cpp threads', Number, 2)
  .option('--no-llama', 'skip llama.cpp')
  .option('--json <file>', 'write the results as JSON')
  .parse();
const opts = program.opts<{ backend: string; streams: number[]; prompt: number; tokens: number; long: number; longStreams: number; prefillPerStep: number | 'adaptive'; maxSlowdown: number; threads: number; llama: boolean; json?: string }>();

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

interface StreamTimes {
  /** ms from the stream's start to its first token. */
  readonly ttft: number;
  /** Wall-clock times (ms) of its tokens after the first. */
  readonly tokenAt: number[];
  readonly tokens: number;
}

/** How one benchmark stream runs (beyond its prompt). */
interface StreamOptions {
  readonly maxTokens: number;
  /** Ends the stream early (its generation is aborted; what it made so far counts). */
  readonly signal?: AbortSignal;
  /** Called when the stream's first token arrives. */
  readonly onFirst?: () => void;
}

/** The batcher's options from the command line. */
function batcherOptions(): ContinuousBatcherOptions {
  return { prefillTokensPerStep: opts.prefillPerStep, prefillBudget: { maxSlowdown: opts.maxSlowdown } };
}

/**
 * Runs one greedy generation through the batcher, recording when each token is made: the moment
 * the forward step that produced it finished (every forward call of a generation gives one
 * sampled token). Timing the yielded text chunks instead would time the detokenizer's holdback:
 * text that ends inside a UTF-8 sequence (frequent with random ids over a byte-level vocabulary)
 * waits for the next token, so a chunk then carries two tokens after a two-step gap.
 */
async function stream(model: MoEModel, tokenizer: ModelTokenizer, batcher: ContinuousBatcher, prompt: number[], o: StreamOptions): Promise<StreamTimes> {
  const t0 = performance.now();
  const at: number[] = [];
  const stepper: ForwardStepper = {
    forward: async (session, tokens, options) => {
      const step = await batcher.forward(session, tokens, options);
      at.push(performance.now());
      if (at.length === 1) o.onFirst?.();
      return step;
    },
  };
  const gen = generate(model, tokenizer, prompt, { maxTokens: o.maxTokens, temperature: 0, stepper, signal: o.signal });
  try {
    for (;;) {
      const r = await gen.next();
      if (r.done) break;
    }
  } catch (err) {
    if (!o.signal?.aborted) throw err;
  }
  return { ttft: at[0] - t0, tokenAt: at, tokens: at.length };
}

/** Gaps between consecutive tokens of each stream, within [from, to) when given. */
function gaps(runs: readonly StreamTimes[], from = -Infinity, to = Infinity): number[] {
  const out: number[] = [];
  for (const r of runs) for (let i = 1; i < r.tokenAt.length; i++) if (r.tokenAt[i] >= from && r.tokenAt[i] < to) out.push(r.tokenAt[i] - r.tokenAt[i - 1]);
  return out;
}

interface StreamRow {
  streams: number;
  totalTps: number;
  ttftP50: number;
  ttftP99: number;
  itlP50: number;
  itlP99: number;
  stepsPerToken: number;
  llamaTotalTps?: number;
}

async function runStreams(model: MoEModel, tokenizer: ModelTokenizer, n: number, prompt: () => number[]): Promise<StreamRow> {
  const batcher = new ContinuousBatcher(model, batcherOptions());
  const runs = await Promise.all(Array.from({ length: n }, () => stream(model, tokenizer, batcher, prompt(), { maxTokens: opts.tokens })));
  // Decode rate: tokens after each stream's first over the time from the first first-token on.
  const firstAll = Math.min(...runs.map((r) => r.tokenAt[0]));
  const decoded = runs.reduce((s, r) => s + r.tokens - 1, 0);
  const end = Math.max(...runs.map((r) => r.tokenAt.at(-1)!));
  const c = batcher.counters;
  return {
    streams: n,
    totalTps: decoded / ((end - firstAll) / 1000),
    ttftP50: pct(runs.map((r) => r.ttft), 50),
    ttftP99: pct(runs.map((r) => r.ttft), 99),
    itlP50: pct(gaps(runs), 50),
    itlP99: pct(gaps(runs), 99),
    stepsPerToken: c.steps / runs.reduce((s, r) => s + r.tokens, 0),
  };
}

interface LongRow {
  streams: number;
  longPrompt: number;
  itlP99Without: number;
  itlP99During: number;
  itlP50During: number;
  longTtftMs: number;
  mixedSteps: number;
  /** Prompt tokens per step beside decodes when the long prompt was done (the adaptive budget's choice). */
  prefillTokensPerStep: number;
}

/** `n` streams decode; once all have a token, a long prompt arrives; inter-token latency while it is fed vs a run without it. */
async function runLong(model: MoEModel, tokenizer: ModelTokenizer, n: number, prompt: () => number[], longPrompt: number[]): Promise<LongRow> {
  const tokens = Math.max(opts.tokens, 48);
  const plain = new ContinuousBatcher(model, batcherOptions());
  const without = await Promise.all(Array.from({ length: n }, () => stream(model, tokenizer, plain, prompt(), { maxTokens: tokens })));
  const batcher = new ContinuousBatcher(model, batcherOptions());
  let started!: () => void;
  const allDecoding = new Promise<void>((r) => (started = r));
  let firsts = 0;
  // The streams run through the long prompt's whole prefill (however many steps the budget
  // makes of it), and stop once it is done.
  const stop = new AbortController();
  const maxTokens = model.defaultContextLength - opts.prompt - 1;
  const onFirst = (): void => {
    if (++firsts === n) started();
  };
  const running = Array.from({ length: n }, () => stream(model, tokenizer, batcher, prompt(), { maxTokens, signal: stop.signal, onFirst }));
  await allDecoding;
  const t0 = performance.now();
  const long = await stream(model, tokenizer, batcher, longPrompt, { maxTokens: 1 });
  const t1 = t0 + long.ttft;
  stop.abort(new Error('long prompt done'));
  const runs = await Promise.all(running);
  const during = gaps(runs, t0, t1);
  return {
    streams: n,
    longPrompt: longPrompt.length,
    itlP99Without: pct(gaps(without), 99),
    itlP99During: pct(during, 99),
    itlP50During: pct(during, 50),
    longTtftMs: long.ttft,
    mixedSteps: batcher.counters.mixedSteps,
    prefillTokensPerStep: batcher.prefillTokensPerStep,
  };
}

async function runLlama(config: ModelConfig, weights: ReturnType<typeof randomModelWeights>, rows: StreamRow[], prompt: () => number[]): Promise<string> {
  const { lib, reason } = await loadNodeLlamaCpp();
  if (!lib) return `llama.cpp skipped: ${reason}`;
  const dir = await mkdtemp(join(tmpdir(), 'moe-serving-bench-'));
  try {
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson(config.vocabSize)));
    console.error('writing the F32 GGUF...');
    const gguf = await exportGguf(dir, config, weights);
    for (const row of rows) {
      console.error(`llama.cpp ${row.streams} sequences...`);
      const b = await LlamaCppBatch.open(lib, gguf, { threads: opts.threads, sequences: row.streams, contextSize: opts.prompt + opts.tokens + 8 });
      const prompts = Array.from({ length: row.streams }, prompt);
      const ms = await b.timeDecode(prompts, opts.tokens - 1);
      row.llamaTotalTps = (row.streams * (opts.tokens - 1)) / (ms / 1000);
      await b.dispose();
    }
    return `llama.cpp: node-llama-cpp, F32 GGUF, F32 KV cache, ${opts.threads} threads, all sequences in one context`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const f1 = (x: number | undefined): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(1) : '-');

/** The issue's goals, as ratios of this run's own figures. */
interface GoalRatios {
  /** Total decode tok/s at 8 streams over 1 stream's (goal at least 2.5). */
  readonly aggregate8over1?: number;
  /** Total decode tok/s at 8 streams over llama.cpp's at 8 sequences (goal above 1). */
  readonly vsLlama8?: number;
  /** Forward steps per generated token at 8 streams (ideal 1/8). */
  readonly stepsPerToken8?: number;
  /** The running streams' inter-token p99 while the long prompt is fed over without it (goal at most 2). */
  readonly longP99Ratio?: number;
}

function goalsOf(rows: readonly StreamRow[], long: LongRow | undefined): { ratios: GoalRatios; lines: string[] } {
  const one = rows.find((r) => r.streams === 1);
  const eight = rows.find((r) => r.streams === 8);
  const ratios: GoalRatios = {
    aggregate8over1: one && eight ? eight.totalTps / one.totalTps : undefined,
    vsLlama8: eight?.llamaTotalTps ? eight.totalTps / eight.llamaTotalTps : undefined,
    stepsPerToken8: eight?.stepsPerToken,
    longP99Ratio: long ? long.itlP99During / long.itlP99Without : undefined,
  };
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const lines: string[] = [];
  const r = ratios;
  if (r.aggregate8over1 !== undefined) lines.push(`8 streams / 1 stream total decode tok/s: ${r.aggregate8over1.toFixed(2)}x (goal >= 2.5x: ${verdict(r.aggregate8over1 >= 2.5)})`);
  if (r.vsLlama8 !== undefined) lines.push(`8 streams / llama.cpp 8 sequences: ${r.vsLlama8.toFixed(2)}x (goal > 1x: ${verdict(r.vsLlama8 > 1)})`);
  if (r.stepsPerToken8 !== undefined) lines.push(`steps per token at 8 streams: ${r.stepsPerToken8.toFixed(3)} (ideal 0.125: every step carries all 8)`);
  if (r.longP99Ratio !== undefined) lines.push(`long prompt: running streams' inter-token p99 while it is fed / without: ${r.longP99Ratio.toFixed(2)}x (goal <= 2x: ${verdict(r.longP99Ratio <= 2)})`);
  return { ratios, lines };
}

async function main(): Promise<void> {
  await importBackends();
  const context = Math.max(4096, opts.long + 64, opts.prompt + opts.tokens + 512);
  const json = { ...tinyConfigJson({ modelType: 'mixtral', hiddenSize: 1024, numHeads: 8, numKvHeads: 2, numLayers: 4, vocabSize: 32000, numExperts: 8, topK: 2, ffnSize: 3584 }), max_position_embeddings: context };
  const config = parseModelConfig(json);
  console.error('generating seeded weights...');
  const weights = randomModelWeights(config, 2024);
  const tokenizer = ModelTokenizer.fromJson(tinyTokenizerJson(config.vocabSize));
  const rng = createRng(11);
  const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + rng.int(config.vocabSize - 3));
  const prompt = (): number[] => tokens(opts.prompt);
  const backend = await getBackend(opts.backend);
  const model = await MoEModel.create(config, weights, backend);
  await model.forward(model.newSession({ contextLength: 16 }), tokens(8)); // warm-up
  const rows: StreamRow[] = [];
  for (const n of opts.streams) {
    console.error(`${n} streams...`);
    rows.push(await runStreams(model, tokenizer, n, prompt));
  }
  const long = opts.long > 0 ? await runLong(model, tokenizer, opts.longStreams, prompt, tokens(opts.long)) : undefined;
  const engine = backend.engine;
  model.dispose();
  await disposeAllBackends();
  const llamaNote = opts.llama ? await runLlama(config, weights, rows, prompt) : 'llama.cpp skipped (--no-llama)';

  console.log(`\nContinuous batching, Mixtral-shaped 428M f32 model (D=1024, F=3584, 4 layers, E=8, k=2); ${opts.backend}: ${engine}`);
  console.log(`${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores, Node ${process.version}; prompts ${opts.prompt} tokens, ${opts.tokens} generated per stream, ${opts.prefillPerStep === 'adaptive' ? `adaptive prompt tokens per step beside decodes (mixed step within ${opts.maxSlowdown}x a decode step, at least 8)` : `${opts.prefillPerStep} prompt tokens per step beside decodes`}; ${llamaNote}\n`);
  console.log('| streams | total decode tok/s | vs 1 | TTFT p50 ms | TTFT p99 ms | inter-token p50 ms | inter-token p99 ms | steps per token | llama.cpp total tok/s | vs 1 |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const base = rows[0];
  for (const r of rows) {
    const lg = r.llamaTotalTps && base.llamaTotalTps ? `${(r.llamaTotalTps / base.llamaTotalTps).toFixed(2)}x` : '-';
    console.log(`| ${r.streams} | ${f1(r.totalTps)} | ${(r.totalTps / base.totalTps).toFixed(2)}x | ${f1(r.ttftP50)} | ${f1(r.ttftP99)} | ${f1(r.itlP50)} | ${f1(r.itlP99)} | ${r.stepsPerToken.toFixed(3)} | ${f1(r.llamaTotalTps)} | ${lg} |`);
  }
  if (long) {
    console.log(`\n| streams running | long prompt | their inter-token p99 without | p99 while it is fed | ratio | p50 while fed | long prompt's TTFT ms | mixed steps | prompt tokens per step at the end |`);
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    console.log(`| ${long.streams} | ${long.longPrompt} | ${f1(long.itlP99Without)} | ${f1(long.itlP99During)} | ${(long.itlP99During / long.itlP99Without).toFixed(2)}x | ${f1(long.itlP50During)} | ${f1(long.longTtftMs)} | ${long.mixedSteps} | ${long.prefillTokensPerStep} |`);
  }
  const goals = goalsOf(rows, long);
  console.log('');
  for (const line of goals.lines) console.log(line);
  if (opts.json) await writeFile(opts.json, JSON.stringify({ date: new Date().toISOString(), engine, options: opts, rows, long, ratios: goals.ratios }, null, 2));
}

main().catch((err: unknown) => {
  console.error(errorMessage(err));
  process.exit(1);
});
