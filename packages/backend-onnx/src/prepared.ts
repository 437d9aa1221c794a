/**
 * Handles this backend hands out: they own onnxruntime sessions and remember which backend
 * made them, so a handle from another backend (or a disposed one) is a typed error, not a
 * crash inside onnxruntime. A call accepted before dispose() finishes on its sessions: they
 * are released once the calls in flight are done.
 */
import { BackendError, type ExpertKind, type PreparedExperts, type PreparedLinear } from '@moe-runtime/core';
import type { InferenceSession } from 'onnxruntime-node';

/** Something that can be released when its backend is disposed. */
export interface Releasable {
  dispose(): void;
  /**
   * Settles once dispose() has released the sessions (after the calls in flight): with
   * undefined, or with the error onnxruntime gave (kept for the backend's dispose() to report,
   * never an unhandled rejection). Pending until dispose().
   */
  readonly released: Promise<unknown>;
}

/** Sessions with a count of the calls using them; released at dispose once that count is 0. */
abstract class SessionHandle<S> implements Releasable {
  readonly released: Promise<unknown>;
  private settle!: (result: unknown) => void;
  private disposed = false;
  private inFlight = 0;

  constructor(
    private readonly held: S,
    private readonly sessionsOf: (held: S) => readonly InferenceSession[],
    private readonly what: string,
    private readonly onDispose: (h: Releasable) => void,
  ) {
    this.released = new Promise((resolve) => (this.settle = resolve));
  }

  /** Runs `f` on the live sessions; throws a BackendError when the handle was disposed. */
  async using<T>(f: (held: S) => Promise<T>): Promise<T> {
    if (this.disposed) throw new BackendError(`this ${this.what} handle has been disposed`);
    this.inFlight++;
    try {
      return await f(this.held);
    } finally {
      if (--this.inFlight === 0 && this.disposed) this.release();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.onDispose(this);
    if (this.inFlight === 0) this.release();
  }

  private release(): void {
    Promise.all(this.sessionsOf(this.held).map((s) => s.release())).then(
      () => this.settle(undefined),
      (err: unknown) => this.settle(err),
    );
  }
}

/** A linear layer resident in onnxruntime. */
export class OnnxPreparedLinear extends SessionHandle<InferenceSession> implements PreparedLinear {
  constructor(
    readonly owner: object,
    readonly inFeatures: number,
    readonly outFeatures: number,
    session: InferenceSession,
    onDispose: (h: Releasable) => void,
  ) {
    super(session, (s) => [s], 'linear layer', onDispose);
  }
}

/** One session of an expert group and the experts (indices) its graph computes. */
export interface ExpertSession {
  readonly session: InferenceSession;
  readonly experts: readonly number[];
}

/** An expert group resident in onnxruntime. */
export class OnnxPreparedExperts extends SessionHandle<readonly ExpertSession[]> implements PreparedExperts {
  constructor(
    readonly owner: object,
    readonly kind: ExpertKind,
    readonly numExperts: number,
    readonly hiddenSize: number,
    readonly ffnSize: number,
    sessions: readonly ExpertSession[],
    onDispose: (h: Releasable) => void,
  ) {
    super(sessions, (held) => held.map((s) => s.session), 'expert group', onDispose);
  }
}
