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
  /** The longest vocabulary entry in characters (the prompt-length bound before tokenizing; see prompt-bound.ts). */
  readonly maxTokenChars?: number;
  readonly hasChatTemplate: boolean;
  readonly weightBytes: number;
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

/** New text. */
export interface GenerationChunk {
  readonly type: 'chunk';
  readonly id: number;
  readonly text: string;
  readonly tokens: number;
}

/** The generation finished. */
export interface GenerationDone {
  readonly type: 'done';
  readonly id: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly finishReason: 'stop' | 'length';
  readonly timeToFirstTokenMs: number;
  readonly decodeTokensPerSecond: number;
  readonly prefillTokensPerSecond: number;
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
