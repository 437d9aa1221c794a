#!/usr/bin/env node
/**
 * `moe-run`: generate text from a Hugging Face MoE model folder on any backend.
 *
 *   moe-run [generate] --model DIR --prompt "..." [--chat] [--backend onnx,cpu] [--max-tokens 128] ...
 *   moe-run make-tiny DIR [--type mixtral] [--seed 1]     (a seeded random checkpoint to try)
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { errorMessage, type DType, type ElementDType } from '@moe-runtime/core';
import { importBackends } from './backends.js';
import type { GenerationStats } from './generate.js';
import { MODEL_TYPES, type ModelType } from './model-config.js';
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

function printStats(stats: GenerationStats, model: TextModel): void {
  const err = process.stderr;
  err.write(`\n\n--- ${model.model.backend.name} (${model.model.backend.engine}), weights ${(model.weightBytes / 2 ** 20).toFixed(1)} MiB as stored\n`);
  err.write(`prefill: ${stats.promptTokens} tokens in ${stats.prefillMs.toFixed(1)} ms = ${stats.prefillTokensPerSecond.toFixed(1)} tokens/s\n`);
  err.write(`decode:  ${stats.completionTokens} tokens, ${stats.decodeTokensPerSecond.toFixed(2)} tokens/s; first token after ${stats.timeToFirstTokenMs.toFixed(1)} ms; finish: ${stats.finishReason}\n`);
  err.write('routing (rows per expert, max/mean load):\n');
  stats.tokensPerExpert.forEach((load, l) => {
    const mean = load.reduce((s, v) => s + v, 0) / load.length;
    err.write(`  layer ${String(l).padStart(2)}: ${load.join(' ')}   max/mean ${(Math.max(...load) / mean).toFixed(2)}\n`);
  });
}

async function run(o: RunOptions): Promise<void> {
  await importBackends();
  const tm = await TextModel.load(o.model, { backend: o.backend ? o.backend.split(',').map((s) => s.trim()) : undefined, dtype: o.dtype });
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
  'Generate text with a Hugging Face MoE model (mixtral, qwen2_moe, qwen3_moe, olmoe) on a moe-runtime backend',
);

program
  .command('generate', { isDefault: true })
  .description('stream a completion (the default command)')
  .requiredOption('-m, --model <dir>', 'model folder: config.json, *.safetensors, tokenizer.json')
  .requiredOption('-p, --prompt <text>', 'prompt text')
  .option('--chat', 'treat the prompt as a user message and apply the chat template')
  .option('-b, --backend <names>', 'backend name(s) in order of preference, comma-separated (default: best available)')
  .option('-n, --max-tokens <n>', 'most tokens to generate', intArg('--max-tokens'), 128)
  .option('-t, --temperature <t>', 'sampling temperature (0 = greedy)', numArg('--temperature'), 0)
  .option('--top-k <k>', 'sample from the k most likely tokens', intArg('--top-k'))
  .option('--top-p <p>', 'nucleus sampling mass', numArg('--top-p'))
  .option('--seed <n>', 'sampling seed', intArg('--seed'))
  .option('--stop <text>', 'stop string (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .addOption(new Option('--dtype <dtype>', 'convert weights at load').choices(['float32', 'float16', 'bfloat16']))
  .action(run);

program
  .command('make-tiny')
  .description('write a seeded random tiny checkpoint folder (for trying the runtime without a download)')
  .argument('<dir>', 'output folder')
  .addOption(new Option('--type <type>', 'model type').choices([...MODEL_TYPES]).default('mixtral'))
  .option('--seed <n>', 'seed', intArg('--seed'), 1)
  .addOption(new Option('--dtype <dtype>', 'storage dtype').choices(['float32', 'float16', 'bfloat16']).default('float32'))
  .action(async (dir: string, o: { type: ModelType; seed: number; dtype: ElementDType }) => {
    const { config } = await writeTinyCheckpoint(dir, { modelType: o.type, seed: o.seed, dtype: o.dtype });
    console.log(`wrote a ${config.modelType} checkpoint (${config.numLayers} layers, D=${config.hiddenSize}, E=${config.moe.numExperts}) to ${dir}`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`moe-run: ${errorMessage(err)}\n`);
  process.exit(1);
});
