/**
 * Model benchmark (a script, not a test): a seeded Mixtral-shaped model of about 400M
 * parameters (D=1024, F=3584, 4 layers, E=8, k=2, vocab 32000), prefill tokens/s for a
 * 128-token prompt and decode tokens/s for 128 tokens on each backend, and llama.cpp
 * (node-llama-cpp, one thread and two) on the same weights as an F32 GGUF, in one run.
 *
 *   pnpm --filter @moe-runtime/model bench [--backends cpu,onnx] [--prompt 128] [--decode 128] [--json FILE]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { createRng, disposeAllBackends, getBackend, listBackends, errorMessage } from '@moe-runtime/core';
import { importBackends } from '../backends.js';
import { parseModelConfig } from '../model-config.js';
import { weightBytes } from '../model-weights.js';
import { MoEModel } from '../moe-model.js';
import { argmax } from '../sampling.js';
import { randomModelWeights, tinyConfigJson } from '../tiny-checkpoint.js';
import { tinyTokenizerJson } from '../tiny-tokenizer.js';
import { exportGguf, LlamaCppModel, loadNodeLlamaCpp } from './llama-cpp.js';

interface Row {
  engine: string;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  rssMiB: number;
  note?: string;
}

const program = new Command('model-bench')
  .option('--backends <names>', 'comma-separated backend names (default: every registered one)')
  .option('--prompt <n>', 'prompt tokens', (v) => Number(v), 128)
  .option('--decode <n>', 'decode tokens', (v) => Number(v), 128)
  .option('--layers <n>', 'decoder layers', (v) => Number(v), 4)
  .option('--no-llama', 'skip llama.cpp')
  .option('--json <file>', 'write the results as JSON')
  .parse();
const opts = program.opts<{ backends?: string; prompt: number; decode: number; layers: number; llama: boolean; json?: string }>();

function rssMiB(): number {
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}

async function benchBackend(name: string, config: ReturnType<typeof parseModelConfig>, weights: ReturnType<typeof randomModelWeights>, prompt: number[]): Promise<Row> {
  const backend = await getBackend(name);
  const model = await MoEModel.create(config, weights, backend);
  // Warm-up: kernels compile / pack on first use.
  await model.forward(model.newSession(), prompt.slice(0, 8));
  const session = model.newSession();
  const t0 = performance.now();
  let step = await model.forward(session, prompt);
  const prefillMs = performance.now() - t0;
  const v = config.vocabSize;
  const t1 = performance.now();
  for (let i = 0; i < opts.decode; i++) step = await model.forward(session, [argmax(step.logits, 0, v)]);
  const decodeMs = performance.now() - t1;
  const rss = rssMiB();
  model.dispose();
  return { engine: `${name} (${backend.engine})`, prefillTokensPerSecond: prompt.length / (prefillMs / 1000), decodeTokensPerSecond: opts.decode / (decodeMs / 1000), rssMiB: rss };
}

async function main(): Promise<void> {
  await importBackends();
  const json = tinyConfigJson({ modelType: 'mixtral', hiddenSize: 1024, numHeads: 8, numKvHeads: 2, numLayers: opts.layers, vocabSize: 32000, numExperts: 8, topK: 2, ffnSize: 3584 });
  const config = parseModelConfig(json);
  console.error('generating seeded weights...');
  const weights = randomModelWeights(config, 2024);
  // Counted from the weights themselves (F32: 4 bytes each); GQA makes k/v narrower than q.
  const params = weightBytes(weights) / 4;
  const rng = createRng(7);
  const prompt = Array.from({ length: opts.prompt }, () => 3 + rng.int(config.vocabSize - 3));
  const names = opts.backends ? opts.backends.split(',') : listBackends().map((b) => b.name);
  const rows: Row[] = [];
  for (const name of names) {
    console.error(`running ${name}...`);
    try {
      rows.push(await benchBackend(name, config, weights, prompt));
    } catch (err) {
      rows.push({ engine: name, prefillTokensPerSecond: NaN, decodeTokensPerSecond: NaN, rssMiB: rssMiB(), note: errorMessage(err) });
    }
    // Stop the backend's threads so they cannot take cycles from the next engine measured.
    await disposeAllBackends();
  }
  if (opts.llama) {
    const { lib, reason } = await loadNodeLlamaCpp();
    if (!lib) rows.push({ engine: 'llama.cpp', prefillTokensPerSecond: NaN, decodeTokensPerSecond: NaN, rssMiB: rssMiB(), note: reason });
    else {
      const dir = await mkdtemp(join(tmpdir(), 'moe-bench-'));
      try {
        await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson(config.vocabSize)));
        console.error('writing the F32 GGUF...');
        const gguf = await exportGguf(dir, config, weights);
        for (const threads of [1, 2]) {
          console.error(`running llama.cpp x${threads}...`);
          const m = await LlamaCppModel.open(lib, gguf, { threads, contextSize: opts.prompt + opts.decode + 8 });
          await m.timeGeneration(prompt.slice(0, 8), 2);
          const t = await m.timeGeneration(prompt, opts.decode);
          rows.push({ engine: `llama.cpp F32 x${threads} thread${threads > 1 ? 's' : ''}`, prefillTokensPerSecond: prompt.length / (t.prefillMs / 1000), decodeTokensPerSecond: opts.decode / (t.decodeMs / 1000), rssMiB: rssMiB() });
          await m.dispose();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  console.log(`\nMixtral-shaped model: ${(params / 1e6).toFixed(0)}M parameters (D=1024, F=3584, ${opts.layers} layers, E=8, k=2, vocab 32000), F32 weights`);
  console.log(`prompt ${opts.prompt} tokens, decode ${opts.decode} tokens; ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores, Node ${process.version}\n`);
  console.log('| engine | prefill tokens/s | decode tokens/s | RSS MiB |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
    console.log(`| ${r.engine} | ${f(r.prefillTokensPerSecond)} | ${f(r.decodeTokensPerSecond)} | ${r.rssMiB} |${r.note ? ` ${r.note}` : ''}`);
  }
  if (opts.json) await writeFile(opts.json, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
}

main().catch((err: unknown) => {
  console.error(errorMessage(err));
  process.exit(1);
});
