/**
 * Messages between a model's prompt tokenizer thread and the generation worker that owns it.
 * The prompt crosses as text (structured clone); the ids come back as an Int32Array transferred.
 */
import type { GenerateRequest } from './generation-protocol.js';

/** Builds the tokenizer (the data `ModelTokenizer.toJson` gives). */
export interface TokenizerInit {
  readonly tokenizer: Record<string, unknown>;
  readonly config: Record<string, unknown>;
}

/** Tokenizes one prompt (the chat template applied first for a chat). */
export interface TokenizeRequest {
  readonly type: 'encode';
  readonly id: number;
  readonly prompt: GenerateRequest['prompt'];
}

/** The ids of a prompt, or why it could not be tokenized. */
export type TokenizeResult = { readonly type: 'encoded'; readonly id: number; readonly ids: Int32Array } | { readonly type: 'error'; readonly id: number; readonly message: string };
