/**
 * Long-context and batched-decode benchmark (a script, not a test), on the seeded 428M
 * Mixtral-shaped f32 model of model-bench (D=1024, F=3584, 4 layers, E=8, k=2, 8 heads over 2 KV
 * heads of 128, vocab 32000), in one run:
 *
 * - prefill and decode tokens/s after prompts of 128, 1024 and 4096 tokens, and the share of the
 *   time spent in attention, with the backend's own attention (`attend`, its KV cache in each
 *   format of --kv-formats) and with core's host attention (float64, the baseline a backend
 *   kernel has to beat), one model after the other;
 * - prefill tokens/s of a 1024-token prompt fed in chunks of 64 .. 1024 (the default chunk size);
 * - total decode tokens/s of 1, 2, 4, 8 sequences stepped together after 128-token prompts;
 * - llama.cpp (node-llama-cpp, same weights as an F32 GGUF, KV cache in each type of --llama-kv)
 *   on the same prompts, and its batched decoding (F32 KV) of the same numbers of sequences in
 *   one context.
 *
 *   node dist/bench/attention-bench.js [--backend cpu] [--prompts 128,1024,4096] [--decode 128]
 *     [--attention backend,host] [--kv-formats float32,float16] [--llama-kv F32,F16]
 *     [--batch 1,2,4,8] [--chunks 64,128,256,512,1024] [--rounds 3] [--only lengths,chunks,batch]
 *     [--threads 2] [--no-llama] [--json FILE]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { attentionOps, createRng, disposeAllBackends, errorMessage, getBackend, hostAttention, KV_CACHE_FORMATS, type AttentionOps, type Backend, type KvCacheFormat } from '@moe-runtime/core';
import { importBackends } from '../backends.js';
import { prefill } from '../chunked-prefill.js';
import { parseModelConfig, type ModelConfig } from '../model-config.js';
import type { ModelSession } from '../model-session.js';
import { MoEModel } from '../moe-model.js';
import { argmax } from '../sampling.js';
import { randomModelWeights, tinyConfigJson } from '../tiny-checkpoint.js';
import { tinyTokenizerJson } from '../tiny-tokenizer.js';
import { exportGguf, LlamaCppBatch, LlamaCppModel, loadNodeLlamaCpp, type LlamaKvType } from './llama-cpp.js';

const list = (v: string): number[] => v.split(',').map(Number);
const program = new Command('attention-bench')
  .option('--backend <name>', 'backend to run the model on', 'cpu')
  .option('--prompts <list>', 'prompt lengths', list, [128, 1024, 4096])
  .option('--decode <n>', 'decode tokens after each prompt and per batched sequence', (v) => Number(v), 128)
  .option('--batch <list>', 'sequence counts stepped together', list, [1, 2, 4, 8])
  .option('--chunks <list>', 'prefill chunk sizes to compare on a 1024-token prompt', list, [64, 128, 256, 512, 1024])
  .option('--rounds <n>', 'rounds of the chunk-size comparison (sizes alternate; medians reported)', (v) => Number(v), 3)
  .option('--only <parts>', 'run only these parts: lengths,chunks,batch', (v) => v.split(','), ['lengths', 'chunks', 'batch'])
  .option('--attention <list>', "attention implementations of the prompt-length runs: 'backend' (the backend's own, or host where it has none), 'host'", (v) => v.split(','), ['backend', 'host'])
  .option('--kv-formats <list>', 'KV cache formats of the backend-attention prompt-length runs', (v) => v.split(','), ['float32'])
  .option('--llama-kv <list>', 'llama.cpp KV cache types of the prompt-length runs', (v) => v.split(','), ['F32', 'F16'])
  .option('--threads <n>', 'llama.cpp threads', (v) => Number(v), 2)
  .option('--no-llama', 'skip llama.cpp')
  .option('--json <file>', 'write the results as JSON')
  .parse();
const opts = program.opts<{
  backend: string;
  prompts: number[];
  decode: number;
  attention: string[];
  kvFormats: string[];
  llamaKv: string[];
  batch: number[];
  chunks: number[];
  rounds: number;
  only: string[];
  threads: number;
  llama: boolean;
  json?: string;
}>();
for (const f of opts.kvFormats) if (!KV_CACHE_FORMATS.includes(f as KvCacheFormat)) throw new Error(`--kv-formats: ${f} is not one of ${KV_CACHE_FORMATS.join(', ')}`);
for (const a of opts.attention) if (a !== 'backend' && a !== 'host') throw new Error(`--attention: ${a} is not backend or host`);
for (const t of opts.llamaKv) if (t !== 'F32' && t !== 'F16') throw new Error(`--llama-kv: ${t} is not F32 or F16`);

/** Attention time spent so far (ms), counted by the wrapped backend below. */
let attentionMs = 0;

/** The backend with attention `ops` (its own, or the host one) timed: the model sees an `attend` and uses it. */
function timedAttention(backend: Backend, ops: AttentionOps): Backend {
  const attend: Backend['attend'] = async (...args) => {
    const t0 = performance.now();
    try {
      return await ops.attend(...args);
    } finally {
      attentionMs += performance.now() - t0;
    }
  };
  const extra: Partial<Backend> = { attend, createKvCache: (spec) => ops.createKvCache(spec), copyKvPrefix: (s, d, n) => ops.copyKvPrefix(s, d, n), engine: `${backend.engine}, attention: ${ops.name}` };
  return new Proxy(backend, {
    get(target, prop, receiver): unknown {
      if (typeof prop === 'string' && prop in extra) return extra[prop as keyof Backend];
      const v: unknown = Reflect.get(target, prop, receiver);
      // Bound to the real backend: its methods may use private fields a proxy does not have.
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

interface Timed {
  readonly ms: number;
  readonly attentionMs: number;
  /** CPU time of the whole process (every thread), which other work on the machine disturbs less than wall time. */
  readonly cpuMs: number;
}

async function timed(f: () => Promise<unknown>): Promise<Timed> {
  const a0 = attentionMs;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, attentionMs: attentionMs - a0, cpuMs: (c.user + c.system) / 1000 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rate = (tokens: number, t: Timed): number => tokens / (t.ms / 1000);
const share = (t: Timed): string => `${((100 * t.attentionMs) / t.ms).toFixed(0)}%`;

async function decode(model: MoEModel, sessions: ModelSession[], first: number[], steps: number): Promise<void> {
  let next = first;
  for (let i = 0; i < steps; i++) {
    const out = await model.step(sessions.map((session, k) => ({ session, tokens: [next[k]] })));
    next = out.entries.map((e) => argmax(e.logits, 0, model.config.vocabSize));
  }
}

interface LengthRow {
  /** The attention that ran: `host`, or the backend's name. */
  attention: string;
  kvFormat: KvCacheFormat;
  prompt: number;
  prefillTps: number;
  prefillAttention: string;
  decodeTps: number;
  decodeAttention: string;
}

interface LlamaRow {
  kvType: LlamaKvType;
  prompt: number;
  prefillTps: number;
  decodeTps: number;
}

async function runLengths(model: MoEModel, prompts: Map<number, number[]>, attention: string, kvFormat: KvCacheFormat): Promise<LengthRow[]> {
  const rows: LengthRow[] = [];
  for (const n of opts.prompts) {
    console.error(`${attention} attention, ${kvFormat} KV, prompt ${n}...`);
    const session = model.newSession({ contextLength: n + opts.decode + 1, kvFormat });
    let last = 0;
    const p = await timed(async () => {
      const r = await prefill(model, session, prompts.get(n)!);
      last = argmax(r.logits, 0, model.config.vocabSize);
    });
    const d = await timed(() => decode(model, [session], [last], opts.decode));
    rows.push({ attention, kvFormat, prompt: n, prefillTps: rate(n, p), prefillAttention: share(p), decodeTps: rate(opts.decode, d), decodeAttention: share(d) });
    session.dispose();
  }
  return rows;
}

interface ChunkRow {
  chunk: number;
  prefillTps: number;
  tokensPerCpuSecond: number;
  attention: string;
}

/** Each chunk size `rounds` times, sizes alternating within a round so a busy spell hits them alike; medians. */
async function runChunks(model: MoEModel, prompt: number[]): Promise<ChunkRow[]> {
  const runs = new Map<number, Timed[]>(opts.chunks.map((c) => [c, []]));
  for (let r = 0; r < opts.rounds; r++) {
    for (const chunk of opts.chunks) {
      console.error(`chunk ${chunk}, round ${r + 1}...`);
      const session = model.newSession({ contextLength: prompt.length });
      runs.get(chunk)!.push(await timed(() => prefill(model, session, prompt, { chunkSize: chunk })));
      session.dispose();
    }
  }
  return opts.chunks.map((chunk) => {
    const t = runs.get(chunk)!;
    const ms = median(t.map((x) => x.ms));
    const mid = t.find((x) => x.ms === ms)!;
    return { chunk, prefillTps: rate(prompt.length, mid), tokensPerCpuSecond: prompt.length / (median(t.map((x) => x.cpuMs)) / 1000), attention: share(mid) };
  });
}

interface BatchRow {
  sequences: number;
  totalTps: number;
  attention: string;
  llamaTotalTps?: number;
}

async function runBatches(model: MoEModel, prompts: number[][]): Promise<BatchRow[]> {
  const rows: BatchRow[] = [];
  for (const n of opts.batch) {
    console.error(`batch ${n}...`);
    const sessions = Array.from({ length: n }, () => model.newSession({ contextLength: 128 + opts.decode + 1 }));
    const first = await model.step(sessions.map((session, i) => ({ session, tokens: prompts[i] })));
    const next = first.entries.map((e) => argmax(e.logits, 0, model.config.vocabSize));
    const t = await timed(() => decode(model, sessions, next, opts.decode));
    rows.push({ sequences: n, totalTps: rate(n * opts.decode, t), attention: share(t) });
    for (const s of sessions) s.dispose();
  }
  return rows;
}

async function runLlama(config: ModelConfig, weights: ReturnType<typeof randomModelWeights>, prompts: Map<number, number[]>, batchPrompts: number[][], llamaRows: LlamaRow[], batches: BatchRow[]): Promise<string> {
  const { lib, reason } = await loadNodeLlamaCpp();
  if (!lib) return `llama.cpp skipped: ${reason}`;
  const dir = await mkdtemp(join(tmpdir(), 'moe-attn-bench-'));
  try {
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson(config.vocabSize)));
    console.error('writing the F32 GGUF...');
    const gguf = await exportGguf(dir, config, weights);
    for (const kvType of opts.only.includes('lengths') ? (opts.llamaKv as LlamaKvType[]) : []) {
      for (const prompt of opts.prompts) {
        console.error(`llama.cpp ${kvType} KV, prompt ${prompt}...`);
        const m = await LlamaCppModel.open(lib, gguf, { threads: opts.threads, contextSize: prompt + opts.decode + 8, kvType });
        await m.timeGeneration(prompts.get(prompt)!.slice(0, 8), 2);
        const t = await m.timeGeneration(prompts.get(prompt)!, opts.decode);
        llamaRows.push({ kvType, prompt, prefillTps: prompt / (t.prefillMs / 1000), decodeTps: opts.decode / (t.decodeMs / 1000) });
        await m.dispose();
      }
    }
    for (const row of batches) {
      console.error(`llama.cpp batch ${row.sequences}...`);
      const b = await LlamaCppBatch.open(lib, gguf, { threads: opts.threads, sequences: row.sequences, contextSize: 128 + opts.decode + 8 });
      const ms = await b.timeDecode(batchPrompts.slice(0, row.sequences), opts.decode);
      row.llamaTotalTps = (row.sequences * opts.decode) / (ms / 1000);
      await b.dispose();
    }
    return `llama.cpp: node-llama-cpp, F32 GGUF, KV cache ${opts.llamaKv.join(' / ')} (batched decode: F32), flash attention off, ${opts.threads} threads`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const f1 = (x: number | undefined): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(1) : '-');

/** Runs `run` on a model over `backend` with attention `ops`, disposing the model after. */
async function withModel<T>(config: ModelConfig, weights: ReturnType<typeof randomModelWeights>, backend: Backend, ops: AttentionOps, warm: number[], run: (model: MoEModel) => Promise<T>): Promise<T> {
  const model = await MoEModel.create(config, weights, timedAttention(backend, ops));
  try {
    await model.forward(model.newSession({ contextLength: 16 }), warm); // warm-up: kernels compile / pack on first use
    return await run(model);
  } finally {
    model.dispose();
  }
}

function printLengths(lengths: readonly LengthRow[], llama: readonly LlamaRow[]): void {
  const llamaOf = (kvType: string, prompt: number): LlamaRow | undefined => llama.find((r) => r.kvType === kvType && r.prompt === prompt);
  const kvCols = opts.llama ? opts.llamaKv : [];
  console.log(`| attention | KV cache | prompt | prefill tok/s | attention share | decode tok/s (${opts.decode} tokens) | attention share |${kvCols.map((k) => ` llama.cpp ${k} KV prefill | llama.cpp ${k} KV decode |`).join('')} vs best llama.cpp prefill | vs best llama.cpp decode |`);
  console.log(`|---|---|---:|---:|---:|---:|---:|${kvCols.map(() => '---:|---:|').join('')}---:|---:|`);
  for (const r of lengths) {
    const ll = kvCols.map((k) => llamaOf(k, r.prompt));
    const bestPrefill = Math.max(...ll.map((x) => x?.prefillTps ?? 0));
    const bestDecode = Math.max(...ll.map((x) => x?.decodeTps ?? 0));
    const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');
    console.log(
      `| ${r.attention} | ${r.kvFormat} | ${r.prompt} | ${f1(r.prefillTps)} | ${r.prefillAttention} | ${f1(r.decodeTps)} | ${r.decodeAttention} |${ll.map((x) => ` ${f1(x?.prefillTps)} | ${f1(x?.decodeTps)} |`).join('')} ${ratio(r.prefillTps, bestPrefill)} | ${ratio(r.decodeTps, bestDecode)} |`,
    );
  }
  const short = Math.min(...opts.prompts);
  const long = Math.max(...opts.prompts);
  for (const a of new Set(lengths.map((r) => `${r.attention}/${r.kvFormat}`))) {
    const of = (n: number): LengthRow | undefined => lengths.find((r) => `${r.attention}/${r.kvFormat}` === a && r.prompt === n);
    const s = of(short);
    const l = of(long);
    if (s && l && short !== long) console.log(`\n${a}: decode after ${long} tokens is ${(l.decodeTps / s.decodeTps).toFixed(2)}x the decode after ${short}`);
  }
}

async function main(): Promise<void> {
  await importBackends();
  const longest = Math.max(...opts.prompts, 1024, 128) + opts.decode + 8;
  const json = { ...tinyConfigJson({ modelType: 'mixtral', hiddenSize: 1024, numHeads: 8, numKvHeads: 2, numLayers: 4, vocabSize: 32000, numExperts: 8, topK: 2, ffnSize: 3584 }), max_position_embeddings: Math.max(4096, longest) };
  const config = parseModelConfig(json);
  console.error('generating seeded weights...');
  const weights = randomModelWeights(config, 2024);
  const rng = createRng(7);
  const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + rng.int(config.vocabSize - 3));
  const prompts = new Map([...new Set([...opts.prompts, 1024])].map((n) => [n, tokens(n)]));
  const batchPrompts = Array.from({ length: Math.max(...opts.batch) }, () => tokens(128));
  const warm = tokens(8);
  const backend = await getBackend(opts.backend);
  const own = attentionOps(backend);
  const engine = `${backend.engine}, attention: ${own.name}`;
  const lengths: LengthRow[] = [];
  let chunks: ChunkRow[] = [];
  let batches: BatchRow[] = [];
  await withModel(config, weights, backend, own, warm, async (model) => {
    if (opts.only.includes('lengths') && opts.attention.includes('backend')) {
      for (const f of opts.kvFormats) lengths.push(...(await runLengths(model, prompts, own.name, f as KvCacheFormat)));
    }
    if (opts.only.includes('chunks')) chunks = await runChunks(model, prompts.get(1024)!);
    if (opts.only.includes('batch')) batches = await runBatches(model, batchPrompts);
  });
  if (opts.only.includes('lengths') && opts.attention.includes('host') && own !== hostAttention) {
    await withModel(config, weights, backend, hostAttention, warm, async (model) => lengths.push(...(await runLengths(model, prompts, 'host', 'float32'))));
  }
  // Stop the backend's threads so they cannot take cycles from llama.cpp.
  await disposeAllBackends();
  const llamaRows: LlamaRow[] = [];
  const llamaNote = opts.llama ? await runLlama(config, weights, prompts, batchPrompts, llamaRows, batches) : 'llama.cpp skipped (--no-llama)';

  console.log(`\nMixtral-shaped 428M f32 model (D=1024, F=3584, 4 layers, E=8, k=2, 8 heads / 2 KV heads of 128); ${opts.backend}: ${engine}`);
  console.log(`${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores, Node ${process.version}; ${llamaNote}\n`);
  printLengths(lengths, llamaRows);
  if (chunks.length > 0) {
    console.log(`\n| prefill chunk (1024-token prompt, median of ${opts.rounds}) | prefill tok/s | tokens per CPU-second (all threads) | attention share |`);
    console.log('|---:|---:|---:|---:|');
    for (const r of chunks) console.log(`| ${r.chunk} | ${f1(r.prefillTps)} | ${f1(r.tokensPerCpuSecond)} | ${r.attention} |`);
  }
  if (batches.length > 0) {
    console.log(`\n| sequences stepped together | total decode tok/s | vs 1 | attention share | llama.cpp total tok/s | vs 1 |`);
    console.log('|---:|---:|---:|---:|---:|---:|');
    const base = batches[0];
    for (const r of batches) {
      const llamaGain = r.llamaTotalTps && base.llamaTotalTps ? `${(r.llamaTotalTps / base.llamaTotalTps).toFixed(2)}x` : '-';
      console.log(`| ${r.sequences} | ${f1(r.totalTps)} | ${(r.totalTps / base.totalTps).toFixed(2)}x | ${r.attention} | ${f1(r.llamaTotalTps)} | ${llamaGain} |`);
    }
  }
  if (opts.json) await writeFile(opts.json, JSON.stringify({ date: new Date().toISOString(), engine, lengths, llama: llamaRows, chunks, batches }, null, 2));
}

main().catch((err: unknown) => {
  console.error(errorMessage(err));
  process.exit(1);
});
