/**
 * backend.memory against the process's real growth (core/testing's checkResidentBytes: a child
 * process prepares and runs 22M weight values per format, 201M for q8_0, whose per-value cost
 * settles only at model scale): the reported bytes bound the growth, so the model loader's check
 * before allocating is not fooled.
 */
import { fileURLToPath } from 'node:url';
import { checkResidentBytes } from '@moe-runtime/core/testing';
import { expect, it } from 'vitest';

for (const dtype of ['float32', 'float16', 'q8_0', 'q4_0', 'q4_k'] as const) {
  it(`onnx ${dtype}: reported bytes bound the RSS growth of preparing and running a group`, async () => {
    const shape = dtype === 'q8_0' ? { d: 2048, f: 1024, e: 32 } : { d: 1024, f: 1792, e: 4 };
    const r = await checkResidentBytes('@moe-runtime/backend-onnx', 'onnx', dtype, fileURLToPath(new URL('..', import.meta.url)), shape);
    expect(r.values).toBe(shape.e * 3 * shape.d * shape.f);
  }, 180_000);
}
