/** Per-layer key/value caches of one generation session; grown by doubling as tokens arrive. */
import { ConfigError } from '@moe-runtime/core';

/** Keys and values of every layer for the positions seen so far. */
export class KvCache {
  /** Positions stored. */
  length = 0;
  private capacity: number;
  readonly keys: Float32Array[];
  readonly values: Float32Array[];

  constructor(
    readonly numLayers: number,
    /** KV heads x head dim. */
    readonly width: number,
    initialCapacity = 256,
  ) {
    // Doubling from 0 would never make room.
    if (!Number.isInteger(initialCapacity) || initialCapacity < 1) throw new ConfigError('initialCapacity', `expected a positive integer, got ${initialCapacity}`);
    this.capacity = initialCapacity;
    this.keys = Array.from({ length: numLayers }, () => new Float32Array(initialCapacity * width));
    this.values = Array.from({ length: numLayers }, () => new Float32Array(initialCapacity * width));
  }

  /** Makes room for `positions` in total. */
  reserve(positions: number): void {
    if (positions <= this.capacity) return;
    let cap = this.capacity;
    while (cap < positions) cap *= 2;
    for (let l = 0; l < this.numLayers; l++) {
      const k = new Float32Array(cap * this.width);
      k.set(this.keys[l]);
      this.keys[l] = k;
      const v = new Float32Array(cap * this.width);
      v.set(this.values[l]);
      this.values[l] = v;
    }
    this.capacity = cap;
  }

  /** Bytes held. */
  get bytes(): number {
    return 2 * this.numLayers * this.capacity * this.width * 4;
  }
}
