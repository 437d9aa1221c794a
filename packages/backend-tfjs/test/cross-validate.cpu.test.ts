/** Cross-validation of the 'cpu' engine against core's float64 reference. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';
import { crossValidationCases } from './cases.js';

describe("tfjs backend on the 'cpu' engine", () => {
  let backend: TfjsBackend;
  beforeAll(async () => {
    backend = await TfjsBackend.create({ engine: 'cpu' });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it('reports the engine that runs', () => {
    expect(backend.tfjsEngine).toBe('cpu');
    expect(backend.engine).toMatch(/^cpu /);
    expect(backend.name).toBe('tfjs');
  });

  crossValidationCases(() => backend, 2000);
});
