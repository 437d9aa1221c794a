/** Handles for weights resident in a gpu.js backend. */
import type { ExpertKind, PreparedExperts, PreparedLinear } from '@moe-runtime/core';
import type { WeightChunk } from './packed-weights.js';

function release(chunks: readonly WeightChunk[]): void {
  for (const c of chunks) {
    for (const a of [c.weight, c.bias]) if (!(a instanceof Float32Array)) a.delete();
  }
}

/** A linear layer resident in a {@link GpuJsBackend}: `[in, out]` column chunks. */
export class GpuJsLinear implements PreparedLinear {
  private disposedFlag = false;

  constructor(
    readonly owner: object,
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly chunks: readonly WeightChunk[],
    private readonly onDispose: (h: GpuJsLinear) => void = () => undefined,
  ) {}

  get disposed(): boolean {
    return this.disposedFlag;
  }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    release(this.chunks);
    this.onDispose(this);
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
    private readonly onDispose: (h: GpuJsExperts) => void = () => undefined,
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
    for (const e of this.experts) {
      release(e.first);
      release(e.down);
    }
    this.onDispose(this);
  }
}
