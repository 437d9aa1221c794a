/**
 * Handles the CPU backend returns from `prepare*`. Each remembers the backend that made it, so a
 * handle passed to another backend (or used after dispose) fails with a typed error instead of
 * reading freed or foreign memory.
 */
import { BackendError, type ExpertKind, type PreparedExperts, type PreparedLinear } from '@moe-runtime/core';
import type { EngineResource } from './engine.js';

abstract class CpuHandle {
  private resource: EngineResource | undefined;

  constructor(
    readonly owner: object,
    resource: EngineResource,
  ) {
    this.resource = resource;
  }

  /** The engine state; throws a BackendError once disposed. */
  use(what: string): EngineResource {
    if (!this.resource) throw new BackendError(`${what} was disposed and cannot be used`);
    return this.resource;
  }

  dispose(): void {
    this.resource?.free();
    this.resource = undefined;
  }
}

/** A linear layer prepared by a CPU backend. */
export class CpuPreparedLinear extends CpuHandle implements PreparedLinear {
  constructor(
    owner: object,
    resource: EngineResource,
    readonly inFeatures: number,
    readonly outFeatures: number,
  ) {
    super(owner, resource);
  }
}

/** An expert group prepared by a CPU backend. */
export class CpuPreparedExperts extends CpuHandle implements PreparedExperts {
  constructor(
    owner: object,
    resource: EngineResource,
    readonly kind: ExpertKind,
    readonly numExperts: number,
    readonly hiddenSize: number,
    readonly ffnSize: number,
  ) {
    super(owner, resource);
  }
}
