/**
 * Messages between the main thread and an inference worker. Float data crosses as transferred
 * ArrayBuffers (no copy); everything else is structured-clone JSON.
 */
import type { BackendChoice, MoELayerConfig } from '@moe-runtime/core';
import type { LayerSpec } from './layer-spec.js';

/** What a worker needs to build every layer. */
export interface WorkerInit {
  readonly type: 'init';
  readonly backend: readonly BackendChoice[];
  readonly backendModules: readonly string[];
  readonly layers: readonly LayerSpec[];
  /** Nice value for this thread (and the backend threads it creates); 0: unchanged. */
  readonly nice: number;
}

/** One backend batch: the rows of one or more requests, concatenated. */
export interface ForwardRequest {
  readonly type: 'forward';
  readonly id: number;
  readonly layer: string;
  /** `[rows, D]` float32. */
  readonly x: Float32Array;
  readonly rows: number;
  /** `[rows]`, when the router needs token ids. */
  readonly tokenIds?: Int32Array;
  /** Return each token's experts and weights. */
  readonly wantRouting: boolean;
}

/** Asks the worker to free everything and exit. */
export interface ShutdownRequest {
  readonly type: 'shutdown';
}

export type ToWorker = WorkerInit | ForwardRequest | ShutdownRequest;

/** A layer as built in the worker. */
export interface LayerInfo {
  readonly id: string;
  readonly config: MoELayerConfig;
  readonly router: string;
  readonly needsTokenIds: boolean;
  readonly source: LayerSpec['source'];
  /** Parameters in the routed experts, router and shared experts. */
  readonly parameters: number;
}

/** Facts about the backend the worker resolved. */
export interface BackendReport {
  readonly name: string;
  readonly engine: string;
  readonly threads?: number;
  /** The nice value the inference thread runs at, or why it could not be set. */
  readonly nice: number | string;
  /** Backend packages imported / skipped in the worker. */
  readonly modules: { loaded: string[]; skipped: { name: string; reason: string }[] };
  /** Every backend registered in the worker, most preferred first. */
  readonly registered: { name: string; priority: number; description?: string }[];
  /** Every router registered in the worker. */
  readonly routers: { name: string; description?: string; needs_token_ids: boolean }[];
}

export interface ReadyMessage {
  readonly type: 'ready';
  readonly backend: BackendReport;
  readonly layers: readonly LayerInfo[];
}

export interface InitErrorMessage {
  readonly type: 'init-error';
  readonly message: string;
}

/** Per-token routing of a batch: token t's experts are `experts[offsets[t] .. offsets[t+1])`. */
export interface BatchRouting {
  readonly offsets: Int32Array;
  readonly experts: Int32Array;
  readonly weights: Float32Array;
}

export interface ForwardResult {
  readonly type: 'result';
  readonly id: number;
  /** `[rows, D]` float32. */
  readonly output: Float32Array;
  /** Kept rows per expert in this batch. */
  readonly tokensPerExpert: number[];
  readonly droppedTokens: number;
  readonly computeMs: number;
  readonly routing?: BatchRouting;
}

export interface ForwardError {
  readonly type: 'error';
  readonly id: number;
  readonly message: string;
  /** core's MoeError code, when the error was one. */
  readonly code?: string;
}

export type FromWorker = ReadyMessage | InitErrorMessage | ForwardResult | ForwardError;
