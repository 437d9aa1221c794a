/** Test helpers for the OpenAI-compatible endpoints: tiny checkpoints, in-process reference runs, SSE parsing. */
import '@moe-runtime/backend-cpu';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@moe-runtime/core/testing';
import { TextModel, writeTinyCheckpoint, type ChatMessage, type GenerateOptions, type GenerationStats, type TinyCheckpointOptions } from '@moe-runtime/model';

/** Writes a tiny seeded checkpoint into a fresh temp folder; `maxPositions` rewrites the context length. */
export async function tinyModelDir(options: TinyCheckpointOptions & { maxPositions?: number } = {}): Promise<string> {
  const dir = tempDir('moe-server-model-');
  await writeTinyCheckpoint(dir, options);
  if (options.maxPositions !== undefined) {
    const file = join(dir, 'config.json');
    const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...json, max_position_embeddings: options.maxPositions }));
  }
  return dir;
}

/** The text and statistics of an in-process generation. */
export interface LocalRun {
  readonly text: string;
  readonly stats: GenerationStats;
}

async function drain(gen: AsyncGenerator<{ text: string }, GenerationStats, void>): Promise<LocalRun> {
  let text = '';
  for (;;) {
    const r = await gen.next();
    if (r.done) return { text, stats: r.value };
    text += r.value.text;
  }
}

/** `TextModel.complete` run in this process. */
export function localComplete(model: TextModel, prompt: string, options: GenerateOptions): Promise<LocalRun> {
  return drain(model.complete(prompt, options));
}

/** `TextModel.chat` run in this process. */
export function localChat(model: TextModel, messages: ChatMessage[], options: GenerateOptions): Promise<LocalRun> {
  return drain(model.chat(messages, options));
}

/** A parsed SSE stream: the JSON events and whether it ended with `[DONE]`. */
export interface SseResult {
  readonly status: number;
  readonly headers: Headers;
  readonly events: Record<string, unknown>[];
  readonly done: boolean;
}

/** POSTs and reads a server-sent event stream to its end. */
export async function postStream(url: string, body: unknown, headers: Record<string, string> = {}): Promise<SseResult> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  const events: Record<string, unknown>[] = [];
  let done = false;
  for (const block of text.split('\n\n')) {
    if (!block) continue;
    if (!block.startsWith('data: ')) throw new Error(`not an SSE data block: ${JSON.stringify(block)}`);
    const data = block.slice(6);
    if (data === '[DONE]') done = true;
    else {
      if (done) throw new Error('data after [DONE]');
      events.push(JSON.parse(data) as Record<string, unknown>);
    }
  }
  return { status: res.status, headers: res.headers, events, done };
}

/** A metric sample's value from Prometheus text (0 when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries((m[3] ?? '').split(',').filter(Boolean).map((kv) => kv.split('=').map((s) => s.replace(/"/g, '')) as [string, string]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return 0;
}
