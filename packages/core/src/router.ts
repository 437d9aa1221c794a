/**
 * The Router interface. A router sees small host arrays only (logits `[T, E]`, token ids when
 * given, its own parameters), never a backend tensor, so one router runs unchanged on every
 * backend. It answers with (token, expert, weight) assignments; the core turns those into a
 * grouped routing plan (capacity, drops, permutation) once.
 */

/** Logits in float32 (backends) or float64 (the reference). Routers compute in float64. */
export type Logits = Float32Array | Float64Array;

/** What a router is given for one forward pass. */
export interface RouterInput {
  /** Router logits, row-major `[numTokens, numExperts]`. */
  readonly logits: Logits;
  readonly numTokens: number;
  readonly numExperts: number;
  /** Token ids `[numTokens]`, when the caller supplied them (hash routing needs them). */
  readonly tokenIds?: Int32Array;
}

/** The construction context of a router: the layer's shape and its learned parameters. */
export interface RouterContext {
  readonly numExperts: number;
  /** The layer's k; routers may use it as default or ignore it (expert choice). */
  readonly topK: number;
  /** Learned router parameters from the weights, e.g. `e_score_correction_bias` `[E]`. */
  readonly params: Readonly<Record<string, Float32Array>>;
}

/** A router's answer: parallel arrays of (token, expert, weight) assignments. */
export interface RouterDecision {
  /** Token index of each assignment. */
  readonly token: Int32Array;
  /** Expert index of each assignment. */
  readonly expert: Int32Array;
  /** Combine weight of each assignment. */
  readonly weight: Float32Array;
  /**
   * Per-expert capacity: at most this many assignments per expert are kept, in the order the
   * assignments are listed (so list them in drop-priority order). Undefined: no limit.
   */
  readonly capacity?: number;
  /**
   * The scores the router ranked experts by, `[T, E]` (default: the logits). Used to tell a
   * near-tie (two candidates within tolerance) from a real routing disagreement.
   */
  readonly selectionScores?: Logits;
}

/** A routing rule. */
export interface Router {
  /** Registered name, e.g. `topk-softmax`. */
  readonly name: string;
  /** True when `route` needs `tokenIds` (it throws a clear error without them). */
  readonly needsTokenIds?: boolean;
  /** Maps logits (and token ids) to assignments. Must be deterministic for equal inputs. */
  route(input: RouterInput): RouterDecision;
}
