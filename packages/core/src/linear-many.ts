/**
 * Several independent linears at once (per-head projections, unfused q/k/v), through the
 * backend's batched `linearMany` where it has one, else one `linear` call each.
 */
import type { Backend, PreparedLinear } from './backend.js';
import { ShapeError } from './errors.js';

/**
 * Result i is `backend.linear(layers[i], xs[i], rows)`. A backend's `linearMany` runs them as one
 * batch: dozens of small products (DeepSeek-V2's 16 per-head latent projections a layer) then
 * cost one hand-off to the backend's threads instead of one each, and are split across the
 * threads together where none alone is large enough to split.
 */
export async function linearMany(backend: Backend, layers: readonly PreparedLinear[], xs: readonly Float32Array[], rows: number): Promise<Float32Array[]> {
  if (layers.length !== xs.length) throw new ShapeError(`linearMany: ${layers.length} layers but ${xs.length} inputs; expected one input per layer`);
  if (layers.length === 0) return [];
  if (backend.linearMany) return backend.linearMany(layers, xs, rows);
  return Promise.all(layers.map((l, i) => backend.linear(l, xs[i], rows)));
}
