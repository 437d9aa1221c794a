/**
 * A prompt too long for the context is refused by its length in characters before anything
 * tokenizes it: no token of a model's vocabulary covers more characters than its longest
 * vocabulary entry, so a prompt of more than `context * longest` characters cannot fit. The
 * check runs on the main thread in O(1) per message, so a 10 MB prompt never reaches the
 * generation worker (where tokenizing it would hold every running stream).
 *
 * The bound is an upper one: byte-level entries (`Ġ` + bytes) are at least as long as the text
 * they decode to, and special tokens count by their written form. Prompts under it are still
 * checked exactly after tokenizing.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpError } from '../http/http-error.js';
import type { GenerateRequest, ModelInfo } from './generation-protocol.js';

function entryLength(entry: unknown): number {
  if (typeof entry === 'string') return entry.length;
  if (Array.isArray(entry) && typeof entry[0] === 'string') return entry[0].length;
  return 0;
}

/**
 * The longest vocabulary entry (BPE or WordPiece `vocab` object, Unigram `[piece, score]` list)
 * and added token of a `tokenizer.json`, in UTF-16 units; undefined when the file has neither.
 */
export function longestTokenChars(tokenizerJson: unknown): number | undefined {
  const json = tokenizerJson as { model?: { vocab?: unknown }; added_tokens?: { content?: unknown }[] };
  const vocab = json?.model?.vocab;
  let longest = 0;
  if (Array.isArray(vocab)) for (const e of vocab) longest = Math.max(longest, entryLength(e));
  else if (vocab && typeof vocab === 'object') for (const k of Object.keys(vocab)) longest = Math.max(longest, k.length);
  else return undefined;
  for (const t of json.added_tokens ?? []) longest = Math.max(longest, entryLength(t.content));
  return longest > 0 ? longest : undefined;
}

/** `longestTokenChars` of a model folder's `tokenizer.json`. */
export async function longestTokenCharsOf(dir: string): Promise<number | undefined> {
  return longestTokenChars(JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')));
}

/** Characters of the text a prompt is made of (the chat template only adds to it). */
export function promptChars(prompt: GenerateRequest['prompt']): number {
  if (prompt.kind === 'text') return prompt.text.length;
  let n = 0;
  for (const m of prompt.messages) n += m.content.length;
  return n;
}

/** The 400 `E_CONTEXT_LENGTH` for a prompt that cannot fit by its characters alone, or undefined. */
export function promptBoundError(prompt: GenerateRequest['prompt'], info: ModelInfo): HttpError | undefined {
  if (info.maxTokenChars === undefined) return undefined;
  const chars = promptChars(prompt);
  const bound = info.maxPositions * info.maxTokenChars;
  if (chars <= bound) return undefined;
  const field = prompt.kind === 'text' ? 'prompt' : 'messages';
  return new HttpError(
    400,
    'E_CONTEXT_LENGTH',
    `${field}: ${chars} characters cannot fit model '${info.id}''s context of ${info.maxPositions} positions (no token is longer than ${info.maxTokenChars} characters, so at most ${bound} characters fit); shorten the prompt`,
    { field },
  );
}
