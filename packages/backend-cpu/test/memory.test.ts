/**
 * Backend.memory of the cpu backend: preparing weights adds exactly what residentBytesFor
 * promised for each tensor (so a model loader's check before loading is exact), half-precision
 * and block-format weights stay at their stored size, and disposing gives the bytes back.
 */
import { createRng, HostTensor, randomNormal, routedExpertGroup, randomWeights, storageBytes, type DType, type MoELayerConfig } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, type CpuBackend, type SimdMode } from '../src/index.js';

const config: MoELayerConfig = { hiddenSize: 256, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 512, bias: true }, router: { name: 'topk-softmax' } };

for (const simd of ['simd', 'none'] as SimdMode[]) {
  describe(`Backend.memory (simd: '${simd}')`, () => {
    let backend: CpuBackend;
    beforeAll(async () => {
      backend = await createCpuBackend({ simd, threads: 1 });
    });
    afterAll(() => backend.dispose());

    it('reports no ceiling of its own', () => {
      expect(backend.memory.limitBytes).toBeUndefined();
    });

    for (const dtype of ['float32', 'bfloat16', 'q4_k', 'q8_0', 'q5_0'] as DType[]) {
      it(`${dtype} experts and a linear layer hold exactly what residentBytesFor predicts`, async () => {
        const weights = randomWeights(config, { seed: 801, dtype });
        const group = routedExpertGroup(config, weights);
        let predicted = 0;
        for (const e of weights.experts) {
          for (const t of [e.gate, e.up, e.down, e.gateBias, e.upBias, e.downBias]) if (t) predicted += backend.memory.residentBytesFor(t.dtype, t.shape);
        }
        const rng = createRng(802);
        const weight = HostTensor.float32([70, 512], randomNormal(rng, 70 * 512)).to(dtype);
        predicted += backend.memory.residentBytesFor(weight.dtype, weight.shape);
        const before = backend.memory.residentBytes;
        const experts = await backend.prepareExperts(group);
        const linear = await backend.prepareLinear({ weight });
        expect(backend.memory.residentBytes - before).toBe(predicted);
        experts.dispose();
        linear.dispose();
        expect(backend.memory.residentBytes).toBe(before);
      });
    }

    if (simd !== 'none') {
      it('keeps half-precision and block formats at their stored size (float32 padded to 16 outputs)', () => {
        for (const dtype of ['bfloat16', 'float16', 'q8_0', 'q4_0', 'q5_0', 'q4_k', 'q5_k', 'q6_k', 'mxfp4'] as DType[]) {
          expect(backend.memory.residentBytesFor(dtype, [512, 256])).toBe(storageBytes(dtype, [512, 256]));
          expect(backend.memory.residentBytesFor(dtype, [8, 512, 256])).toBe(storageBytes(dtype, [8, 512, 256]));
        }
        expect(backend.memory.residentBytesFor('float32', [70, 512])).toBe(80 * 512 * 4);
      });
    }
  });
}
