/**
 * What the OpenAI-compatible routes accept beyond their JSON schemas: `null` for an optional
 * field means "absent" (as OpenAI's own clients send it), an assistant message's `content:
 * null` is an empty turn, content-part arrays of type `text` are joined into one string, and
 * the features this server does not have (tools, JSON mode, logit biases, echo, suffixes) are
 * refused with a 400 that names the field rather than silently ignored.
 */
import { HttpError } from '../http/http-error.js';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Drops the keys whose value is null (an absent optional field, in OpenAI's clients). */
function dropNulls(o: Json): void {
  for (const [k, v] of Object.entries(o)) if (v === null) delete o[k];
}

/**
 * Normalizes a parsed body in place before schema validation: top-level nulls and message
 * nulls dropped, except an assistant message's `content: null`, which becomes ''. A null
 * `content` on any other role stays, so validation names it.
 */
export function normalizeOpenAiBody(body: unknown): void {
  if (!isObject(body)) return;
  dropNulls(body);
  if (isObject(body.stream_options)) dropNulls(body.stream_options);
  if (!Array.isArray(body.messages)) return;
  for (const m of body.messages) {
    if (!isObject(m)) continue;
    if (m.role === 'assistant' && m.content === null) m.content = '';
    for (const [k, v] of Object.entries(m)) if (v === null && k !== 'content') delete m[k];
  }
}

function refuse(field: string, message: string): never {
  throw new HttpError(400, 'E_UNSUPPORTED', `${field}: ${message}`, { field, openaiCode: 'unsupported_value' });
}

/** A message's content as one string: text parts joined with newlines; other part types refused. */
export function messageText(content: string | readonly { type: string; text?: string }[], index: number): string {
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      const field = `messages[${index}].content[${j}]`;
      if (part.type !== 'text') refuse(`${field}.type`, `'${part.type}' parts are not supported (this server serves text models); expected 'text'`);
      if (typeof part.text !== 'string') refuse(`${field}.text`, "is missing; expected a string on a 'text' part");
      return part.text;
    })
    .join('\n');
}

/** Refuses a tool or function list unless the choice is "none" (or "auto" with an empty list). */
function checkTools(body: Json, list: 'tools' | 'functions', choice: 'tool_choice' | 'function_call'): void {
  const given = Array.isArray(body[list]) && (body[list] as unknown[]).length > 0;
  const c = body[choice];
  if (c === undefined || c === 'none' || (c === 'auto' && !given)) {
    if (given && c !== 'none') refuse(list, `this server does not call ${list}; send an empty list, omit it, or set ${choice}: "none"`);
    return;
  }
  refuse(choice, `${JSON.stringify(c)} is not supported (this server does not call ${list}); expected "none"`);
}

/** Refuses, naming the field, what both generation routes accept in their schema but do not do. */
function checkCommon(body: Json): void {
  if (isObject(body.logit_bias) && Object.keys(body.logit_bias).length > 0) refuse('logit_bias', 'token biases are not supported; expected an empty object');
}

/** The chat-only refusals (tools, JSON mode, tool calls in the history, top_logprobs without logprobs). */
export function checkChatBody(body: Json): void {
  checkCommon(body);
  checkTools(body, 'tools', 'tool_choice');
  checkTools(body, 'functions', 'function_call');
  const format = isObject(body.response_format) ? body.response_format.type : undefined;
  if (format !== undefined && format !== 'text') {
    refuse('response_format.type', `'${String(format)}' is not supported: this server cannot constrain sampling to JSON; expected 'text' (or omit response_format)`);
  }
  if (body.top_logprobs !== undefined && body.logprobs !== true) refuse('top_logprobs', 'needs logprobs: true');
  (Array.isArray(body.messages) ? body.messages : []).forEach((m: unknown, i) => {
    if (isObject(m) && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) refuse(`messages[${i}].tool_calls`, 'tool calls are not supported; expected none');
  });
}

/** The completion-only refusals (echo, suffix, best_of other than n). */
export function checkCompletionBody(body: Json): void {
  checkCommon(body);
  if (body.echo === true) refuse('echo', 'echoing the prompt is not supported; expected false');
  if (typeof body.suffix === 'string' && body.suffix !== '') refuse('suffix', 'insertion with a suffix is not supported; expected an empty string');
  const n = typeof body.n === 'number' ? body.n : 1;
  if (body.best_of !== undefined && body.best_of !== n) refuse('best_of', `only best_of equal to n (${n}) is supported, got ${String(body.best_of)}`);
}
