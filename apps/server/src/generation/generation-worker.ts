/**
 * The generation worker (a worker_threads entry, run from dist/): loads every text model on the
 * configured backend (with fallback) and runs generations with continuous batching: each model
 * has one `ContinuousBatcher`, and every running generation of that model feeds its next token
 * (or its next prompt chunk) into the same forward pass, so the experts several sequences route
 * to are read once for all of them. Generations join and leave between steps; a new prompt is
 * fed in chunks beside the running decodes. Each model keeps the KV caches of earlier prompts in
 * a `PrefixCache` (within `prefixCacheBytes`): a prompt that starts like one already prefilled
 * (a chat's system prompt, a conversation's earlier turns) starts from a fork of it and
 * prefills only the rest. Prompts are tokenized on a thread per model (PromptTokenizer), so a
 * long one never holds the running streams. Between steps the worker yields to the message
 * port, so a cancel (client gone, deadline) takes effect within one step.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { ConfigError, ContextLengthError, type Backend, type BackendChoice } from '@moe-runtime/core';
import { chooseModelBackend, ContinuousBatcher, generateChoices, MoEModel, PrefixCache, openModel, peakRssBytes, storedWeightBytes, writeTinyCheckpoint, type GenerateOptions, type GeneratedChunk, type GenerationStats, type ModelTokenizer, type OpenedModel } from '@moe-runtime/model';
import { startBackend, type StartedBackend } from '../shared/worker-backend.js';
import { wireLogprobs } from './token-logprobs.js';
import type { BatchDelta, FromGenerationWorker, GenerateRequest, GenerationInit, ModelInfo, ToGenerationWorker } from './generation-protocol.js';
import type { ModelSpec } from './model-spec.js';
import { longestTokenBytes } from './prompt-bound.js';
import { PromptTokenizer } from './prompt-tokenizer.js';

const port = parentPort;
if (!port) throw new Error('generation-worker.js must run as a worker thread');

/** A loaded model: what `TextModel` holds, built on the worker's one backend. */
interface LoadedModel {
  readonly model: MoEModel;
  readonly tokenizer: ModelTokenizer;
  readonly info: ModelInfo;
  /** Shares the forward passes of this model's running generations. */
  readonly batcher: ContinuousBatcher;
  /** Earlier prompts' KV caches for prefix reuse (absent when `prefixCacheBytes` is 0). */
  readonly prefixes?: PrefixCache;
  /** Tokenizes this model's prompts off this thread. */
  readonly prompts: PromptTokenizer;
  /** The batcher's work since the last report (and resets the mark). */
  batchDelta(): BatchDelta;
}

/** A reporter of the batcher's counters as deltas since its previous call. */
function batchDeltas(batcher: ContinuousBatcher): () => BatchDelta {
  let last = batcher.counters;
  return () => {
    const now = batcher.counters;
    const delta = { steps: now.steps - last.steps, sequences: now.sequences - last.sequences, rows: now.rows - last.rows };
    last = now;
    return delta;
  };
}

const models = new Map<string, LoadedModel>();
const tempDirs: string[] = [];
let backend: Backend | undefined;

interface Active {
  readonly id: number;
  readonly model: LoadedModel;
  /** One generator per choice (empty until the prompt is prefilled). */
  gens: AsyncGenerator<GeneratedChunk, GenerationStats, void>[];
  /** Aborts the generation's waiting forward call (its tokens leave the next step). */
  readonly abort: AbortController;
  cancelled: boolean;
}
const active = new Map<number, Active>();
/** Generations whose prompt is being tokenized (a cancel removes its id: the ids are dropped). */
const tokenizing = new Set<number>();
let shuttingDown = false;

/** Nothing runs or waits for its prompt: shutdown may proceed. */
function idle(): boolean {
  return active.size === 0 && tokenizing.size === 0;
}

function send(msg: FromGenerationWorker): void {
  port!.postMessage(msg);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function folderOf(spec: ModelSpec): Promise<string> {
  if (spec.source === 'folder') return spec.path;
  const dir = await mkdtemp(join(tmpdir(), `moe-demo-${spec.modelType}-`));
  tempDirs.push(dir);
  await writeTinyCheckpoint(dir, { modelType: spec.modelType, seed: spec.seed });
  return dir;
}

/**
 * The first backend of the list that starts and holds every model together (`chooseModelBackend`
 * over their planned tensors, from the headers alone), so `--backend onnx,cpu` falls back to
 * cpu for a file onnx cannot hold instead of failing after it started.
 */
async function modelBackend(opened: readonly OpenedModel[], choices: readonly BackendChoice[]): Promise<Backend> {
  const tensors = opened.flatMap((o) => o.source.tensors);
  const what = opened.length === 1 ? opened[0].source.source : `${opened.length} models`;
  return (await chooseModelBackend(what, tensors, { backend: choices })).backend;
}

/** Opens every model's checkpoint (headers and tokenizer; no weights), naming the model in an error. */
async function openModels(specs: readonly ModelSpec[]): Promise<OpenedModel[]> {
  const opened: OpenedModel[] = [];
  try {
    for (const spec of specs) {
      try {
        opened.push(await openModel(await folderOf(spec)));
      } catch (err) {
        throw new Error(`model '${spec.id}': ${message(err)}`);
      }
    }
    return opened;
  } catch (err) {
    await Promise.all(opened.map((o) => o.source.close()));
    throw err;
  }
}

async function init(msg: GenerationInit): Promise<void> {
  const opened = await openModels(msg.models);
  let started: StartedBackend;
  try {
    started = await startBackend(msg, (choices) => modelBackend(opened, choices));
  } catch (err) {
    await Promise.all(opened.map((o) => o.source.close()));
    throw err;
  }
  backend = started.backend;
  for (const [i, spec] of msg.models.entries()) {
    // As TextModel.load, but every model shares the one resolved backend (and its threads).
    let loaded: LoadedModel;
    try {
      // Loaded layer by layer after the memory check (MoEModel.load closes the source), so a
      // model that cannot fit is refused before anything is allocated.
      const { format, source, tokenizer } = opened[i];
      const model = await MoEModel.load(source, backend);
      const maxTokenChars = longestTokenBytes(tokenizer, model.config.vocabSize);
      const info: ModelInfo = {
        id: spec.id,
        source: spec.source,
        format,
        modelType: model.config.modelType,
        // The context a session gets (generate opens sessions with the default), not the trained maximum.
        maxPositions: model.defaultContextLength,
        maxTokenChars,
        hasChatTemplate: tokenizer.hasChatTemplate,
        weightBytes: storedWeightBytes(model.plannedTensors),
        backendBytes: model.memory.backendBytes,
        hostBytes: model.memory.hostBytes,
        peakRssBytes: peakRssBytes(),
        created: Math.floor(Date.now() / 1000),
      };
      const batcher = new ContinuousBatcher(model);
      const prefixes = msg.prefixCacheBytes > 0 ? new PrefixCache(model, { maxBytes: msg.prefixCacheBytes }) : undefined;
      loaded = { model, tokenizer, info, batcher, prefixes, prompts: new PromptTokenizer(tokenizer, spec.id), batchDelta: batchDeltas(batcher) };
    } catch (err) {
      // The models not loaded yet still hold their files open.
      await Promise.all(opened.slice(i + 1).map((o) => o.source.close()));
      throw new Error(`model '${spec.id}': ${message(err)}`);
    }
    models.set(spec.id, loaded);
  }
  send({ type: 'ready', backend: started.describe(), models: [...models.values()].map((m) => m.info) });
}

function fail(id: number, status: number, code: string, msg: string, field?: string): void {
  send({ type: 'failed', id, status, code, message: msg, field });
}

/** Sends the prompt to the model's tokenizer thread; `begin` continues when its ids are back. */
function start(msg: GenerateRequest): void {
  const entry = models.get(msg.model);
  if (!entry) return fail(msg.id, 404, 'E_UNKNOWN_MODEL', `unknown model '${msg.model}'`, 'model');
  const field = msg.prompt.kind === 'text' ? 'prompt' : 'messages';
  tokenizing.add(msg.id);
  entry.prompts.encode(msg.prompt).then(
    (ids) => {
      if (tokenizing.delete(msg.id)) begin(msg, entry, ids);
      if (shuttingDown && idle()) void shutdown();
    },
    (err: unknown) => {
      if (tokenizing.delete(msg.id)) fail(msg.id, 400, 'E_INVALID_INPUT', `${field}: ${message(err)}`, field);
      if (shuttingDown && idle()) void shutdown();
    },
  );
}

/** Checks the prompt's ids fit the context and adds the generation to the loop. */
function begin(msg: GenerateRequest, entry: LoadedModel, ids: number[]): void {
  const { info, batcher } = entry;
  const field = msg.prompt.kind === 'text' ? 'prompt' : 'messages';
  if (ids.length === 0) return fail(msg.id, 400, 'E_INVALID_INPUT', `${field}: encodes to no tokens; expected a non-empty prompt`, field);
  const room = info.maxPositions - ids.length;
  const p = msg.params;
  const maxTokens = p.maxTokens ?? Math.min(p.defaultMaxTokens, room);
  if (room < 1 || ids.length + maxTokens > info.maxPositions) {
    const asked = p.maxTokens === undefined ? '' : ` + max_tokens ${maxTokens}`;
    return fail(
      msg.id,
      400,
      'E_CONTEXT_LENGTH',
      `${field}: ${ids.length} prompt tokens${asked} exceed model '${msg.model}''s context of ${info.maxPositions} positions; shorten the prompt${asked ? ' or lower max_tokens' : ''}`,
      field,
    );
  }
  const abort = new AbortController();
  const options: GenerateOptions = {
    maxTokens,
    temperature: p.temperature,
    topK: p.topK,
    topP: p.topP,
    seed: p.seed,
    stop: p.stop,
    frequencyPenalty: p.frequencyPenalty,
    presencePenalty: p.presencePenalty,
    topLogprobs: p.topLogprobs,
    stepper: batcher,
    signal: abort.signal,
  };
  send({ type: 'started', id: msg.id, promptTokens: ids.length, maxTokens });
  const job: Active = { id: msg.id, model: entry, gens: [], abort, cancelled: false };
  active.set(job.id, job);
  void run(job, ids, p.n ?? 1, options);
}

/** Streams one choice to the main thread; undefined when the job was cancelled. */
async function streamChoice(job: Active, gen: AsyncGenerator<GeneratedChunk, GenerationStats, void>, choice: number): Promise<GenerationStats | undefined> {
  for (;;) {
    const r = await gen.next();
    if (job.cancelled) return undefined;
    if (r.done) return r.value;
    const c = r.value;
    const logprobs = c.logprobs ? wireLogprobs(job.model.tokenizer, c.logprobs) : undefined;
    send({ type: 'chunk', id: job.id, choice, text: c.text, tokens: c.tokenIds.length, ...(logprobs ? { logprobs } : {}) });
  }
}

/**
 * The options with prefix reuse: the generation starts from the longest retained prefix of its
 * prompt (a fork, so the retained copy stays for others) and retains its own prompt once it is
 * prefilled, so the next request that shares it, while this one still runs or later, skips it,
 * and its prompt with the reply once it finishes, so a chat's next turn skips both.
 */
async function withPrefix(entry: LoadedModel, ids: readonly number[], options: GenerateOptions): Promise<GenerateOptions> {
  const prefixes = entry.prefixes;
  if (!prefixes) return options;
  const { session } = await prefixes.startSession(ids);
  return {
    ...options,
    session,
    onPrefill: async (s) => void (await prefixes.retain(s)),
    // The finished reply too: a chat's next turn holds it in its history. Retention is an
    // optimisation, so a failure to copy does not fail a generation whose text was streamed.
    onFinish: async (s) => void (await prefixes.retain(s).catch(() => false)),
  };
}

/**
 * Prefills the prompt once, forks a session per choice (generateChoices) and streams every
 * choice to the main thread until all end, one fails or the job is cancelled. The choices ride
 * the model's batcher like any other generations.
 */
async function run(job: Active, ids: readonly number[], n: number, options: GenerateOptions): Promise<void> {
  const { model, tokenizer } = job.model;
  try {
    job.gens = await generateChoices(model, tokenizer, ids, n, await withPrefix(job.model, ids, options));
    const stats = await Promise.all(job.gens.map((g, i) => streamChoice(job, g, i)));
    if (job.cancelled || stats.some((st) => st === undefined)) return;
    const done = stats as GenerationStats[];
    const s = done[0];
    send({
      type: 'done',
      id: job.id,
      promptTokens: s.promptTokens,
      completionTokens: done.reduce((t, st) => t + st.completionTokens, 0),
      finishReason: s.finishReason,
      choices: done.map((st) => ({ finishReason: st.finishReason, completionTokens: st.completionTokens })),
      timeToFirstTokenMs: s.timeToFirstTokenMs,
      decodeTokensPerSecond: s.decodeTokensPerSecond,
      prefillTokensPerSecond: s.prefillTokensPerSecond,
      batch: job.model.batchDelta(),
      reusedPromptTokens: s.reusedPromptTokens,
      prefixCacheBytes: job.model.prefixes?.stats.bytes ?? 0,
    });
  } catch (err) {
    if (!job.cancelled) {
      // The context filling up mid-generation is the request's size, not a server fault.
      if (err instanceof ContextLengthError) fail(job.id, 400, 'E_CONTEXT_LENGTH', message(err));
      else fail(job.id, err instanceof ConfigError ? 400 : 500, err instanceof ConfigError ? 'E_INVALID_INPUT' : 'E_GENERATION', message(err));
    }
    // The other choices stop too.
    job.cancelled = true;
  } finally {
    active.delete(job.id);
    // A cancelled generation's generators are closed, which releases their sessions.
    if (job.cancelled) await Promise.all(job.gens.map((g) => g.return(undefined as unknown as GenerationStats).catch(() => undefined)));
    if (shuttingDown && idle()) await shutdown();
  }
}

let shutDown = false;
async function shutdown(): Promise<void> {
  if (shutDown) return;
  shutDown = true;
  for (const { model, prefixes, prompts } of models.values()) {
    await prompts.close();
    prefixes?.clear();
    model.dispose();
  }
  models.clear();
  await backend?.dispose();
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
  port!.close();
}

port.on('message', (msg: ToGenerationWorker) => {
  switch (msg.type) {
    case 'init':
      init(msg).catch((err: unknown) => send({ type: 'init-error', message: message(err) }));
      break;
    case 'generate':
      start(msg);
      break;
    case 'cancel': {
      tokenizing.delete(msg.id);
      const job = active.get(msg.id);
      if (job) {
        job.cancelled = true;
        job.abort.abort(new Error('cancelled'));
      }
      break;
    }
    case 'shutdown':
      // The main thread drains (or cancels) generations before it asks; finish what runs.
      shuttingDown = true;
      if (idle()) void shutdown();
      break;
  }
});
