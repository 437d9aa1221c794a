/**
 * A prompt too long for the context is refused by its length in characters before anything
 * tokenizes it: no token of a model's vocabulary covers more characters than its longest
 * token has bytes, so a prompt of more than `context * longest` characters cannot fit. The
 * check runs on the main thread in O(1) per message, so a 10 MB prompt never reaches the
 * generation worker (where tokenizing it would hold every running stream).
 *
 * The bound is an upper one: a token's bytes are at least as many as the UTF-16 units of the
 * text it decodes to, and special tokens count by their written form. Prompts under it are
 * still checked exactly after tokenizing.
 */
import { HttpError } from '../http/http-error.js';
import type { GenerateRequest, ModelInfo } from './generation-protocol.js';

/** What the bound needs of a tokenizer (ModelTokenizer). */
export interface TokenBytesSource {
  tokenBytes(id: number): Uint8Array;
}

/**
 * The longest token of a vocabulary in bytes (special tokens by their text): no token covers
 * more UTF-16 units of the prompt than that, since every unit takes at least one UTF-8 byte.
 * Ids the tokenizer does not know are skipped.
 */
export function longestTokenBytes(tokenizer: TokenBytesSource, vocabSize: number): number | undefined {
  let longest = 0;
  for (let id = 0; id < vocabSize; id++) {
    try {
      longest = Math.max(longest, tokenizer.tokenBytes(id).length);
    } catch {
      // An id past the tokenizer's vocabulary (the embedding is padded): no text maps to it.
    }
  }
  return longest > 0 ? longest : undefined;
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
