/**
 * Whether a layer's requests may share a backend batch.
 *
 * Batching across requests is only invisible to callers when a token's result does not depend
 * on the other tokens in the batch. That holds for per-token routers (top-k softmax, hash,
 * the group-limited sigmoid/softmax routers, noisy top-k with its noise off) but not for:
 * - capacity routers (`switch`, `topk-capacity`): capacity C grows with the batch's T and
 *   tokens are dropped in position order, so another caller's tokens can push yours out;
 * - expert choice: each expert picks its top tokens across the whole batch;
 * - noisy top-k with noise on: the noise stream is drawn per batch.
 * Each router declares this (`batchDependent` when registered). In `auto` mode such layers (and
 * routers not registered here, to be safe) run each request as its own batch, so their results equal a direct `forward` of that request alone.
 */
import { isBatchDependent, listRouters, type MoELayerConfig } from '@moe-runtime/core';
import type { BatchingMode } from '../config.js';

/**
 * True when requests for a layer with this config may be batched together under `mode`. Under
 * `auto`, a router says itself whether its routing depends on the batch (core's
 * `RouterInfo.batchDependent`); a router not registered in this thread runs per request.
 */
export function batchesAcrossRequests(config: MoELayerConfig, mode: BatchingMode): boolean {
  if (mode === 'across-requests') return true;
  if (mode === 'per-request') return false;
  const registered = listRouters().some((r) => r.name === config.router.name);
  return registered && !isBatchDependent(config.router);
}
