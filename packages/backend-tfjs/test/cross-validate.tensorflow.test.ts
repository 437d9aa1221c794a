/**
 * Cross-validation on the `tensorflow` engine (tfjs-node-gpu: CUDA, or tfjs-node). Skipped
 * where neither native package is usable: they are optional peers whose install downloads
 * libtensorflow, which this project's machines cannot reach.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';
import { crossValidationCases } from './cases.js';
import { nativeAbsentReason, nativeAvailable } from './native-availability.js';

describe.skipIf(!nativeAvailable)(`tfjs backend on the 'tensorflow' engine (skipped when absent: ${nativeAbsentReason || 'available'})`, () => {
  let backend: TfjsBackend;
  beforeAll(async () => {
    backend = await TfjsBackend.create({ engine: 'tensorflow' });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it('reports the native engine', () => {
    expect(backend.engine).toMatch(/^tensorflow \((CUDA|libtensorflow CPU)/);
  });

  crossValidationCases(() => backend, 3000);
});
