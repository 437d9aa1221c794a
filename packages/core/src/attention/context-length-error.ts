/** The error of a write past a KV cache's capacity: the sequence outgrew its context length. */
import { ShapeError } from '../errors.js';

/**
 * A write would pass the end of a sequence's KV cache. A ShapeError (code `E_SHAPE`), so code
 * that maps errors by code treats it as bad input; a server can test `instanceof` to answer
 * with a context-length error.
 */
export class ContextLengthError extends ShapeError {
  /** The sequence's context length (its cache's capacity in positions). */
  readonly contextLength: number;
  /** Positions the write needed (`position + rows`). */
  readonly requested: number;

  constructor(contextLength: number, requested: number, detail: string) {
    super(`${detail} needs ${requested} positions, past the sequence's context length of ${contextLength}; start the sequence with a larger contextLength or send fewer tokens`);
    this.contextLength = contextLength;
    this.requested = requested;
  }
}
