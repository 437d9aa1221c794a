/**
 * backend.memory against the process's real growth (core/testing's checkResidentBytes: a child
 * process prepares and runs 22M weight values per format, 201M for q8_0, whose per-value cost
 * settles only at model scale), with 64 MiB of fixed slack for the buffers onnxruntime keeps:
 * the reported bytes bound the growth, so the model loader's check before allocating is not fooled.
 */
import { fileURLToPath } from 'node:url';
import { checkResidentBytes } from '@moe-runtime/core/testing';
import { expect, it } from 'vitest';

for (const dtype of ['float32', 'float16', 'q8_0', 'q4_0', 'q4_k'] as const) {
  it(`onnx ${dtype}: reported bytes bound the RSS growth of preparing and running a group`, async () => {
    const shape = dtype === 'q8_0' ? { d: 2048, f: 1024, e: 32 } : { d: 1024, f: 1792, e: 4 };
    // onnxruntime keeps about 50 MB of freed load buffers in the C heap, whatever the group's
    // size: float16 at 22M values grew by 144-197 MiB in runs on 2026-12-03 for 168 MiB reported.
    const r = await checkResidentBytes('@moe-runtime/backend-onnx', 'onnx', dtype, fileURLToPath(new URL('..', import.meta.url)), { shape, fixedSlackBytes: 64 * 2 ** 20 });
    expect(r.values).toBe(shape.e * 3 * shape.d * shape.f);
  }, 180_000);
}
