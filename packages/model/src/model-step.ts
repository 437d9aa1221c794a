/** What a decoder step takes and returns: entries of several sequences, per-sequence logits, routing. */
import type { RoutingPlan, RoutingStats } from '@moe-runtime/core';
import type { ModelSession } from './model-session.js';

/** Routing of one layer for the rows of one step (rows of every entry, in entry order). */
export interface LayerRouting {
  readonly plan: RoutingPlan;
  readonly stats: RoutingStats;
}

/** What a forward call returns. */
export interface ModelStep {
  /** `[rows, V]`: logits of every new position (allLogits) or of the last one. */
  readonly logits: Float32Array;
  readonly rows: number;
  /** One entry per layer. */
  readonly routing: readonly LayerRouting[];
}

/** Which rows of an entry get logits: the last (what sampling needs), all, or none (a prefill chunk that is not the last). */
export type LogitsWanted = 'last' | 'all' | 'none';

/** One sequence's part of a step: its session and the new tokens to feed at its next positions. */
export interface StepEntry {
  readonly session: ModelSession;
  /** At least one token. */
  readonly tokens: ArrayLike<number>;
  /** Default `last`. */
  readonly logits?: LogitsWanted;
}

/** One entry's result. */
export interface SequenceStep {
  /** `[rows, V]` logits of the rows asked for (`rows` is 0 for `none`). */
  readonly logits: Float32Array;
  readonly rows: number;
  /** Index of the entry's first row among the step's rows (what the routing plans index). */
  readonly firstRow: number;
  /** Tokens the entry fed. */
  readonly tokens: number;
}

/** What `MoEModel.step` returns. */
export interface BatchStep {
  /** One result per entry, in entry order. */
  readonly entries: readonly SequenceStep[];
  /** Rows of the step (the entries' tokens together). */
  readonly rows: number;
  /** One entry per layer, over all the step's rows. */
  readonly routing: readonly LayerRouting[];
}
