/** Cross-validation of the 'wasm' engine against core's float64 reference. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';
import { crossValidationCases } from './cases.js';

describe("tfjs backend on the 'wasm' engine", () => {
  let backend: TfjsBackend;
  beforeAll(async () => {
    backend = await TfjsBackend.create({ engine: 'wasm' });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it('reports the engine that runs', () => {
    expect(backend.tfjsEngine).toBe('wasm');
    expect(backend.engine).toMatch(/^wasm /);
    expect(backend.name).toBe('tfjs');
  });

  crossValidationCases(() => backend, 1000);
});
