/**
 * backend.memory against the process's real growth: the bytes this backend reports for a
 * prepared expert group bound what the process grows by (so the model loader's check before
 * allocating is not fooled) and are not wildly above it. Measured in a child process with
 * core/testing's resident probe (22M weight values per format).
 */
import { fileURLToPath } from 'node:url';
import { probeResidentBytes } from '@moe-runtime/core/testing';
import { describe, expect, it } from 'vitest';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const MiB = 2 ** 20;

describe('onnx memory accounting', () => {
  for (const dtype of ['float32', 'float16', 'q8_0'] as const) {
    it(`${dtype}: reported bytes bound the RSS growth of preparing and running a group`, async () => {
      const r = await probeResidentBytes('@moe-runtime/backend-onnx', 'onnx', dtype, cwd);
      expect(r.reportedBytes).toBe(r.predictedBytes);
      expect(r.measuredBytes).toBeLessThanOrEqual(r.predictedBytes * 1.05 + 24 * MiB);
      expect(r.measuredBytes).toBeGreaterThanOrEqual(r.predictedBytes * 0.5);
    }, 180_000);
  }
});
