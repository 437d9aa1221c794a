/**
 * Memory accounting of a model before it is loaded: the bytes its backend will hold (from
 * the backend's own `memory.residentBytesFor`, or the stored bytes where a backend does not
 * say) and the bytes kept on the host (the compact embedding table, float32 norms), checked
 * against the backend's ceiling and the machine's available memory, so a model that cannot
 * fit is refused with a typed error before anything is allocated.
 */
import { freemem, totalmem } from 'node:os';
import { MemoryLimitError, storageBytes, type Backend } from '@moe-runtime/core';
import type { PlannedTensor } from './model-source.js';

/** Bytes a model needs, split by where they live. */
export interface ModelMemoryEstimate {
  /** Bytes the backend will hold for the prepared weights. */
  readonly backendBytes: number;
  /** Bytes kept on the host: the embedding table as stored, norms as float32. */
  readonly hostBytes: number;
  /** True when the backend reported its resident bytes; false when stored bytes stand in. */
  readonly backendReported: boolean;
}

/** The machine's memory, in bytes. */
export interface MachineMemory {
  readonly totalBytes: number;
  readonly availableBytes: number;
}

/** The memory this process can still use: cgroup-aware where Node reports it, else the OS's free memory. */
export function machineMemory(): MachineMemory {
  const p = process as NodeJS.Process & { availableMemory?: () => number };
  const available = typeof p.availableMemory === 'function' ? p.availableMemory() : freemem();
  return { totalBytes: totalmem(), availableBytes: Math.min(available, totalmem()) };
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function residentBytes(t: PlannedTensor, backend: Backend): number {
  const m = backend.memory;
  const slices = t.slices ?? 1;
  const shape = slices > 1 ? t.shape.slice(1) : t.shape;
  return slices * (m ? m.residentBytesFor(t.dtype, shape) : storageBytes(t.dtype, shape));
}

/** What a model of these tensors needs on `backend` and on the host. */
export function estimateModelMemory(tensors: readonly PlannedTensor[], backend: Backend): ModelMemoryEstimate {
  let backendBytes = 0;
  let hostBytes = 0;
  for (const t of tensors) {
    if (t.use === 'backend') backendBytes += residentBytes(t, backend);
    else if (t.use === 'embedding') hostBytes += storageBytes(t.dtype, t.shape);
    else hostBytes += 4 * t.shape.reduce((a, b) => a * b, 1);
  }
  return { backendBytes, hostBytes, backendReported: backend.memory !== undefined };
}

/** Bytes as GiB for messages. */
export function formatGiB(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/**
 * Throws a {@link MemoryLimitError} naming `model` when the estimate exceeds the backend's
 * ceiling (`memory.limitBytes`) or, with the host part, the machine's available memory.
 */
export function checkModelFits(model: string, estimate: ModelMemoryEstimate, backend: Backend, machine: MachineMemory = machineMemory()): void {
  const limit = backend.memory?.limitBytes;
  const source = estimate.backendReported ? `as ${backend.name} reports it` : 'as stored (the backend does not report its resident bytes)';
  if (limit !== undefined && estimate.backendBytes > limit) {
    throw new MemoryLimitError(
      model,
      estimate.backendBytes,
      limit,
      `${model}: the weights need ${formatGiB(estimate.backendBytes)} on backend ${backend.name} (${source}), more than its limit of ${formatGiB(limit)}; nothing was allocated`,
    );
  }
  const total = estimate.backendBytes + estimate.hostBytes;
  const room = Math.min(machine.availableBytes, machine.totalBytes);
  if (total > room) {
    throw new MemoryLimitError(
      model,
      total,
      room,
      `${model}: the model needs ${formatGiB(total)} (${formatGiB(estimate.backendBytes)} on backend ${backend.name} ${source}, ${formatGiB(estimate.hostBytes)} on the host), ` +
        `more than the ${formatGiB(machine.availableBytes)} this machine has available (of ${formatGiB(machine.totalBytes)}); nothing was allocated`,
    );
  }
}
