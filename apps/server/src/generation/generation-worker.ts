/**
 * The generation worker (a worker_threads entry, run from dist/): loads every text model on the
 * configured backend (with fallback) and runs generations. Concurrent generations are
 * interleaved token by token: each turn of the loop advances every active generation by one
 * streamed chunk (usually one token), so all streams progress at once; `MoEModel` runs one
 * session per forward, so a turn is a sequence of single-session decode steps. Between turns
 * the loop yields to the message port, so a cancel (client gone, deadline) takes effect within
 * one step.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { ConfigError, ContextLengthError, type Backend } from '@moe-runtime/core';
import { generate, loadCheckpoint, ModelTokenizer, MoEModel, weightBytes, writeTinyCheckpoint, type GeneratedChunk, type GenerationStats } from '@moe-runtime/model';
import { startBackend } from '../shared/worker-backend.js';
import type { FromGenerationWorker, GenerateRequest, GenerationInit, ModelInfo, ToGenerationWorker } from './generation-protocol.js';
import type { ModelSpec } from './model-spec.js';
import { longestTokenCharsOf } from './prompt-bound.js';

const port = parentPort;
if (!port) throw new Error('generation-worker.js must run as a worker thread');

/** A loaded model: what `TextModel` holds, built on the worker's one backend. */
interface LoadedModel {
  readonly model: MoEModel;
  readonly tokenizer: ModelTokenizer;
  readonly info: ModelInfo;
}

const models = new Map<string, LoadedModel>();
const tempDirs: string[] = [];
let backend: Backend | undefined;

interface Active {
  readonly id: number;
  readonly gen: AsyncGenerator<GeneratedChunk, GenerationStats, void>;
  cancelled: boolean;
}
const active: Active[] = [];
let looping = false;
let shuttingDown = false;

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

async function init(msg: GenerationInit): Promise<void> {
  const started = await startBackend(msg);
  backend = started.backend;
  for (const spec of msg.models) {
    // As TextModel.load, but every model shares the one resolved backend (and its threads).
    let loaded: LoadedModel;
    try {
      const dir = await folderOf(spec);
      const [checkpoint, tokenizer, maxTokenChars] = await Promise.all([loadCheckpoint(dir), ModelTokenizer.fromFolder(dir), longestTokenCharsOf(dir)]);
      const model = await MoEModel.create(checkpoint.config, checkpoint.weights, backend);
      const info: ModelInfo = {
        id: spec.id,
        source: spec.source,
        modelType: model.config.modelType,
        // The context a session gets (generate opens sessions with the default), not the trained maximum.
        maxPositions: model.defaultContextLength,
        maxTokenChars,
        hasChatTemplate: tokenizer.hasChatTemplate,
        weightBytes: weightBytes(checkpoint.weights),
        created: Math.floor(Date.now() / 1000),
      };
      loaded = { model, tokenizer, info };
    } catch (err) {
      throw new Error(`model '${spec.id}': ${message(err)}`);
    }
    models.set(spec.id, loaded);
  }
  send({ type: 'ready', backend: started.describe(), models: [...models.values()].map((m) => m.info) });
}

function fail(id: number, status: number, code: string, msg: string, field?: string): void {
  send({ type: 'failed', id, status, code, message: msg, field });
}

/** Tokenizes the prompt, checks it fits the context, and adds the generation to the loop. */
function start(msg: GenerateRequest): void {
  const entry = models.get(msg.model);
  if (!entry) return fail(msg.id, 404, 'E_UNKNOWN_MODEL', `unknown model '${msg.model}'`, 'model');
  const { model, tokenizer, info } = entry;
  const field = msg.prompt.kind === 'text' ? 'prompt' : 'messages';
  let ids: number[];
  try {
    ids =
      msg.prompt.kind === 'text'
        ? tokenizer.encode(msg.prompt.text)
        : // As TextModel.chat: the template writes BOS where the model wants it.
          tokenizer.encode(tokenizer.applyChatTemplate(msg.prompt.messages), false);
  } catch (err) {
    return fail(msg.id, 400, 'E_INVALID_INPUT', `${field}: ${message(err)}`, field);
  }
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
  const gen = generate(model, tokenizer, ids, { maxTokens, temperature: p.temperature, topK: p.topK, topP: p.topP, seed: p.seed, stop: p.stop });
  send({ type: 'started', id: msg.id, promptTokens: ids.length, maxTokens });
  active.push({ id: msg.id, gen, cancelled: false });
  void loop();
}

/** Advances one generation by one chunk; false when it is finished (or failed). */
async function step(job: Active): Promise<boolean> {
  try {
    const r = await job.gen.next();
    if (job.cancelled) return false;
    if (!r.done) {
      send({ type: 'chunk', id: job.id, text: r.value.text, tokens: r.value.tokenIds.length });
      return true;
    }
    const s = r.value;
    send({
      type: 'done',
      id: job.id,
      promptTokens: s.promptTokens,
      completionTokens: s.completionTokens,
      finishReason: s.finishReason,
      timeToFirstTokenMs: s.timeToFirstTokenMs,
      decodeTokensPerSecond: s.decodeTokensPerSecond,
      prefillTokensPerSecond: s.prefillTokensPerSecond,
    });
  } catch (err) {
    if (!job.cancelled) {
      // The context filling up mid-generation is the request's size, not a server fault.
      if (err instanceof ContextLengthError) fail(job.id, 400, 'E_CONTEXT_LENGTH', message(err));
      else fail(job.id, err instanceof ConfigError ? 400 : 500, err instanceof ConfigError ? 'E_INVALID_INPUT' : 'E_GENERATION', message(err));
    }
  }
  return false;
}

/** Round-robin over the active generations until none is left. */
async function loop(): Promise<void> {
  if (looping) return;
  looping = true;
  try {
    while (active.length) {
      for (const job of [...active]) {
        const more = !job.cancelled && (await step(job));
        if (!more) {
          active.splice(active.indexOf(job), 1);
          if (job.cancelled) await job.gen.return(undefined as unknown as GenerationStats).catch(() => undefined);
        }
      }
      // Let cancel and generate messages in between turns.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    looping = false;
    if (shuttingDown) await shutdown();
  }
}

async function shutdown(): Promise<void> {
  for (const { model } of models.values()) model.dispose();
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
      const job = active.find((j) => j.id === msg.id);
      if (job) job.cancelled = true;
      break;
    }
    case 'shutdown':
      // The main thread drains (or cancels) generations before it asks; finish what runs.
      shuttingDown = true;
      if (!looping) void shutdown();
      break;
  }
});
