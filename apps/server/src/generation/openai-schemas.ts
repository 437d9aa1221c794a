/**
 * JSON schemas of the OpenAI-compatible endpoints: Fastify validates requests with them (400
 * naming the field, e.g. `temperature: must be >= 0`, `messages[1].role: must have required
 * property 'role'`) and @fastify/swagger puts them in the OpenAPI document.
 */
import { MODEL_TYPES } from '@moe-runtime/model/architectures';

/** Most choices (`n`) one request may ask for. */
export const MAX_CHOICES_PER_REQUEST = 16;

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
    properties: {
      include_usage: { type: 'boolean', description: 'a last chunk (empty choices) carries usage' },
      include_obfuscation: { type: 'boolean', description: 'accepted and ignored' },
    },
  },
  n: { type: 'integer', minimum: 1, maximum: MAX_CHOICES_PER_REQUEST, description: `independent choices of the prompt (one prefill, forked sessions), 1 to ${MAX_CHOICES_PER_REQUEST}` },
  frequency_penalty: { type: 'number', minimum: -2, maximum: 2, description: "lowers a token's logit by this much per time it was already generated; default 0" },
  presence_penalty: { type: 'number', minimum: -2, maximum: 2, description: 'lowers the logit of every token already generated; default 0' },
  logit_bias: { type: 'object', description: 'only an empty object is accepted' },
  user: { type: 'string', description: 'accepted and ignored' },
  metadata: { type: 'object', description: 'accepted and ignored' },
  store: { type: 'boolean', description: 'accepted and ignored (nothing is stored)' },
  service_tier: { type: 'string', description: 'accepted and ignored' },
} as const;

/** `POST /v1/completions` body. */
export const completionBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['model', 'prompt'],
  properties: {
    ...sampling,
    prompt: { type: 'string', description: 'the text to continue (token arrays and lists of prompts are not supported)' },
    logprobs: { type: 'integer', minimum: 0, maximum: 5, description: 'log-probabilities of each token with this many alternatives (0 to 5)' },
    echo: { type: 'boolean', description: 'only false is supported' },
    best_of: { type: 'integer', minimum: 1, description: 'only best_of equal to n is supported' },
    suffix: { type: 'string', description: 'only an empty suffix is supported' },
  },
} as const;

/** A part of a message's content: only `text` parts are served (others are refused by name). */
const contentPart = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' }, text: { type: 'string' } },
} as const;

/** `POST /v1/chat/completions` body. */
export const chatBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['model', 'messages'],
  properties: {
    ...sampling,
    max_completion_tokens: { type: 'integer', minimum: 1, description: 'newer name of max_tokens' },
    logprobs: { type: 'boolean', description: 'return the log-probability of each generated token' },
    top_logprobs: { type: 'integer', minimum: 0, maximum: 20, description: 'with logprobs: this many most likely alternatives per token (0 to 20)' },
    response_format: {
      type: 'object',
      required: ['type'],
      properties: { type: { type: 'string', enum: ['text', 'json_object', 'json_schema'] }, json_schema: { type: 'object' } },
      description: "only { type: 'text' } is supported (json_object and json_schema are refused)",
    },
    tools: { type: 'array', description: 'refused unless empty or tool_choice is "none" (this server does not call tools)' },
    tool_choice: { anyOf: [{ type: 'string' }, { type: 'object' }], description: '"none" (or "auto" with no tools)' },
    parallel_tool_calls: { type: 'boolean', description: 'accepted and ignored' },
    functions: { type: 'array', description: 'refused unless empty or function_call is "none"' },
    function_call: { anyOf: [{ type: 'string' }, { type: 'object' }], description: '"none" (or "auto" with no functions)' },
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
          content: { anyOf: [{ type: 'string' }, { type: 'array', items: contentPart }] },
          name: { type: 'string' },
          tool_call_id: { type: 'string', description: 'on a tool message: accepted (the template sees the content)' },
          tool_calls: { type: 'array', description: 'only an empty list is supported' },
          refusal: { type: 'string', description: 'accepted and ignored' },
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
  stream_options: '{ include_usage?: boolean, include_obfuscation?: boolean }',
  n: `an integer from 1 to ${MAX_CHOICES_PER_REQUEST}`,
  frequency_penalty: 'a number from -2 to 2',
  presence_penalty: 'a number from -2 to 2',
  logit_bias: 'an empty object (biases are not supported)',
  user: 'a string',
  metadata: 'an object',
  store: 'a boolean',
  service_tier: 'a string',
};

/** What each `/v1/completions` field expects. */
export const COMPLETION_EXPECTED: Readonly<Record<string, string>> = {
  model: 'a served model id (GET /v1/models)',
  prompt: 'a string',
  ...SAMPLING_EXPECTED,
  logprobs: 'an integer from 0 to 5',
  echo: 'false',
  best_of: 'an integer equal to n',
  suffix: 'an empty string',
};

/** What each `/v1/chat/completions` field expects. */
export const CHAT_EXPECTED: Readonly<Record<string, string>> = {
  model: 'a served model id (GET /v1/models)',
  messages:
    "[{ role: 'system' | 'developer' | 'user' | 'assistant' | 'tool', content: string | [{ type: 'text', text: string }] (null on an assistant message), name?: string, tool_call_id?: string }], at least one",
  ...SAMPLING_EXPECTED,
  max_completion_tokens: 'an integer >= 1',
  logprobs: 'a boolean',
  top_logprobs: 'an integer from 0 to 20 (with logprobs: true)',
  response_format: "{ type: 'text' }",
  tools: 'an empty list (or tool_choice: "none")',
  tool_choice: '"none" (or "auto" with no tools)',
  parallel_tool_calls: 'a boolean',
  functions: 'an empty list (or function_call: "none")',
  function_call: '"none" (or "auto" with no functions)',
};

const usage = {
  type: 'object',
  properties: { prompt_tokens: { type: 'integer' }, completion_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } },
} as const;

const finishReason = { type: 'string', enum: ['stop', 'length'], nullable: true } as const;

/** One token's log-probability in a chat answer (OpenAI's `ChatCompletionTokenLogprob`). */
const tokenLogprob = {
  type: 'object',
  properties: {
    token: { type: 'string' },
    logprob: { type: 'number' },
    bytes: { type: 'array', items: { type: 'integer' } },
    top_logprobs: { type: 'array', items: { type: 'object', properties: { token: { type: 'string' }, logprob: { type: 'number' }, bytes: { type: 'array', items: { type: 'integer' } } } } },
  },
} as const;

/** `choices[].logprobs` of a chat answer. */
export const chatLogprobsSchema = {
  type: 'object',
  nullable: true,
  properties: { content: { type: 'array', items: tokenLogprob }, refusal: { type: 'null' } },
} as const;

/** `choices[].logprobs` of a completion (the legacy shape). */
export const completionLogprobsSchema = {
  type: 'object',
  nullable: true,
  properties: {
    tokens: { type: 'array', items: { type: 'string' } },
    token_logprobs: { type: 'array', items: { type: 'number' } },
    top_logprobs: { type: 'array', items: { type: 'object', additionalProperties: { type: 'number' } } },
    text_offset: { type: 'array', items: { type: 'integer' } },
  },
} as const;


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
      items: { type: 'object', properties: { index: { type: 'integer' }, text: { type: 'string' }, logprobs: completionLogprobsSchema, finish_reason: finishReason } },
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
          logprobs: chatLogprobsSchema,
          finish_reason: finishReason,
        },
      },
    },
    usage,
  },
} as const;

/** One model (OpenAI's model object, with two extensions). */
export const modelObjectSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['model'] },
    created: { type: 'integer' },
    owned_by: { type: 'string' },
    context_length: { type: 'integer', description: 'extension: max_position_embeddings' },
    model_type: { type: 'string', description: `extension: ${MODEL_TYPES.join(', ')}` },
  },
} as const;

/** `GET /v1/models` 200. */
export const modelsResponseSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: { type: 'array', items: modelObjectSchema },
  },
} as const;
