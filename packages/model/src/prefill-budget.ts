/**
 * How many prompt tokens a continuous-batching step feeds beside running decodes. A prompt chunk
 * makes the step longer, and every running stream waits for it; so the budget is chosen from
 * measurement: an EWMA of the decode-only step time and of the extra time per prompt row in mixed
 * steps, and the chunk is the one whose mixed step stays within `maxSlowdown` times a decode
 * step. A floor keeps every prompt progressing however slow its rows are. While prompts keep
 * arriving every step may be mixed, and the decode-only time would never be measured: so the
 * first step beside decodes, and one in every `probeEvery` after, is a probe that feeds no
 * prompt rows (budget 0).
 */
import { ConfigError } from '@moe-runtime/core';

/** Options of {@link PrefillBudget}. */
export interface PrefillBudgetOptions {
  /** Longest a mixed step may take, as a multiple of a decode-only step (default 1.8). */
  readonly maxSlowdown?: number;
  /** Fewest prompt tokens a mixed step feeds (default 8). */
  readonly minTokens?: number;
  /** Most prompt tokens a mixed step feeds (default 256). */
  readonly maxTokens?: number;
  /** The budget before anything is measured (default 32). */
  readonly initialTokens?: number;
  /** Weight of a new measurement in the averages (default 0.25). */
  readonly smoothing?: number;
  /**
   * Weight of a per-row measurement above the average (default 1: adopted at once). A prompt
   * row costs more the further into the prompt it is (its attention reads every earlier
   * position), so the per-row cost rises through a long prompt; following rises slowly would
   * let every mixed step overshoot `maxSlowdown`. Falls are averaged with `smoothing`.
   */
  readonly riseSmoothing?: number;
  /** Mixed steps between two decode-only probes (default 16). */
  readonly probeEvery?: number;
}

/** What the budget has measured. */
export interface PrefillBudgetState {
  /** Prompt tokens the next mixed step may feed. */
  readonly tokens: number;
  /** Average decode-only step, ms (undefined until one ran). */
  readonly decodeStepMs?: number;
  /** Average extra ms per prompt row in a mixed step (undefined until one ran). */
  readonly prefillRowMs?: number;
}

function check(field: string, v: number, ok: boolean, expected: string): number {
  if (!ok) throw new ConfigError(`prefillBudget.${field}`, `expected ${expected}, got ${v}`);
  return v;
}

/** The adaptive prefill budget of a {@link ContinuousBatcher}. */
export class PrefillBudget {
  private readonly maxSlowdown: number;
  private readonly minTokens: number;
  private readonly maxTokens: number;
  private readonly initial: number;
  private readonly alpha: number;
  private readonly riseAlpha: number;
  private readonly probeEvery: number;
  /** Mixed steps since the last decode-only step. */
  private mixedSince = 0;
  private decodeMs?: number;
  private rowMs?: number;

  constructor(options: PrefillBudgetOptions = {}) {
    const slow = options.maxSlowdown ?? 1.8;
    this.maxSlowdown = check('maxSlowdown', slow, Number.isFinite(slow) && slow > 1, 'a number above 1');
    const min = options.minTokens ?? 8;
    this.minTokens = check('minTokens', min, Number.isInteger(min) && min >= 1, 'a positive integer');
    const max = options.maxTokens ?? 256;
    this.maxTokens = check('maxTokens', max, Number.isInteger(max) && max >= min, `an integer >= minTokens (${min})`);
    const initial = options.initialTokens ?? Math.min(max, Math.max(min, 32));
    this.initial = check('initialTokens', initial, Number.isInteger(initial) && initial >= min && initial <= max, `an integer in [${min}, ${max}]`);
    const a = options.smoothing ?? 0.25;
    this.alpha = check('smoothing', a, Number.isFinite(a) && a > 0 && a <= 1, 'a number in (0, 1]');
    const rise = options.riseSmoothing ?? 1;
    this.riseAlpha = check('riseSmoothing', rise, Number.isFinite(rise) && rise > 0 && rise <= 1, 'a number in (0, 1]');
    const probe = options.probeEvery ?? 16;
    this.probeEvery = check('probeEvery', probe, Number.isInteger(probe) && probe >= 1, 'a positive integer');
  }

  private average(old: number | undefined, v: number, rise = this.alpha): number {
    if (old === undefined) return v;
    return old + (v > old ? rise : this.alpha) * (v - old);
  }

  /**
   * Records a step that fed `decodeRows` single-token rows and `prefillRows` prompt rows in `ms`.
   * A step without decodes (an idle prefill) says nothing about the running streams and is ignored.
   */
  observe(decodeRows: number, prefillRows: number, ms: number): void {
    if (decodeRows === 0 || !(ms >= 0)) return;
    if (prefillRows === 0) {
      this.decodeMs = this.average(this.decodeMs, ms);
      this.mixedSince = 0;
      return;
    }
    this.mixedSince++;
    // Mixed step: what it took beyond a decode step, per prompt row (noise can make it negative).
    if (this.decodeMs === undefined) return;
    this.rowMs = this.average(this.rowMs, Math.max(0, ms - this.decodeMs) / prefillRows, this.riseAlpha);
  }

  /** Prompt tokens the next step may feed beside decodes: 0 when a decode-only probe is due. */
  get tokens(): number {
    if (this.decodeMs === undefined || this.mixedSince >= this.probeEvery) return 0;
    return this.chunk;
  }

  /** The chunk a mixed step may feed (the budget outside probes). */
  get chunk(): number {
    if (this.decodeMs === undefined || this.rowMs === undefined) return this.initial;
    if (this.rowMs <= 0) return this.maxTokens;
    const fit = Math.floor(((this.maxSlowdown - 1) * this.decodeMs) / this.rowMs);
    return Math.min(this.maxTokens, Math.max(this.minTokens, fit));
  }

  get state(): PrefillBudgetState {
    return { tokens: this.chunk, decodeStepMs: this.decodeMs, prefillRowMs: this.rowMs };
  }
}
