/**
 * Typed errors. Every failure the runtime reports names the offending thing (a field, a
 * tensor, a router or backend name) and the value that was expected, so a caller can fix the
 * input without reading kernel code.
 */

/** Machine-readable error codes, stable across releases. */
export type MoeErrorCode =
  | 'E_SHAPE'
  | 'E_DTYPE'
  | 'E_CONFIG'
  | 'E_INVALID_INPUT'
  | 'E_ROUTER'
  | 'E_UNKNOWN_NAME'
  | 'E_BACKEND_UNAVAILABLE'
  | 'E_SAFETENSORS'
  | 'E_GGUF'
  | 'E_MEMORY'
  | 'E_BACKEND';

/** Base class of every error thrown by moe-runtime. */
export class MoeError extends Error {
  /** Stable machine-readable code. */
  readonly code: MoeErrorCode;

  constructor(code: MoeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A tensor or array has the wrong shape or length. */
export class ShapeError extends MoeError {
  constructor(message: string) {
    super('E_SHAPE', message);
  }
}

/** A tensor has a dtype that is not accepted where it is used. */
export class DTypeError extends MoeError {
  constructor(message: string) {
    super('E_DTYPE', message);
  }
}

/** A configuration field (layer, router or backend option) is missing or out of range. */
export class ConfigError extends MoeError {
  /** Dotted path of the offending field, e.g. `router.options.capacityFactor`. */
  readonly field: string;

  constructor(field: string, message: string) {
    super('E_CONFIG', `${field}: ${message}`);
    this.field = field;
  }
}

/** Input data is unusable (NaN, Infinity, missing token ids...). */
export class InvalidInputError extends MoeError {
  constructor(message: string) {
    super('E_INVALID_INPUT', message);
  }
}

/** A router failed or returned an inconsistent decision. */
export class RouterError extends MoeError {
  constructor(message: string) {
    super('E_ROUTER', message);
  }
}

/** A router, backend or other registered thing was asked for by a name nobody registered. */
export class UnknownNameError extends MoeError {
  /** What kind of thing was looked up ('router', 'backend', ...). */
  readonly kind: string;
  /** The name that was asked for. */
  readonly requested: string;
  /** The names that are registered. */
  readonly available: readonly string[];

  constructor(kind: string, requested: string, available: readonly string[]) {
    super(
      'E_UNKNOWN_NAME',
      `unknown ${kind} '${requested}'; registered: ${available.length ? available.map((n) => `'${n}'`).join(', ') : '(none)'}`,
    );
    this.kind = kind;
    this.requested = requested;
    this.available = available;
  }
}

/** One backend that could not be initialised, and why. */
export interface BackendAttempt {
  readonly name: string;
  readonly reason: string;
}

/** No backend in the preference list could be initialised. */
export class BackendUnavailableError extends MoeError {
  /** Every backend tried, in order, with the reason it failed. */
  readonly attempts: readonly BackendAttempt[];

  constructor(attempts: readonly BackendAttempt[]) {
    super(
      'E_BACKEND_UNAVAILABLE',
      `no backend could be initialised; tried: ${attempts.map((a) => `${a.name} (${a.reason})`).join('; ') || '(none registered)'}`,
    );
    this.attempts = attempts;
  }
}

/** A safetensors file is malformed, truncated, or lacks / mis-shapes a tensor. */
export class SafetensorsError extends MoeError {
  constructor(message: string) {
    super('E_SAFETENSORS', message);
  }
}

/**
 * A GGUF checkpoint is malformed, truncated, or does not describe a model this runtime runs:
 * an unknown tensor type, a tensor missing or mis-shaped against the metadata, metadata of the
 * wrong type. Names the file and, where one is at fault, the tensor or metadata key.
 */
export class GgufError extends MoeError {
  /** The file at fault. */
  readonly file: string;
  /** The tensor or metadata key at fault, when there is one. */
  readonly tensor?: string;

  constructor(file: string, tensor: string | undefined, message: string) {
    super('E_GGUF', `${file}${tensor === undefined ? '' : `: '${tensor}'`}: ${message}`);
    this.file = file;
    this.tensor = tensor;
  }
}

/** A model would not fit in the memory a backend or the machine has; raised before anything is allocated. */
export class MemoryLimitError extends MoeError {
  /** The model (file or folder) that was being loaded. */
  readonly model: string;
  /** Bytes the model needs where the limit applies. */
  readonly neededBytes: number;
  /** The limit, in bytes. */
  readonly limitBytes: number;

  constructor(model: string, neededBytes: number, limitBytes: number, message: string) {
    super('E_MEMORY', message);
    this.model = model;
    this.neededBytes = neededBytes;
    this.limitBytes = limitBytes;
  }
}

/** A backend kernel failed at run time. */
export class BackendError extends MoeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_BACKEND', message, options);
  }
}

/** Message of an unknown thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
