/**
 * Messages between the main thread and an inference worker. Float data crosses as transferred
 * ArrayBuffers (no copy); everything else is structured-clone JSON.
 */
import type { MoELayerConfig } from '@moe-runtime/core';
import type { BackendInit, BackendReport } from '../shared/worker-backend.js';
import type { LayerSpec } from './layer-spec.js';

export type { BackendReport } from '../shared/worker-backend.js';

/** What a worker needs to build every layer. */
export interface WorkerInit extends BackendInit {
  readonly type: 'init';
  readonly layers: readonly LayerSpec[];
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
