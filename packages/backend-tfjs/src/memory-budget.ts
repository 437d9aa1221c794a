/**
 * Bytes a layer will take in the wasm heap, estimated before anything is allocated, so a layer
 * that cannot fit the 4 GiB heap is refused with a clear error instead of failing half-way (or
 * worse, corrupting memory) inside the engine.
 *
 * Each weight matrix is held as float32 and XNNPACK keeps a packed copy of it after the first
 * matMul, so a matrix costs about 2 x 4 bytes per element; biases are held once.
 */
import { BackendError, isGatedKind, type ExpertGroup, type LinearWeights } from '@moe-runtime/core';

const GiB = 1024 ** 3;

/** Formats bytes as GiB for messages. */
export function formatGiB(bytes: number): string {
  return `${(bytes / GiB).toFixed(2)} GiB`;
}

/** Estimated resident bytes of an expert group (weights x2 for XNNPACK packing, biases x1). */
export function estimateExpertBytes(group: Pick<ExpertGroup, 'kind' | 'hiddenSize' | 'ffnSize'> & { readonly experts: { readonly length: number } }): number {
  const matrices = isGatedKind(group.kind) ? 3 : 2;
  const perExpertWeights = matrices * group.hiddenSize * group.ffnSize * 4 * 2;
  const perExpertBiases = ((matrices - 1) * group.ffnSize + group.hiddenSize) * 4;
  return group.experts.length * (perExpertWeights + perExpertBiases);
}

/** Estimated resident bytes of a linear layer. */
export function estimateLinearBytes(weights: LinearWeights): number {
  const [out, inp] = weights.weight.shape;
  return out * inp * 4 * 2 + (weights.bias ? out * 4 : 0);
}

/**
 * Estimated peak bytes of one runExperts call's activations: the gathered rows, two or three
 * [rows, F] intermediates of the largest expert, and the concatenated [rows, D] outputs twice.
 */
export function estimateActivationBytes(rows: number, maxExpertRows: number, hiddenSize: number, ffnSize: number): number {
  return 4 * (rows * hiddenSize * 3 + maxExpertRows * ffnSize * 4);
}

/** A process-wide ledger of what tfjs's wasm heap is planned to hold (the heap is per process). */
export class HeapLedger {
  private reserved = 0;

  /** Bytes reserved by prepared layers of every instance. */
  get reservedBytes(): number {
    return this.reserved;
  }

  /** Throws a BackendError unless `bytes` more fit under `limit`. */
  check(what: string, bytes: number, limit: number): void {
    if (this.reserved + bytes > limit) {
      throw new BackendError(
        `${what} needs about ${formatGiB(bytes)} of the tfjs wasm heap (float32 weights plus XNNPACK's packed copy), ` +
          `but ${formatGiB(this.reserved)} of its ${formatGiB(limit)} limit is already planned; nothing was allocated. ` +
          "Use engine 'tensorflow' (tfjs-node / tfjs-node-gpu) or 'cpu', fewer or smaller experts, or free other layers first",
      );
    }
  }

  /** Checks and then records `bytes`. */
  reserve(what: string, bytes: number, limit: number): void {
    this.check(what, bytes, limit);
    this.reserved += bytes;
  }

  /** Returns `bytes` to the ledger. */
  release(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }
}

/** The ledger of this process's wasm heap. */
export const wasmHeap = new HeapLedger();
