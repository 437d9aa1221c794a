/**
 * Handles this backend hands out: they own onnxruntime sessions and remember which backend
 * made them, so a handle from another backend (or a disposed one) is a typed error, not a
 * crash inside onnxruntime.
 */
import { BackendError, type ExpertKind, type PreparedExperts, type PreparedLinear } from '@moe-runtime/core';
import type { InferenceSession } from 'onnxruntime-node';

/** Something that can be released when its backend is disposed. */
export interface Releasable {
  dispose(): void;
  /**
   * Settles once dispose() has released the sessions: with undefined, or with the error
   * onnxruntime gave (kept for the backend's dispose() to report, never an unhandled rejection).
   */
  readonly released: Promise<unknown>;
}

function release(sessions: readonly InferenceSession[]): Promise<unknown> {
  return Promise.all(sessions.map((s) => s.release())).then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** A linear layer resident in onnxruntime. */
export class OnnxPreparedLinear implements PreparedLinear, Releasable {
  private disposed = false;
  released: Promise<unknown> = Promise.resolve(undefined);

  constructor(
    readonly owner: object,
    readonly inFeatures: number,
    readonly outFeatures: number,
    private readonly session: InferenceSession,
    private readonly onDispose: (h: Releasable) => void,
  ) {}

  /** The live session; throws when the handle was disposed. */
  use(): InferenceSession {
    if (this.disposed) throw new BackendError('this linear layer handle has been disposed');
    return this.session;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.onDispose(this);
    this.released = release([this.session]);
  }
}

/** One session of an expert group and the experts (indices) its graph computes. */
export interface ExpertSession {
  readonly session: InferenceSession;
  readonly experts: readonly number[];
}

/** An expert group resident in onnxruntime. */
export class OnnxPreparedExperts implements PreparedExperts, Releasable {
  private disposed = false;
  released: Promise<unknown> = Promise.resolve(undefined);

  constructor(
    readonly owner: object,
    readonly kind: ExpertKind,
    readonly numExperts: number,
    readonly hiddenSize: number,
    readonly ffnSize: number,
    private readonly sessions: readonly ExpertSession[],
    private readonly onDispose: (h: Releasable) => void,
  ) {}

  /** The live sessions; throws when the handle was disposed. */
  use(): readonly ExpertSession[] {
    if (this.disposed) throw new BackendError('this expert group handle has been disposed');
    return this.sessions;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.onDispose(this);
    this.released = release(this.sessions.map((s) => s.session));
  }
}
