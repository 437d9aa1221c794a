/**
 * Log-probabilities as they cross to the main thread: token ids become the token's text and
 * bytes (the tokenizer lives in the generation worker), as OpenAI's `logprobs` carry them.
 */
import type { ModelTokenizer, SampledToken } from '@moe-runtime/model';
import type { WireLogprob, WireTokenLogprob } from './generation-protocol.js';

const text = new TextDecoder('utf-8', { fatal: false });

function wireToken(tokenizer: ModelTokenizer, id: number, logprob: number): WireTokenLogprob {
  const bytes = tokenizer.tokenBytes(id);
  return { token: text.decode(bytes), logprob, bytes: [...bytes] };
}

/** The wire form of the sampled tokens of one chunk (entries without log-probabilities are skipped). */
export function wireLogprobs(tokenizer: ModelTokenizer, sampled: readonly SampledToken[]): WireLogprob[] {
  return sampled.flatMap((s) =>
    s.logprob === undefined ? [] : [{ ...wireToken(tokenizer, s.id, s.logprob), top: (s.topLogprobs ?? []).map((t) => wireToken(tokenizer, t.id, t.logprob)) }],
  );
}
