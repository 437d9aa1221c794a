/**
 * Peak memory during a run. Node has no per-interval high-water mark, so a sampler polls
 * `process.memoryUsage()` on a timer and is also poked after every forward pass (a long
 * synchronous kernel blocks the timer); the process-wide RSS high-water (`maxRSS`) is kept too.
 */

/** Peak figures in MiB. */
export interface MemoryPeaks {
  /** Highest sampled resident set size. */
  readonly rssMb: number;
  /** Highest sampled V8 heap in use. */
  readonly heapMb: number;
  /** Highest sampled memory outside the V8 heap (ArrayBuffers, native): where weights live. */
  readonly externalMb: number;
  /** The process's RSS high-water mark since it started (from getrusage). */
  readonly processMaxRssMb: number;
}

const MB = 1024 * 1024;

/** Polls memory usage until stopped; `sample()` may be called at any time. */
export class MemorySampler {
  private rss = 0;
  private heap = 0;
  private external = 0;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(intervalMs = 25) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** Takes one sample. */
  sample(): void {
    const m = process.memoryUsage();
    if (m.rss > this.rss) this.rss = m.rss;
    if (m.heapUsed > this.heap) this.heap = m.heapUsed;
    // `external` already includes ArrayBuffers (where weights live).
    if (m.external > this.external) this.external = m.external;
  }

  /** Stops polling and returns the peaks. */
  stop(): MemoryPeaks {
    this.sample();
    clearInterval(this.timer);
    return {
      rssMb: this.rss / MB,
      heapMb: this.heap / MB,
      externalMb: this.external / MB,
      processMaxRssMb: (process.resourceUsage().maxRSS * 1024) / MB,
    };
  }
}
