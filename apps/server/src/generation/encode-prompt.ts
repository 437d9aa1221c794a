/** The token ids of a generation's prompt, as `TextModel.complete` / `TextModel.chat` make them. */
import type { ModelTokenizer } from '@moe-runtime/model';
import type { GenerateRequest } from './generation-protocol.js';

/** A text prompt with the tokenizer's special tokens; a chat through its template (which writes BOS where the model wants it). */
export function encodePrompt(tokenizer: ModelTokenizer, prompt: GenerateRequest['prompt']): number[] {
  return prompt.kind === 'text' ? tokenizer.encode(prompt.text) : tokenizer.encode(tokenizer.applyChatTemplate(prompt.messages), false);
}
