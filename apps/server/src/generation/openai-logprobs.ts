/**
 * Log-probabilities in OpenAI's two response shapes: chat's `logprobs.content` (one entry per
 * token with its `top_logprobs`) and the legacy completion shape (parallel arrays). The values
 * are the model's log-softmax at temperature 1 after the penalties, before top-k / top-p (see
 * @moe-runtime/model's `SampledToken.logprob`).
 */
import type { WireLogprob } from './generation-protocol.js';

/** A chat choice's (or a chat chunk's) `logprobs`. */
export function chatLogprobs(entries: readonly WireLogprob[]): { content: unknown[]; refusal: null } {
  return {
    content: entries.map((e) => ({ token: e.token, logprob: e.logprob, bytes: e.bytes, top_logprobs: e.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })) })),
    refusal: null,
  };
}

/** The legacy completion `logprobs` object. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  /** Character offset of each token in the choice's text: the summed lengths of the tokens' strings before it. */
  text_offset: number[];
}

/** A completion choice's (or chunk's) `logprobs`; `offset`: the text offset of its first token. */
export function completionLogprobs(entries: readonly WireLogprob[], offset = 0): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  for (const e of entries) {
    out.tokens.push(e.token);
    out.token_logprobs.push(e.logprob);
    out.top_logprobs.push(Object.fromEntries(e.top.map((t) => [t.token, t.logprob])));
    out.text_offset.push(at);
    at += e.token.length;
  }
  return out;
}
