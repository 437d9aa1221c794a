/**
 * The position bookkeeping every KV cache keeps, whatever holds its rows (host arrays,
 * WebAssembly memory, onnxruntime buffers): a step writes its layers in order 0 ..
 * numLayers-1 at the same positions, and the cache's length advances when the last layer's
 * step ends. One implementation so every backend refuses an out-of-order layer with the
 * same error.
 */
import { ShapeError } from '../errors.js';

/** The committed length of a cache and the positions each layer wrote in the current step. */
export class KvStepOrder {
  private committed = 0;
  /** Positions written in each layer by the current (or last) step. */
  private readonly written: Int32Array;

  constructor(private readonly numLayers: number) {
    this.written = new Int32Array(numLayers);
  }

  /** Positions the cache holds: where the last completed step ended. */
  get length(): number {
    return this.committed;
  }

  /**
   * Throws a ShapeError (before anything is written) unless layer `layer` may write positions
   * `position .. position+rows-1`: layer l > 0 follows layer l-1 of the same step.
   */
  check(layer: number, position: number, rows: number): void {
    if (layer > 0 && this.written[layer - 1] !== position + rows) {
      throw new ShapeError(`attend: layer ${layer} of positions ${position}..${position + rows - 1} came before layer ${layer - 1} of them; attend a step's layers in order 0 .. ${this.numLayers - 1}`);
    }
  }

  /** Records that `layer` wrote its rows up to position `end`. */
  wrote(layer: number, end: number): void {
    this.written[layer] = end;
  }

  /** Ends the step of `layer` at `end` positions: the length advances after the last layer. */
  commit(layer: number, end: number): void {
    if (layer === this.numLayers - 1) this.committed = end;
  }

  /** After a prefix copy: the cache holds exactly `positions`, every layer up to them. */
  holdExactly(positions: number): void {
    this.committed = positions;
    this.written.fill(positions);
  }
}
