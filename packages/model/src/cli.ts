#!/usr/bin/env node
/**
 * `moe-run`: generate text from a Hugging Face MoE model folder on any backend.
 *
 *   moe-run [generate] --model DIR|FILE.gguf --prompt "..." [--chat] [--backend onnx,cpu] [--dtype q8_0] ...
 *   moe-run make-tiny DIR [--type mixtral] [--seed 1]     (a seeded random checkpoint to try)
 *   moe-run make-synthetic DIR [--models all] [--seed 1]  (real-shape synthetic GGUF files, GBs: use a temp folder)
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DTYPES, errorMessage, type DType, type ElementDType } from '@moe-runtime/core';
import { describeBackendChoice } from './backend-choice.js';
import { importBackends } from './backends.js';
import type { GenerationStats } from './generate.js';
import { SYNTHETIC_MODELS, writeSyntheticGguf } from './gguf/synthetic-gguf.js';
import { DEFAULT_MODEL_TYPE } from './architectures/registry.js';
import { MODEL_TYPES, type ModelType } from './model-config.js';
import { formatGiB, peakRssBytes } from './model-memory.js';
import { TextModel } from './text-model.js';
import { writeTinyCheckpoint } from './tiny-checkpoint.js';

function intArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer`);
    return n;
  };
}

function numArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

interface RunOptions {
  model: string;
  prompt: string;
  chat?: boolean;
  backend?: string;
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stop: string[];
  dtype?: DType;
}

function printLoad(model: TextModel): void {
  const m = model.memory;
  const backend = model.model.backend;
  const resident = backend.memory?.residentBytes;
  const converted = model.load.converted.length ? `; ${model.load.converted.length} tensors converted at load` : '';
  process.stderr.write(
    `loaded ${model.load.format} checkpoint in ${(model.load.loadMs / 1000).toFixed(1)} s: weights ${formatGiB(model.weightBytes)} as held${converted}; ` +
      `backend ${backend.name} ${formatGiB(m.backendBytes)} (${m.backendReported ? 'as it reports' : 'as stored; it does not report'}${resident === undefined ? '' : `, holds ${formatGiB(resident)} now`}), ` +
      `host ${formatGiB(m.hostBytes)}; peak RSS ${formatGiB(model.load.peakRssBytes)}\n`,
  );
  process.stderr.write(`${describeBackendChoice(model.model.backend.name, model.load.backends, model.load.backendRule)}\n`);
}

function printStats(stats: GenerationStats, model: TextModel): void {
  const err = process.stderr;
  err.write(`\n\n--- ${model.model.backend.name} (${model.model.backend.engine}), weights ${(model.weightBytes / 2 ** 20).toFixed(1)} MiB as held, peak RSS ${formatGiB(peakRssBytes())}\n`);
  err.write(`prefill: ${stats.promptTokens} tokens in ${stats.prefillMs.toFixed(1)} ms = ${stats.prefillTokensPerSecond.toFixed(1)} tokens/s\n`);
  err.write(`decode:  ${stats.completionTokens} tokens, ${stats.decodeTokensPerSecond.toFixed(2)} tokens/s; first token after ${stats.timeToFirstTokenMs.toFixed(1)} ms; finish: ${stats.finishReason}\n`);
  err.write('routing (rows per expert, max/mean load):\n');
  stats.tokensPerExpert.forEach((load, l) => {
    const mean = load.reduce((s, v) => s + v, 0) / load.length;
    err.write(`  layer ${String(l).padStart(2)}: ${load.join(' ')}   max/mean ${(Math.max(...load) / mean).toFixed(2)}\n`);
  });
}

async function run(o: RunOptions): Promise<void> {
  for (const failed of await importBackends()) process.stderr.write(`warning: ${failed.reason}\n`);
  const tm = await TextModel.load(o.model, { backend: o.backend ? o.backend.split(',').map((s) => s.trim()) : undefined, dtype: o.dtype });
  printLoad(tm);
  const options = { maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed, stop: o.stop };
  const stream = o.chat ? tm.chat([{ role: 'user', content: o.prompt }], options) : tm.complete(o.prompt, options);
  let r = await stream.next();
  while (!r.done) {
    process.stdout.write(r.value.text);
    r = await stream.next();
  }
  printStats(r.value, tm);
  tm.dispose();
  await tm.model.backend.dispose();
}

const program = new Command('moe-run').description(
  `Generate text with an MoE model (${MODEL_TYPES.join(', ')}) from a GGUF file or a Hugging Face folder on a moe-runtime backend`,
);

program
  .command('generate', { isDefault: true })
  .description('stream a completion (the default command)')
  .requiredOption('-m, --model <path>', 'a GGUF file (or the first shard of a split one), or a Hugging Face folder: config.json, *.safetensors, tokenizer.json')
  .requiredOption('-p, --prompt <text>', 'prompt text')
  .option('--chat', 'treat the prompt as a user message and apply the chat template')
  .option('-b, --backend <names>', 'backend name(s) in order of preference, comma-separated: the first that starts and fits (default: of all, the one that holds the model in the fewest bytes)')
  .option('-n, --max-tokens <n>', 'most tokens to generate', intArg('--max-tokens'), 128)
  .option('-t, --temperature <t>', 'sampling temperature (0 = greedy)', numArg('--temperature'), 0)
  .option('--top-k <k>', 'sample from the k most likely tokens', intArg('--top-k'))
  .option('--top-p <p>', 'nucleus sampling mass', numArg('--top-p'))
  .option('--seed <n>', 'sampling seed', intArg('--seed'))
  .option('--stop <text>', 'stop string (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .addOption(new Option('--dtype <dtype>', 'store the weight matrices in this format, converting at load (norms, biases, routers keep theirs)').choices([...DTYPES]))
  .action(run);

program
  .command('make-tiny')
  .description('write a seeded random tiny checkpoint folder (for trying the runtime without a download)')
  .argument('<dir>', 'output folder')
  .addOption(new Option('--type <type>', 'model type').choices([...MODEL_TYPES]).default(DEFAULT_MODEL_TYPE))
  .option('--seed <n>', 'seed', intArg('--seed'), 1)
  .addOption(new Option('--dtype <dtype>', 'storage dtype').choices(['float32', 'float16', 'bfloat16']).default('float32'))
  .action(async (dir: string, o: { type: ModelType; seed: number; dtype: ElementDType }) => {
    const { config } = await writeTinyCheckpoint(dir, { modelType: o.type, seed: o.seed, dtype: o.dtype });
    console.log(`wrote a ${config.modelType} checkpoint (${config.numLayers} layers, D=${config.hiddenSize}, E=${config.moe.numExperts}) to ${dir}`);
  });

program
  .command('make-synthetic')
  .description('write seeded synthetic GGUF checkpoints with the exact shapes and formats of real MoE models (GBs each: use a temporary folder)')
  .argument('<dir>', 'output folder')
  .option('--models <ids>', `comma-separated ids, or all: ${SYNTHETIC_MODELS.map((m) => m.id).join(', ')}`, 'all')
  .option('--seed <n>', 'seed', intArg('--seed'), 1)
  .action(async (dir: string, o: { models: string; seed: number }) => {
    const ids = o.models === 'all' ? SYNTHETIC_MODELS.map((m) => m.id) : o.models.split(',').map((s) => s.trim());
    const unknown = ids.filter((id) => !SYNTHETIC_MODELS.some((m) => m.id === id));
    if (unknown.length) throw new InvalidArgumentError(`unknown model id(s) ${unknown.join(', ')}; expected ${SYNTHETIC_MODELS.map((m) => m.id).join(', ')}`);
    await mkdir(dir, { recursive: true });
    for (const id of ids) {
      const model = SYNTHETIC_MODELS.find((m) => m.id === id)!;
      const r = await writeSyntheticGguf(join(dir, `${id}.gguf`), model, o.seed, (i, n) => {
        if (i % 50 === 0 || i === n) process.stderr.write(`\r${id}: tensor ${i}/${n}`);
      });
      const formats = Object.entries(r.formats).map(([f, n]) => `${n} ${f}`).join(', ');
      process.stderr.write('\n');
      console.log(`${r.path}: ${model.description}, ${(r.parameters / 1e9).toFixed(2)}B parameters, ${(r.bytes / 1e9).toFixed(2)} GB of tensors (${formats}), written in ${(r.ms / 1000).toFixed(1)} s`);
    }
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`moe-run: ${errorMessage(err)}\n`);
  process.exit(1);
});
