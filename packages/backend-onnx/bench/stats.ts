/** Timing helpers of the benchmark: medians and percentiles of repeated runs. */

/** The q-quantile (0..1) of samples, by nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

/** Milliseconds taken by `fn`. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * Runs every variant `warmup` times, then `repeats` rounds in which each variant runs once
 * (round-robin, so load from other processes falls on all variants alike; each round starts
 * one variant later, so no variant always follows the same one). Returns the samples in ms
 * per variant, in round order. Each variant gets the round number (to pick that round's input).
 */
export async function roundRobin(variants: readonly ((round: number) => Promise<unknown>)[], warmup: number, repeats: number): Promise<number[][]> {
  for (let i = 0; i < warmup; i++) for (const v of variants) await v(i);
  const samples = variants.map(() => [] as number[]);
  for (let r = 0; r < repeats; r++) {
    for (let j = 0; j < variants.length; j++) {
      const i = (r + j) % variants.length;
      samples[i].push(await timeMs(() => variants[i](r)));
    }
  }
  return samples;
}
