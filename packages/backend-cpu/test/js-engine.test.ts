import { disposeAllBackends, getBackend, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe } from 'vitest';
import '../src/index.js';
import { itPassesLayerCases } from './layer-cases.js';

describe("plain TypeScript engine (simd: 'none')", () => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await getBackend({ name: 'cpu', options: { simd: 'none' } });
  });
  afterAll(() => disposeAllBackends());
  itPassesLayerCases(() => backend, 1000);
});
