/**
 * Handles to weights resident in tfjs. Each knows the backend that made it (passing it to
 * another backend is an error) and frees its tensors once on dispose.
 */
import type { ExpertKind, PreparedExperts, PreparedLinear } from '@moe-runtime/core';
import { expertTensorList, type ExpertTensors } from './expert-ffn.js';
import type { Tensor1D, Tensor2D } from './tf.js';

/** A linear layer resident in tfjs: weight `[in, out]`, optional bias `[out]`. */
export class TfjsLinear implements PreparedLinear {
  private isDisposed = false;

  constructor(
    readonly owner: object,
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly weight: Tensor2D,
    readonly bias: Tensor1D | undefined,
    private readonly onDispose: () => void,
  ) {}

  /** Whether dispose() ran. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.weight.dispose();
    this.bias?.dispose();
    this.onDispose();
  }
}

/** An expert group resident in tfjs. */
export class TfjsExperts implements PreparedExperts {
  private isDisposed = false;

  constructor(
    readonly owner: object,
    readonly kind: ExpertKind,
    readonly hiddenSize: number,
    readonly ffnSize: number,
    readonly experts: readonly ExpertTensors[],
    private readonly onDispose: () => void,
  ) {}

  get numExperts(): number {
    return this.experts.length;
  }

  /** Whether dispose() ran. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const e of this.experts) for (const t of expertTensorList(e)) t.dispose();
    this.onDispose();
  }
}
