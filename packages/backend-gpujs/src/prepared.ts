/** Handles for weights resident in a gpu.js backend. */
import type { ExpertKind, PreparedExperts, PreparedLinear } from '@moe-runtime/core';
import type { WeightChunk } from './packed-weights.js';

function release(chunks: readonly WeightChunk[]): void {
  for (const c of chunks) {
    for (const a of [c.weight, c.bias]) if (!(a instanceof Float32Array)) a.delete();
  }
}

/**
 * What a handle's dispose() hands its backend: the release of its device buffers (to run once
 * the calls already queued, which may still read them, are done) and the handle itself.
 */
export type DisposeHook<H> = (releaseBuffers: () => void, handle: H) => void;

/** A linear layer resident in a {@link GpuJsBackend}: `[in, out]` column chunks. */
export class GpuJsLinear implements PreparedLinear {
  private disposedFlag = false;

  constructor(
    readonly owner: object,
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly chunks: readonly WeightChunk[],
    private readonly onDispose: DisposeHook<GpuJsLinear> = (releaseBuffers) => releaseBuffers(),
  ) {}

  get disposed(): boolean {
    return this.disposedFlag;
  }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.onDispose(() => release(this.chunks), this);
  }
}

/** One expert's packed weights. */
export interface PackedExpert {
  /** First layer: gated chunks (SwiGLU) or up chunks (GELU/ReLU), columns of F. */
  readonly first: readonly WeightChunk[];
  /** Down projection chunks, columns of D. */
  readonly down: readonly WeightChunk[];
}

/** An expert group resident in a {@link GpuJsBackend}. */
export class GpuJsExperts implements PreparedExperts {
  private disposedFlag = false;

  constructor(
    readonly owner: object,
    readonly kind: ExpertKind,
    readonly hiddenSize: number,
    readonly ffnSize: number,
    readonly experts: readonly PackedExpert[],
    private readonly onDispose: DisposeHook<GpuJsExperts> = (releaseBuffers) => releaseBuffers(),
  ) {}

  get numExperts(): number {
    return this.experts.length;
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    const releaseBuffers = (): void => {
      for (const e of this.experts) {
        release(e.first);
        release(e.down);
      }
    };
    this.onDispose(releaseBuffers, this);
  }
}
