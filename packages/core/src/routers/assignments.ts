/**
 * A growable list of (token, expert, weight) assignments, so routers that pick a variable number
 * of experts per token (expert choice, nucleus routing) can build a RouterDecision without
 * knowing the count in advance.
 */
import type { RouterDecision } from '../router.js';

/** Collects assignments in drop-priority order and hands them over as a RouterDecision. */
export class AssignmentList {
  private token: Int32Array;
  private expert: Int32Array;
  private weight: Float32Array;
  private count = 0;

  constructor(initialCapacity = 16) {
    const n = Math.max(1, initialCapacity);
    this.token = new Int32Array(n);
    this.expert = new Int32Array(n);
    this.weight = new Float32Array(n);
  }

  /** Number of assignments so far. */
  get length(): number {
    return this.count;
  }

  /** Appends one assignment. */
  push(token: number, expert: number, weight: number): void {
    if (this.count === this.token.length) this.grow();
    this.token[this.count] = token;
    this.expert[this.count] = expert;
    this.weight[this.count] = weight;
    this.count++;
  }

  /** The assignments as a decision (arrays trimmed to length), plus the given extras. */
  toDecision(extra: Omit<RouterDecision, 'token' | 'expert' | 'weight'> = {}): RouterDecision {
    return {
      token: this.token.slice(0, this.count),
      expert: this.expert.slice(0, this.count),
      weight: this.weight.slice(0, this.count),
      ...extra,
    };
  }

  private grow(): void {
    const n = this.token.length * 2;
    const token = new Int32Array(n);
    const expert = new Int32Array(n);
    const weight = new Float32Array(n);
    token.set(this.token);
    expert.set(this.expert);
    weight.set(this.weight);
    this.token = token;
    this.expert = expert;
    this.weight = weight;
  }
}
