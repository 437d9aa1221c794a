/**
 * Real-shape benchmark (a script, not a test): GGUF files of real MoE models' shapes (the
 * seeded synthetic ones of `moe-run make-synthetic`, or downloaded ones) on each engine — this
 * runtime's backends and llama.cpp — ONE ENGINE PER CHILD PROCESS, so the memory one engine
 * holds never squeezes the next and each peak RSS is that engine's own. Per (file, engine): load
 * time, the bytes the backend and the host hold, the process's peak RSS, prefill tokens/s of a
 * seeded prompt, and decode tokens/s where every step feeds a fresh seeded random token (so the
 * routed experts change from step to step and come from DRAM, as in real use; greedy decoding
 * of random weights can settle on one token and keep the same experts hot).
 *
 *   node dist/bench/real-shape-bench.js FILE.gguf... [--engines cpu:activations=q8,onnx,llama.cpp]
 *     [--prompt 128] [--decode 32] [--warmup 4] [--threads 2] [--json FILE]
 *
 * An engine is a backend spec (`name[:key=value...]`) or `llama.cpp` (node-llama-cpp, its CPU
 * build, an F32 KV cache like this runtime's default, flash attention off).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { createRng, disposeAllBackends, errorMessage, getBackend, parseBackendSpec } from '@moe-runtime/core';
import { importBackends } from '../backends.js';
import { prefill } from '../chunked-prefill.js';
import { loadModel, openModel } from '../model-files.js';
import { formatGiB, peakRssBytes } from '../model-memory.js';
import { LlamaCppModel, loadNodeLlamaCpp } from './llama-cpp.js';

const LLAMA = 'llama.cpp';

/** What one engine measured on one file (or why it could not). */
interface EngineResult {
  file: string;
  engine: string;
  /** The backend's own description of how it computes (or llama.cpp's). */
  detail?: string;
  loadS?: number;
  /** Bytes the backend holds for the weights (reported, or as stored); undefined for llama.cpp. */
  backendBytes?: number;
  hostBytes?: number;
  peakRssBytes?: number;
  prefillTps?: number;
  decodeTps?: number;
  error?: string;
}

const program = new Command('real-shape-bench')
  .argument('<files...>', 'GGUF files')
  .option('--engines <list>', `backend specs and/or '${LLAMA}', comma-separated`, (v) => v.split(',').filter(Boolean), ['cpu:activations=q8', 'onnx', LLAMA])
  .option('--prompt <n>', 'prompt tokens', (v) => Number(v), 128)
  .option('--decode <n>', 'decode steps, each on a fresh random token', (v) => Number(v), 32)
  .option('--warmup <n>', 'untimed decode steps before the timed ones (fresh random tokens too)', (v) => Number(v), 4)
  .option('--threads <n>', 'llama.cpp threads', (v) => Number(v), 2)
  .option('--seed <n>', 'seed of the prompt and decode tokens', (v) => Number(v), 1)
  .option('--json <file>', 'write the results as JSON')
  .option('--child <engine>', '(internal) run one engine on one file in this process and print its result')
  .parse();
const opts = program.opts<{ engines: string[]; prompt: number; decode: number; warmup: number; threads: number; seed: number; json?: string; child?: string }>();
const files = program.args;

const RESULT_TAG = 'REAL_SHAPE_RESULT ';

/** Seeded token ids: the prompt, the untimed warm-up steps' tokens, then one per timed decode step. */
function tokens(vocab: number): { prompt: number[]; warmup: number[]; steps: number[] } {
  const rng = createRng(opts.seed);
  const draw = (n: number): number[] => Array.from({ length: n }, () => rng.int(vocab));
  return { prompt: draw(opts.prompt), warmup: draw(opts.warmup), steps: draw(opts.decode) };
}

async function runBackend(file: string, spec: string): Promise<EngineResult> {
  await importBackends();
  const backend = await getBackend(parseBackendSpec(spec, 'engines'));
  const t0 = performance.now();
  const { model } = await loadModel(file, backend);
  const loadS = (performance.now() - t0) / 1000;
  const { prompt, warmup, steps } = tokens(model.config.vocabSize);
  const session = model.newSession({ contextLength: prompt.length + warmup.length + steps.length + 1 });
  const t1 = performance.now();
  await prefill(model, session, prompt);
  const prefillS = (performance.now() - t1) / 1000;
  for (const t of warmup) await model.step([{ session, tokens: [t] }]);
  const t2 = performance.now();
  for (const t of steps) await model.step([{ session, tokens: [t] }]);
  const decodeS = (performance.now() - t2) / 1000;
  const result: EngineResult = {
    file,
    engine: spec,
    detail: backend.engine,
    loadS,
    backendBytes: backend.memory?.residentBytes ?? model.memory.backendBytes,
    hostBytes: model.memory.hostBytes,
    peakRssBytes: peakRssBytes(),
    prefillTps: prompt.length / prefillS,
    decodeTps: steps.length / decodeS,
  };
  session.dispose();
  await disposeAllBackends();
  return result;
}

async function runLlama(file: string): Promise<EngineResult> {
  const { lib, reason } = await loadNodeLlamaCpp();
  if (!lib) return { file, engine: LLAMA, error: reason };
  // The vocabulary size from the file's header (our reader opens headers only, no weights).
  const opened = await openModel(file);
  const vocab = opened.source.config.vocabSize;
  await opened.source.close();
  const t0 = performance.now();
  const m = await LlamaCppModel.open(lib, file, { threads: opts.threads, contextSize: opts.prompt + opts.warmup + opts.decode + 8, kvType: 'F32' });
  const loadS = (performance.now() - t0) / 1000;
  const { prompt, warmup, steps } = tokens(vocab);
  const t = await m.timeSteps(prompt, warmup, steps);
  await m.dispose();
  return {
    file,
    engine: LLAMA,
    detail: `node-llama-cpp CPU build, ${opts.threads} threads, F32 KV`,
    loadS,
    peakRssBytes: peakRssBytes(),
    prefillTps: prompt.length / (t.prefillMs / 1000),
    decodeTps: steps.length / (t.decodeMs / 1000),
  };
}

/** The child: one engine, one file; its result is the last line it prints. */
async function child(engine: string): Promise<void> {
  const file = files[0];
  let result: EngineResult;
  try {
    result = engine === LLAMA ? await runLlama(file) : await runBackend(file, engine);
  } catch (err) {
    result = { file, engine, error: errorMessage(err).split('\n')[0], peakRssBytes: peakRssBytes() };
  }
  process.stdout.write(`${RESULT_TAG}${JSON.stringify(result)}\n`);
}

/** Runs one engine on one file in a fresh Node process; its stderr passes through. */
function runChild(file: string, engine: string): Promise<EngineResult> {
  const script = fileURLToPath(import.meta.url);
  const args = [script, file, '--child', engine, '--prompt', String(opts.prompt), '--decode', String(opts.decode), '--warmup', String(opts.warmup), '--threads', String(opts.threads), '--seed', String(opts.seed)];
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_TAG));
      if (line) resolve(JSON.parse(line.slice(RESULT_TAG.length)) as EngineResult);
      else resolve({ file, engine, error: `the child process ended (${signal ?? `exit code ${code}`}) without a result` });
    });
  });
}

const fmt = (x: number | undefined, digits = 1): string => (x === undefined ? '' : x.toFixed(digits));
const gib = (x: number | undefined): string => (x === undefined ? '' : formatGiB(x));

function table(results: readonly EngineResult[]): string {
  const lines = [
    '| file | engine | load s | backend holds | host holds | peak RSS | prefill tok/s | decode tok/s | decode vs llama.cpp |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const llama = results.find((x) => x.file === r.file && x.engine === LLAMA && x.decodeTps !== undefined);
    const vs = llama?.decodeTps && r.decodeTps !== undefined && r.engine !== LLAMA ? `${(r.decodeTps / llama.decodeTps).toFixed(2)}x` : '';
    const name = basename(r.file);
    if (r.error) lines.push(`| ${name} | ${r.engine} | ${fmt(r.loadS)} | | | ${gib(r.peakRssBytes)} | failed: ${r.error.replace(/\|/g, '/')} | | |`);
    else lines.push(`| ${name} | ${r.engine} | ${fmt(r.loadS)} | ${gib(r.backendBytes)} | ${gib(r.hostBytes)} | ${gib(r.peakRssBytes)} | ${fmt(r.prefillTps)} | ${fmt(r.decodeTps, 2)} | ${vs} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (opts.child) return child(opts.child);
  const started = new Date().toISOString();
  const results: EngineResult[] = [];
  for (const file of files) {
    for (const engine of opts.engines) {
      console.error(`${basename(file)} on ${engine}...`);
      results.push(await runChild(file, engine));
    }
  }
  console.log(`\nReal-shape GGUF files, one engine per process; prompt ${opts.prompt} tokens, then ${opts.warmup} untimed and ${opts.decode} timed decode steps, each on a fresh random token; ${started}\n`);
  for (const r of results) if (r.detail) console.log(`- ${basename(r.file)} / ${r.engine}: ${r.detail}`);
  console.log(`\n${table(results)}`);
  if (opts.json) await writeFile(opts.json, JSON.stringify({ date: started, prompt: opts.prompt, decode: opts.decode, results }, null, 2));
}

await main();
