import { compareOutputs, createRng, HostTensor, randomNormal, referenceLinear } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, type CpuBackend, type SimdMode } from '../src/index.js';

const engines: [SimdMode, number][] = [
  ['none', 1],
  ['simd', 1],
  ['relaxed', 2],
  ['simd', 3],
];

for (const [simd, threads] of engines) {
  describe(`linear (simd: '${simd}', threads: ${threads})`, () => {
    let backend: CpuBackend;
    beforeAll(async () => {
      backend = await createCpuBackend({ simd, threads });
    });
    afterAll(() => backend.dispose());

    // K = 600 spans three K blocks; N = 70 leaves a partial panel; rows 1 takes the decode kernel.
    for (const [rows, k, n, bias] of [
      [1, 600, 70, true],
      [2, 37, 50, false],
      [7, 600, 70, true],
      [33, 64, 200, true],
      [5, 16, 1, false],
    ] as const) {
      it(`[${rows}x${k}] x [${k}x${n}]${bias ? ' + bias' : ''} matches the float64 reference`, async () => {
        const rng = createRng(rows * 1000 + k + n);
        const weight = HostTensor.float32([n, k], randomNormal(rng, n * k, 1 / Math.sqrt(k)));
        const b = bias ? HostTensor.float32([n], randomNormal(rng, n, 0.5)) : undefined;
        const x = randomNormal(rng, rows * k);
        const layer = await backend.prepareLinear({ weight, bias: b });
        const y = await backend.linear(layer, x, rows);
        layer.dispose();
        expect(y.length).toBe(rows * n);
        const { relL2 } = compareOutputs(y, referenceLinear(weight, x, rows, b));
        expect(relL2).toBeLessThan(1e-5);
      });
    }

    it('returns an empty result for zero rows', async () => {
      const layer = await backend.prepareLinear({ weight: HostTensor.float32([3, 4], new Float32Array(12).fill(1)) });
      expect((await backend.linear(layer, new Float32Array(0), 0)).length).toBe(0);
      layer.dispose();
    });
  });
}
