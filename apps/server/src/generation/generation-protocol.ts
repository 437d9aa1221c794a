/**
 * Messages between the main thread and the generation worker (the thread that holds the text
 * models). Everything is structured-clone JSON; text crosses one chunk per message.
 */
import type { BackendInit, BackendReport } from '../shared/worker-backend.js';
import type { ModelSpec } from './model-spec.js';

/** What the worker needs to load every model. */
export interface GenerationInit extends BackendInit {
  readonly type: 'init';
  readonly models: readonly ModelSpec[];
}

/** Sampling and length settings of one generation (already validated). */
export interface GenerationParams {
  /** Undefined: `defaultMaxTokens`, clipped to the model's remaining context. */
  readonly maxTokens?: number;
  readonly defaultMaxTokens: number;
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly seed?: number;
  readonly stop?: readonly string[];
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** Log-probabilities with this many alternatives per token; undefined: none. */
  readonly topLogprobs?: number;
  /** Independent choices of the prompt (one prefill, forked sessions). Default 1. */
  readonly n?: number;
}

/** Starts one generation. */
export interface GenerateRequest {
  readonly type: 'generate';
  readonly id: number;
  readonly model: string;
  readonly prompt: { readonly kind: 'text'; readonly text: string } | { readonly kind: 'chat'; readonly messages: readonly { role: string; content: string }[] };
  readonly params: GenerationParams;
}

/** Stops a generation (the client left, or its deadline passed). */
export interface CancelRequest {
  readonly type: 'cancel';
  readonly id: number;
}

export interface GenerationShutdown {
  readonly type: 'shutdown';
}

export type ToGenerationWorker = GenerationInit | GenerateRequest | CancelRequest | GenerationShutdown;

/** A loaded model as the routes see it. */
export interface ModelInfo {
  readonly id: string;
  readonly source: ModelSpec['source'];
  readonly modelType: string;
  /** The model's context length (`max_position_embeddings`). */
  readonly maxPositions: number;
  /** The longest token in bytes, which bounds the characters one token covers (the prompt-length check before tokenizing; see prompt-bound.ts). */
  readonly maxTokenChars?: number;
  readonly hasChatTemplate: boolean;
  /** The checkpoint kind it was loaded from. */
  readonly format: 'gguf' | 'huggingface';
  /** Bytes of its weights as stored (in the formats the backend holds them in). */
  readonly weightBytes: number;
  /** Bytes its backend holds for it (as the backend reports, else as stored). */
  readonly backendBytes: number;
  /** Bytes kept on the host (the compact embedding table, norms). */
  readonly hostBytes: number;
  /** The worker process's peak resident set size right after it was loaded. */
  readonly peakRssBytes: number;
  /** Unix seconds when it was loaded (the OpenAI `created` field). */
  readonly created: number;
}

export interface GenerationReady {
  readonly type: 'ready';
  readonly backend: BackendReport;
  readonly models: readonly ModelInfo[];
}

export interface GenerationInitError {
  readonly type: 'init-error';
  readonly message: string;
}

/** The prompt was tokenized and the generation began (sent before any text). */
export interface GenerationStarted {
  readonly type: 'started';
  readonly id: number;
  readonly promptTokens: number;
  readonly maxTokens: number;
}

/** One alternative token and its log-probability. */
export interface WireTokenLogprob {
  /** The token's text (a token inside a UTF-8 character reads as U+FFFD here; `bytes` has it). */
  readonly token: string;
  readonly logprob: number;
  readonly bytes: readonly number[];
}

/** A generated token's log-probability with the most likely alternatives. */
export interface WireLogprob extends WireTokenLogprob {
  readonly top: readonly WireTokenLogprob[];
}

/** New text of one choice. */
export interface GenerationChunk {
  readonly type: 'chunk';
  readonly id: number;
  /** Which of the request's `n` choices. */
  readonly choice: number;
  readonly text: string;
  readonly tokens: number;
  /** One per token, when log-probabilities were asked for. */
  readonly logprobs?: readonly WireLogprob[];
}

/** How one choice ended. */
export interface ChoiceDone {
  readonly finishReason: 'stop' | 'length';
  readonly completionTokens: number;
}

/** The generation finished. */
export interface GenerationDone {
  readonly type: 'done';
  readonly id: number;
  readonly promptTokens: number;
  /** Over all choices. */
  readonly completionTokens: number;
  /** Of the first choice. */
  readonly finishReason: 'stop' | 'length';
  /** Every choice, by index. */
  readonly choices: readonly ChoiceDone[];
  readonly timeToFirstTokenMs: number;
  readonly decodeTokensPerSecond: number;
  readonly prefillTokensPerSecond: number;
  /** The model's shared forward passes since the previous report (continuous batching). */
  readonly batch: BatchDelta;
}

/** Work of a model's continuous batcher over some interval. */
export interface BatchDelta {
  /** Forward passes run. */
  readonly steps: number;
  /** Sum over those steps of the sequences in each. */
  readonly sequences: number;
  /** Rows (tokens) fed. */
  readonly rows: number;
}

/** The generation failed (or was refused before it began: `status` 400 for a too long prompt). */
export interface GenerationFailed {
  readonly type: 'failed';
  readonly id: number;
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly field?: string;
}

export type FromGenerationWorker = GenerationReady | GenerationInitError | GenerationStarted | GenerationChunk | GenerationDone | GenerationFailed;
