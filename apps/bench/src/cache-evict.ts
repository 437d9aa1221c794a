/**
 * Cache eviction before every timed pass. In a real decode step every other layer's weights
 * are read between two uses of one layer, so a layer meets its weights cold. In a benchmark
 * that times one layer over and over, the weights of the last pass (all of the dense
 * equivalent's, the experts routed last time) would still sit in the last-level cache and
 * decode would look faster than memory allows. Reading a buffer of twice that cache first
 * pushes them out, for the MoE layer and its dense equivalent alike.
 */
import { createReadKernel, READ_CHUNK_BYTES, type ReadKernel } from './read-kernel.js';

/** The cache size assumed where the OS does not report one. */
export const DEFAULT_LAST_LEVEL_CACHE_BYTES = 32 * 2 ** 20;

/** Evicts the last-level cache by streaming a buffer of twice its size. */
export class CacheEvictor {
  private readonly kernel: ReadKernel;
  private readonly end: number;

  /** @param lastLevelCacheBytes the cache to evict (default 32 MiB when the OS does not say). */
  constructor(lastLevelCacheBytes = DEFAULT_LAST_LEVEL_CACHE_BYTES) {
    const bytes = Math.ceil((2 * lastLevelCacheBytes) / READ_CHUNK_BYTES) * READ_CHUNK_BYTES;
    this.kernel = createReadKernel(bytes);
    this.end = bytes;
  }

  /** Bytes read by every {@link evict}. */
  get bytes(): number {
    return this.end;
  }

  /** Reads the whole buffer once (a few ms at memory speed). */
  evict(): void {
    this.kernel.sum(0, this.end);
  }
}
