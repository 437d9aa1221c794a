/**
 * OpenAI-compatible text generation: `GET /v1/models`, `POST /v1/completions`,
 * `POST /v1/chat/completions`, non-streamed (one JSON answer) or streamed as server-sent events
 * (`data: {...}\n\n` chunks, then `data: [DONE]\n\n`). A streamed request's errors that happen
 * before the first token (unknown model, prompt too long, queue full, timeout in the queue) are
 * ordinary HTTP errors; the stream opens only once decoding began.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes, randomInt } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { GenerationDone, GenerationParams, GenerateRequest, ModelInfo, WireLogprob } from '../../generation/generation-protocol.js';
import type { GenerationHandle } from '../../generation/generation-service.js';
import { chatLogprobs, completionLogprobs } from '../../generation/openai-logprobs.js';
import { checkChatBody, checkCompletionBody, messageText, normalizeOpenAiBody } from '../../generation/openai-request.js';
import { chatBodySchema, chatResponseSchema, completionBodySchema, completionResponseSchema, modelObjectSchema, modelsResponseSchema } from '../../generation/openai-schemas.js';
import { clip, HttpError } from '../http-error.js';
import { openaiErrorResponses as errorResponses } from '../error-schemas.js';
import { openaiErrorBody } from '../openai-error.js';
import type { ServerState } from '../server-state.js';

interface SamplingBody {
  model: string;
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  stop?: string | string[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  n?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  user?: string;
}

interface CompletionBody extends SamplingBody {
  prompt: string;
  /** Alternatives per token (0 to 5); absent: no log-probabilities. */
  logprobs?: number;
}

interface ChatBody extends SamplingBody {
  messages: { role: string; content: string | { type: string; text?: string }[]; name?: string }[];
  logprobs?: boolean;
  top_logprobs?: number;
}

type Kind = 'completion' | 'chat';

const generationErrors = { 400: errorResponses[400], 401: errorResponses[401], 404: errorResponses[404], 500: errorResponses[500], 503: errorResponses[503], 504: errorResponses[504] };

/** The 404 for a model id that is not served, naming the served ones. */
function unknownModel(state: ServerState, id: string): HttpError {
  const served = state.config.models.map((m) => `'${m.id}'`).join(', ') || 'none (start the server with --model DIR or --demo-model)';
  return new HttpError(404, 'E_UNKNOWN_MODEL', `model: unknown model '${clip(id)}'; serving: ${served}`, { field: 'model' });
}

/** A model in OpenAI's model-object shape. */
function modelObject(m: ModelInfo): Record<string, unknown> {
  return { id: m.id, object: 'model', created: m.created, owned_by: 'moe-runtime', context_length: m.maxPositions, model_type: m.modelType };
}

/** The served model, or 503 (still loading) / 404 naming the id and the served ones. */
function checkModel(state: ServerState, id: string): void {
  const service = state.generation;
  if (!service || !state.config.models.some((m) => m.id === id)) {
    state.generationMetrics?.requests.inc({ model: '(unknown)', status: 'invalid' });
    throw unknownModel(state, id);
  }
  if (!service.ready) throw new HttpError(503, 'E_NOT_READY', `model '${id}' is not loaded yet (the generation worker is starting)`, { headers: { 'retry-after': '1' } });
}

/** Log-probabilities asked for: alternatives per token, or undefined for none. */
function topLogprobsOf(kind: Kind, body: CompletionBody | ChatBody): number | undefined {
  if (kind === 'completion') return (body as CompletionBody).logprobs;
  const chat = body as ChatBody;
  return chat.logprobs === true ? (chat.top_logprobs ?? 0) : undefined;
}

/** Validated generation parameters (after the schema: the cap and the defaults). */
function paramsOf(state: ServerState, kind: Kind, body: CompletionBody | ChatBody): GenerationParams {
  const field = body.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens';
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  const cap = state.config.generation.maxCompletionTokens;
  if (maxTokens !== undefined && maxTokens > cap) {
    state.generationMetrics?.requests.inc({ model: body.model, status: 'invalid' });
    throw new HttpError(400, 'E_MAX_TOKENS', `${field}: ${maxTokens} is over this server's cap of ${cap} tokens per request (generation.maxCompletionTokens)`, { field });
  }
  const temperature = body.temperature ?? 1;
  return {
    maxTokens,
    defaultMaxTokens: state.config.generation.defaultMaxTokens,
    temperature,
    topP: body.top_p,
    topK: body.top_k,
    // As OpenAI: without a seed, sampled text differs from call to call.
    seed: body.seed ?? (temperature > 0 ? randomInt(2 ** 31 - 1) : undefined),
    stop: body.stop === undefined ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop,
    frequencyPenalty: body.frequency_penalty,
    presencePenalty: body.presence_penalty,
    topLogprobs: topLogprobsOf(kind, body),
    n: body.n ?? 1,
  };
}

/** A choice's `logprobs` field in the route's shape (null when none were asked for). */
function logprobsField(kind: Kind, entries: readonly WireLogprob[] | undefined, offset: number): unknown {
  if (!entries) return null;
  return kind === 'chat' ? chatLogprobs(entries) : completionLogprobs(entries, offset);
}

function usageOf(done: GenerationDone): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: done.promptTokens, completion_tokens: done.completionTokens, total_tokens: done.promptTokens + done.completionTokens };
}

/** One server-sent event. */
function sse(data: unknown): string {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

async function handle(state: ServerState, kind: Kind, request: FastifyRequest<{ Body: CompletionBody | ChatBody }>, reply: FastifyReply): Promise<unknown> {
  const body = request.body;
  if (kind === 'chat') checkChatBody(body as unknown as Record<string, unknown>);
  else checkCompletionBody(body as unknown as Record<string, unknown>);
  checkModel(state, body.model);
  const params = paramsOf(state, kind, body);
  const prompt: GenerateRequest['prompt'] =
    kind === 'completion'
      ? { kind: 'text', text: (body as CompletionBody).prompt }
      : { kind: 'chat', messages: (body as ChatBody).messages.map((m, i) => ({ role: m.role, content: messageText(m.content, i) })) };
  // A caller that hangs up stops its generation (waiting or running): the worker moves on.
  const gone = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  const gen = state.generation!.submit({ model: body.model, prompt, params }, gone.signal);
  await gen.started;
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: body.model };
  if (body.stream) return stream(reply, kind, gen, { ...head, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion' }, body.stream_options?.include_usage === true, params.n ?? 1);
  const n = params.n ?? 1;
  const texts = new Array<string>(n).fill('');
  const logprobs: WireLogprob[][] | undefined = params.topLogprobs === undefined ? undefined : Array.from({ length: n }, () => []);
  gen.onChunk((c) => {
    texts[c.choice] += c.text;
    if (c.logprobs) logprobs?.[c.choice].push(...c.logprobs);
  });
  const done = await gen.done;
  const choices = texts.map((text, index) => {
    const finish_reason = done.choices[index]?.finishReason ?? done.finishReason;
    const lp = logprobsField(kind, logprobs?.[index], 0);
    return kind === 'chat' ? { index, message: { role: 'assistant', content: text }, logprobs: lp, finish_reason } : { index, text, logprobs: lp, finish_reason };
  });
  return { ...head, choices, usage: usageOf(done) };
}

function stream(reply: FastifyReply, kind: Kind, gen: GenerationHandle, head: Record<string, unknown>, includeUsage: boolean, n: number): FastifyReply {
  const out = new PassThrough();
  const write = (s: string): void => {
    if (!out.destroyed && !out.writableEnded) out.write(s);
  };
  const chunk = (index: number, delta: string | Record<string, unknown>, finish: string | null = null, logprobs: unknown = null): Record<string, unknown> =>
    kind === 'chat'
      ? { ...head, choices: [{ index, delta: typeof delta === 'string' ? { content: delta } : delta, logprobs, finish_reason: finish }] }
      : { ...head, choices: [{ index, text: delta, logprobs, finish_reason: finish }] };
  if (kind === 'chat') for (let i = 0; i < n; i++) write(sse(chunk(i, { role: 'assistant', content: '' })));
  // Completion logprobs carry text offsets: each choice's offset runs over its chunks.
  const offsets = new Array<number>(n).fill(0);
  gen.onChunk((c) => {
    if (!c.text && !c.logprobs?.length) return;
    write(sse(chunk(c.choice, c.text, null, logprobsField(kind, c.logprobs, offsets[c.choice]))));
    offsets[c.choice] += c.text.length;
  });
  gen.done.then(
    (done) => {
      for (let i = 0; i < n; i++) write(sse(chunk(i, kind === 'chat' ? {} : '', done.choices[i]?.finishReason ?? done.finishReason)));
      if (includeUsage) write(sse({ ...head, choices: [], usage: usageOf(done) }));
      write(sse('[DONE]'));
      out.end();
    },
    (err: unknown) => {
      // The status line is sent: report the failure in the stream (OpenAI's error shape), then end.
      const e = err instanceof HttpError ? err : new HttpError(500, 'E_GENERATION', String(err));
      write(sse(openaiErrorBody(e)));
      out.end();
    },
  );
  return reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache, no-transform')
    .header('x-accel-buffering', 'no')
    .send(out);
}

/** OpenAI clients send null for an optional field they leave unset: null means absent here. */
async function nullsAsAbsent(request: FastifyRequest): Promise<void> {
  normalizeOpenAiBody(request.body);
}

/** Registers the OpenAI-compatible routes. */
export function openaiRoutes(app: FastifyInstance, state: ServerState): void {
  app.get(
    '/v1/models',
    { schema: { tags: ['openai'], summary: 'The served text models (OpenAI format)', response: { 200: modelsResponseSchema, 401: errorResponses[401] } } },
    async () => ({ object: 'list', data: (state.generation?.models ?? []).map(modelObject) }),
  );
  app.get<{ Params: { id: string } }>(
    '/v1/models/:id',
    {
      schema: {
        tags: ['openai'],
        summary: 'One served text model (OpenAI format); 404 for an id not served',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
        response: { 200: modelObjectSchema, 401: errorResponses[401], 404: errorResponses[404] },
      },
    },
    async (request) => {
      const m = (state.generation?.models ?? []).find((x) => x.id === request.params.id);
      if (!m) throw unknownModel(state, request.params.id);
      return modelObject(m);
    },
  );

  app.post<{ Body: CompletionBody }>(
    '/v1/completions',
    {
      schema: {
        tags: ['openai'],
        summary: 'Complete a prompt (OpenAI format; stream: true for server-sent events)',
        body: completionBodySchema,
        response: { 200: completionResponseSchema, ...generationErrors },
      },
      preValidation: nullsAsAbsent,
    },
    async (request, reply) => handle(state, 'completion', request, reply),
  );
  app.post<{ Body: ChatBody }>(
    '/v1/chat/completions',
    {
      schema: {
        tags: ['openai'],
        summary: "Answer a conversation with the model's chat template (OpenAI format; stream: true for server-sent events)",
        body: chatBodySchema,
        response: { 200: chatResponseSchema, ...generationErrors },
      },
      preValidation: nullsAsAbsent,
    },
    async (request, reply) => handle(state, 'chat', request, reply),
  );
}
