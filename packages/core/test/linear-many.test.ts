/** core's linearMany: a backend's batched call where it has one, else one `linear` per layer. */
import { describe, expect, it } from 'vitest';
import { createRng, linearMany, randomNormal, ShapeError, type Backend, type PreparedLinear } from '../src/index.js';

/** A backend with only `linear` (y = 2x + layer id, the in/out widths equal) and a call log. */
function fakeBackend(calls: string[], batched: boolean): Backend {
  const linear = async (layer: PreparedLinear, x: Float32Array): Promise<Float32Array> => {
    calls.push(`linear ${(layer as PreparedLinear & { id: number }).id}`);
    return x.map((v) => 2 * v + (layer as PreparedLinear & { id: number }).id);
  };
  const base = { linear } as unknown as Backend;
  if (!batched) return base;
  return {
    ...base,
    linearMany: async (layers: readonly PreparedLinear[], xs: readonly Float32Array[], rows: number) => {
      calls.push(`many ${layers.length} x ${rows}`);
      return Promise.all(layers.map((l, i) => linear(l, xs[i])));
    },
  } as Backend;
}

const layer = (id: number, width: number): PreparedLinear => ({ id, inFeatures: width, outFeatures: width, dispose: () => {} }) as PreparedLinear;

describe('linearMany', () => {
  const rng = createRng(11);
  const layers = [layer(1, 3), layer(5, 4)];
  const xs = [randomNormal(rng, 6), randomNormal(rng, 8)];
  const expected = xs.map((x, i) => x.map((v) => 2 * v + [1, 5][i]));

  it('falls back to one linear call per layer, results in layer order', async () => {
    const calls: string[] = [];
    expect(await linearMany(fakeBackend(calls, false), layers, xs, 2)).toEqual(expected);
    expect(calls).toEqual(['linear 1', 'linear 5']);
  });

  it("uses the backend's batched call where it has one", async () => {
    const calls: string[] = [];
    expect(await linearMany(fakeBackend(calls, true), layers, xs, 2)).toEqual(expected);
    expect(calls[0]).toBe('many 2 x 2');
  });

  it('refuses a count mismatch and calls nothing for no layers', async () => {
    const calls: string[] = [];
    await expect(linearMany(fakeBackend(calls, true), layers, xs.slice(1), 2)).rejects.toThrow(ShapeError);
    await expect(linearMany(fakeBackend(calls, true), layers, xs.slice(1), 2)).rejects.toThrow(/2 layers but 1 inputs/);
    expect(await linearMany(fakeBackend(calls, true), [], [], 2)).toEqual([]);
    expect(calls).toEqual([]);
  });
});
