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
 * In `auto` mode such layers (and routers this list does not know, to be safe) run each
 * request as its own batch, so their results equal a direct `forward` of that request alone.
 */
import type { MoELayerConfig } from '@moe-runtime/core';
import type { BatchingMode } from '../config.js';

/** Routers whose per-token output is independent of the rest of the batch (given their options). */
const TOKEN_INDEPENDENT: Readonly<Record<string, (options: Readonly<Record<string, unknown>>) => boolean>> = {
  'topk-softmax': () => true,
  hash: () => true,
  'sigmoid-group-topk': () => true,
  'softmax-group-topk': () => true,
  // Noise is off at inference by default; with it on the draw depends on the batch.
  'noisy-topk': (o) => o.train !== true,
  // `switch` without dropping is per-token too.
  switch: (o) => o.dropTokens === false,
};

/** True when requests for a layer with this config may be batched together under `mode`. */
export function batchesAcrossRequests(config: MoELayerConfig, mode: BatchingMode): boolean {
  if (mode === 'across-requests') return true;
  if (mode === 'per-request') return false;
  const check = TOKEN_INDEPENDENT[config.router.name];
  return check ? check(config.router.options ?? {}) : false;
}
