/**
 * JSON schemas of the OpenAI-compatible endpoints: Fastify validates requests with them (400
 * naming the field, e.g. `temperature: must be >= 0`, `messages[1].role: must have required
 * property 'role'`) and @fastify/swagger puts them in the OpenAPI document.
 */
import { MODEL_TYPES } from '@moe-runtime/model/architectures';

const sampling = {
  model: { type: 'string', minLength: 1, description: 'a served model id (GET /v1/models)' },
  max_tokens: { type: 'integer', minimum: 1, description: 'most tokens to generate (capped by generation.maxCompletionTokens; default generation.defaultMaxTokens, clipped to the context)' },
  temperature: { type: 'number', minimum: 0, maximum: 2, description: '0 = greedy; default 1 (as OpenAI)' },
  top_p: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'nucleus sampling mass; default 1' },
  top_k: { type: 'integer', minimum: 0, description: 'extension: keep the k most likely tokens (0 = all)' },
  seed: { type: 'integer', description: 'sampler seed: the same seed and parameters give the same text' },
  stop: {
    anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 4 }],
    description: 'up to 4 strings; generation stops before the first one (not returned)',
  },
  stream: { type: 'boolean', description: 'server-sent events, ending with data: [DONE]' },
  stream_options: {
    type: 'object',
    additionalProperties: false,
    properties: { include_usage: { type: 'boolean', description: 'a last chunk (empty choices) carries usage' } },
  },
  n: { type: 'integer', minimum: 1, maximum: 1, description: 'only 1 is supported' },
  user: { type: 'string', description: 'accepted and ignored' },
} as const;

/** `POST /v1/completions` body. */
export const completionBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['model', 'prompt'],
  properties: {
    ...sampling,
    prompt: { type: 'string', description: 'the text to continue (token arrays and lists of prompts are not supported)' },
  },
} as const;

/** `POST /v1/chat/completions` body. */
export const chatBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['model', 'messages'],
  properties: {
    ...sampling,
    max_completion_tokens: { type: 'integer', minimum: 1, description: 'newer name of max_tokens' },
    messages: {
      type: 'array',
      minItems: 1,
      description: "the conversation, rendered with the model's chat template",
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['role', 'content'],
        properties: {
          role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
          content: { type: 'string' },
          name: { type: 'string' },
        },
      },
    },
  },
} as const;

/** What each sampling field expects, for validation messages. */
const SAMPLING_EXPECTED: Readonly<Record<string, string>> = {
  max_tokens: 'an integer >= 1',
  temperature: 'a number from 0 to 2',
  top_p: 'a number in (0, 1]',
  top_k: 'an integer >= 0',
  seed: 'an integer',
  stop: 'a string or up to 4 strings',
  stream: 'a boolean',
  stream_options: '{ include_usage: boolean }',
  n: '1 (one choice per request is supported)',
  user: 'a string',
};

/** What each `/v1/completions` field expects. */
export const COMPLETION_EXPECTED: Readonly<Record<string, string>> = { model: 'a served model id (GET /v1/models)', prompt: 'a string', ...SAMPLING_EXPECTED };

/** What each `/v1/chat/completions` field expects. */
export const CHAT_EXPECTED: Readonly<Record<string, string>> = {
  model: 'a served model id (GET /v1/models)',
  messages: "[{ role: 'system' | 'developer' | 'user' | 'assistant' | 'tool', content: string, name?: string }], at least one",
  ...SAMPLING_EXPECTED,
  max_completion_tokens: 'an integer >= 1',
};

const usage = {
  type: 'object',
  properties: { prompt_tokens: { type: 'integer' }, completion_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } },
} as const;

const finishReason = { type: 'string', enum: ['stop', 'length'], nullable: true } as const;

/** `POST /v1/completions` 200 (non-streamed). */
export const completionResponseSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['text_completion'] },
    created: { type: 'integer' },
    model: { type: 'string' },
    choices: {
      type: 'array',
      items: { type: 'object', properties: { index: { type: 'integer' }, text: { type: 'string' }, logprobs: { type: 'null' }, finish_reason: finishReason } },
    },
    usage,
  },
} as const;

/** `POST /v1/chat/completions` 200 (non-streamed). */
export const chatResponseSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['chat.completion'] },
    created: { type: 'integer' },
    model: { type: 'string' },
    choices: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer' },
          message: { type: 'object', properties: { role: { type: 'string' }, content: { type: 'string' } } },
          logprobs: { type: 'null' },
          finish_reason: finishReason,
        },
      },
    },
    usage,
  },
} as const;

/** `GET /v1/models` 200. */
export const modelsResponseSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          object: { type: 'string', enum: ['model'] },
          created: { type: 'integer' },
          owned_by: { type: 'string' },
          context_length: { type: 'integer', description: 'extension: max_position_embeddings' },
          model_type: { type: 'string', description: `extension: ${MODEL_TYPES.join(', ')}` },
        },
      },
    },
  },
} as const;
