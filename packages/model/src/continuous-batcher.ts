/**
 * Continuous batching: concurrent generations on one model share its forward passes. Each
 * generation calls `forward(session, tokens)` as it would on the model; the batcher gathers the
 * calls that are waiting and runs them as one `MoEModel.step`, so the experts that several
 * sequences route to are read once for all of them. Sequences join and leave between steps
 * (a call that arrives while a step runs waits for the next one), and a long prompt is fed in
 * chunks mixed with the running sequences' decode rows, so it never stalls their streams for
 * longer than one chunk. The chunk size adapts (PrefillBudget): it is chosen from the measured
 * step times so a mixed step stays within about 1.8 decode steps.
 *
 * A step starts on the macrotask after the first waiting call: every generation whose previous
 * step just finished has by then sampled its token and asked for its next step (sampling and
 * detokenizing are synchronous between two forward calls), so all running sequences ride in
 * the same step without any timer.
 */
import { ConfigError, type RoutingPlan } from '@moe-runtime/core';
import { DEFAULT_PREFILL_CHUNK } from './chunked-prefill.js';
import { PrefillBudget, type PrefillBudgetOptions } from './prefill-budget.js';
import type { ModelSession } from './model-session.js';
import type { LayerRouting, ModelStep, StepEntry } from './model-step.js';
import type { MoEModel } from './moe-model.js';

/** What generation needs of a model: `MoEModel` itself, or a {@link ContinuousBatcher} over it. */
export interface ForwardStepper {
  forward(session: ModelSession, tokens: ArrayLike<number>, options?: ForwardOptions): Promise<ModelStep>;
}

/** Options of one forward call. */
export interface ForwardOptions {
  /** Logits of every new position (default: the last one only). */
  readonly allLogits?: boolean;
  /** Rejects the call (and drops its remaining tokens) when aborted before its last chunk ran. */
  readonly signal?: AbortSignal;
}

/** Options of {@link ContinuousBatcher}. */
export interface ContinuousBatcherOptions {
  /**
   * Most prompt tokens one step feeds while other sequences are decoding: a step with a prefill
   * chunk takes longer, and every running stream waits for it. A number fixes it; `'adaptive'`
   * (the default) lets a {@link PrefillBudget} choose it from the measured step times.
   */
  readonly prefillTokensPerStep?: number | 'adaptive';
  /** Settings of the adaptive budget (with `prefillTokensPerStep: 'adaptive'`). */
  readonly prefillBudget?: PrefillBudgetOptions;
  /** Milliseconds clock the adaptive budget measures steps with (default `performance.now`). */
  readonly clock?: () => number;
  /** Chunk size of a prefill when no sequence is decoding (default {@link DEFAULT_PREFILL_CHUNK}). */
  readonly idlePrefillChunk?: number;
  /**
   * Most prompt tokens of one step when no sequence is decoding, over all the prompts waiting
   * (each at most `idlePrefillChunk`): default {@link DEFAULT_IDLE_STEP_TOKENS}. Prompts that
   * arrive together are then prefilled in the same step and decode in the same steps after it
   * (in lockstep), instead of joining the decodes one by one at the prefill budget beside them.
   */
  readonly idleStepTokens?: number;
}

/**
 * Default of `idleStepTokens`: the 64-token prompts of 16 streams arriving at once. A step of
 * 1024 rows gives each of 8 experts about 256 rows (the prefill GEMM's good range, see
 * DEFAULT_PREFILL_CHUNK) and no running stream waits for it.
 */
export const DEFAULT_IDLE_STEP_TOKENS = 1024;

/** Counters of a batcher's work, for metrics and benchmarks. */
export interface BatcherCounters {
  /** Forward passes run. */
  readonly steps: number;
  /** Rows fed over all steps. */
  readonly rows: number;
  /** Sum over steps of the sequences in the step. */
  readonly sequences: number;
  /** Steps that held at least one prefill chunk together with decode rows. */
  readonly mixedSteps: number;
}

interface Pending {
  readonly session: ModelSession;
  readonly tokens: ArrayLike<number>;
  readonly allLogits: boolean;
  readonly signal?: AbortSignal;
  /** Tokens already fed (earlier chunks). */
  fed: number;
  /** Logit rows gathered from earlier chunks (allLogits only). */
  readonly logits: Float32Array[];
  /** Per-layer rows per expert over the chunks so far. */
  tokensPerExpert?: number[][];
  readonly resolve: (step: ModelStep) => void;
  readonly reject: (err: unknown) => void;
}

function positiveInt(field: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(field, `expected a positive integer, got ${v}`);
  return v;
}

/**
 * Rows per expert of the tokens `[first, first + n)`: each token's own rows through the plan's
 * inverse permutation and row-to-expert map, so the cost follows the entry, not the step.
 */
function entryTokensPerExpert(plan: RoutingPlan, first: number, n: number): number[] {
  const counts = new Array<number>(plan.numExperts).fill(0);
  for (let i = plan.tokenOffsets[first]; i < plan.tokenOffsets[first + n]; i++) counts[plan.rowExpert[plan.tokenRows[i]]]++;
  return counts;
}

/**
 * Runs the concurrent forward calls of many sequences on one model as shared steps. Results are
 * those of `model.forward` on each sequence alone (entries of a step are independent).
 */
export class ContinuousBatcher implements ForwardStepper {
  private readonly waiting: Pending[] = [];
  private running = false;
  private scheduled = false;
  private readonly fixedPrefill?: number;
  private readonly budget: PrefillBudget;
  private readonly clock: () => number;
  private readonly idleChunk: number;
  private readonly idleStep: number;
  private counts = { steps: 0, rows: 0, sequences: 0, mixedSteps: 0 };

  constructor(
    readonly model: MoEModel,
    options: ContinuousBatcherOptions = {},
  ) {
    const fixed = options.prefillTokensPerStep ?? 'adaptive';
    if (fixed !== 'adaptive') this.fixedPrefill = positiveInt('prefillTokensPerStep', fixed, 32);
    this.budget = new PrefillBudget(options.prefillBudget);
    this.clock = options.clock ?? (() => performance.now());
    this.idleChunk = positiveInt('idlePrefillChunk', options.idlePrefillChunk, DEFAULT_PREFILL_CHUNK);
    this.idleStep = positiveInt('idleStepTokens', options.idleStepTokens, Math.max(DEFAULT_IDLE_STEP_TOKENS, this.idleChunk));
  }

  /** Work done so far. */
  get counters(): BatcherCounters {
    return { ...this.counts };
  }

  /** Prompt tokens a step may feed beside decodes (fixed, or the adaptive budget's chunk). */
  get prefillTokensPerStep(): number {
    return this.fixedPrefill ?? this.budget.chunk;
  }

  /** Calls waiting for a step (including prompts part-way through their chunks). */
  get pending(): number {
    return this.waiting.length;
  }

  /** Queues `tokens` for `session`; resolves with what `model.forward` would return for them. */
  forward(session: ModelSession, tokens: ArrayLike<number>, options: ForwardOptions = {}): Promise<ModelStep> {
    if (tokens.length === 0) return Promise.reject(new ConfigError('tokens', 'expected at least one token'));
    if (this.waiting.some((p) => p.session === session)) {
      return Promise.reject(new ConfigError('session', 'already has a forward call waiting; await it before the next'));
    }
    options.signal?.throwIfAborted();
    return new Promise<ModelStep>((resolve, reject) => {
      this.waiting.push({ session, tokens, allLogits: options.allLogits ?? false, signal: options.signal, fed: 0, logits: [], resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        this.dropAborted();
        if (this.waiting.length === 0) break;
        const batch = this.pick();
        const t0 = this.clock();
        await this.runStep(batch);
        this.measure(batch, this.clock() - t0);
        // Let the sequences whose calls just resolved sample and queue their next tokens.
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
    }
  }

  private dropAborted(): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const p = this.waiting[i];
      if (p.signal?.aborted) {
        this.waiting.splice(i, 1);
        p.reject(p.signal.reason);
      }
    }
  }

  /**
   * This step's entries: every single-token call (decode) whole, then prompt chunks in arrival
   * order within the prefill budget. When nothing decodes, every waiting prompt gets a chunk of
   * up to the idle chunk size, within the idle step's tokens.
   */
  private pick(): { pending: Pending; n: number }[] {
    const decode = this.waiting.filter((p) => p.tokens.length - p.fed === 1 && p.fed === 0);
    const rest = this.waiting.filter((p) => !decode.includes(p));
    const idle = decode.length === 0;
    let budget = idle ? this.idleStep : (this.fixedPrefill ?? this.budget.tokens);
    const picked = decode.map((pending) => ({ pending, n: 1 }));
    for (const pending of rest) {
      if (budget <= 0) break;
      const n = Math.min(budget, pending.tokens.length - pending.fed, idle ? this.idleChunk : Infinity);
      picked.push({ pending, n });
      budget -= n;
    }
    return picked;
  }

  /** Feeds the adaptive budget: a step's decode rows, prompt rows and time. */
  private measure(batch: readonly { pending: Pending; n: number }[], ms: number): void {
    let decodes = 0;
    let prompt = 0;
    for (const b of batch) {
      if (b.n === 1 && b.pending.tokens.length === 1) decodes++;
      else prompt += b.n;
    }
    this.budget.observe(decodes, prompt, ms);
  }

  private entryOf({ pending: p, n }: { pending: Pending; n: number }): StepEntry {
    const last = p.fed + n === p.tokens.length;
    const tokens = Array.prototype.slice.call(p.tokens, p.fed, p.fed + n) as number[];
    return { session: p.session, tokens, logits: p.allLogits ? 'all' : last ? 'last' : 'none' };
  }

  private async runStep(batch: { pending: Pending; n: number }[]): Promise<void> {
    const entries = batch.map((b) => this.entryOf(b));
    let result: Awaited<ReturnType<MoEModel['step']>>;
    try {
      result = await this.model.step(entries);
    } catch (err) {
      // A failed step leaves every session where it was: when several sequences shared it, run
      // each alone so only the one at fault fails.
      if (batch.length === 1) return this.fail(batch[0].pending, err);
      for (const b of batch) await this.runStep([b]);
      return;
    }
    this.counts.steps++;
    this.counts.rows += result.rows;
    this.counts.sequences += batch.length;
    if (batch.some((b) => b.n > 1) && batch.some((b) => b.n === 1 && b.pending.tokens.length === 1)) this.counts.mixedSteps++;
    batch.forEach((b, i) => this.advance(b.pending, b.n, result.entries[i], result.routing));
  }

  private advance(p: Pending, n: number, out: Awaited<ReturnType<MoEModel['step']>>['entries'][number], routing: readonly LayerRouting[]): void {
    p.fed += n;
    if (out.rows > 0) p.logits.push(out.logits);
    const perLayer = routing.map((r) => entryTokensPerExpert(r.plan, out.firstRow, out.tokens));
    p.tokensPerExpert = p.tokensPerExpert ? p.tokensPerExpert.map((acc, l) => acc.map((v, e) => v + perLayer[l][e])) : perLayer;
    if (p.fed < p.tokens.length) return;
    this.waiting.splice(this.waiting.indexOf(p), 1);
    const logits = p.logits.length === 1 ? p.logits[0] : concat(p.logits);
    const v = this.model.config.vocabSize;
    p.resolve({
      logits,
      rows: logits.length / v,
      // This sequence's rows only: its counts per expert (the plans cover the whole step).
      routing: routing.map((r, l) => ({ plan: r.plan, stats: { ...r.stats, numTokens: p.tokens.length, tokensPerExpert: p.tokensPerExpert![l] } })),
    });
  }

  private fail(p: Pending, err: unknown): void {
    this.waiting.splice(this.waiting.indexOf(p), 1);
    p.reject(err);
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
