/**
 * Deferred GGUF tensors: a loading source hands layer tensors to the backend unread, so the
 * cpu backend reads their bytes from the file straight into its memory (no host copy is ever
 * made); the logits are bit-identical to a load that reads every tensor first.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { getBackend, GgufError, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGgufModel } from '../src/index.js';
import { loadedLogits } from './deferred-load.js';
import { KQUANT_SHAPE, writeTinyGguf } from './gguf-fixtures.js';

let root: string;
let backend: Backend;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-gguf-deferred-'));
  backend = await getBackend('cpu');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const PROMPT = [3, 71, 150, 9, 288, 41, 17, 200];

/** Logits of PROMPT, and whether the backend left layer 0's routed experts unread on the host. */
async function logits(path: string, deferTensorData: boolean): Promise<{ logits: Float32Array; expertsOnHost: boolean }> {
  return loadedLogits((await openGgufModel(path, { deferTensorData })).source, backend, PROMPT);
}

describe('deferred GGUF tensor data', () => {
  it('layer tensors come unread, read when used, and refuse to be read after close', async () => {
    const { path } = await writeTinyGguf(root, 'olmoe-q8', { modelType: 'olmoe', seed: 71, format: 'q8_0', ...KQUANT_SHAPE });
    const { source } = await openGgufModel(path);
    const layer = await source.readLayer(0);
    const expert = layer.moe.experts[1];
    expect(expert.up.resident).toBe(false);
    expect(layer.attention.o.resident).toBe(false);
    const embed = await source.readEmbedding();
    expect(embed.resident).toBe(true);
    const values = expert.down.toFloat64();
    expect(values.some((v) => v !== 0)).toBe(true);
    await source.close();
    expect(() => expert.gate!.toFloat32()).toThrow(GgufError);
    expect(() => expert.gate!.toFloat32()).toThrow(/read after close/);
    // What was read before the close stays readable; the host-kept embedding is unaffected.
    expect(expert.down.toFloat64()).toEqual(values);
    expect(embed.decodeRow(5).some((v) => v !== 0)).toBe(true);
  });

  for (const format of ['q8_0', 'q4_k', 'float32'] as const) {
    it(`${format}: a deferred load gives bit-identical logits to an eager one on cpu`, async () => {
      const { path } = await writeTinyGguf(root, `mixtral-${format}`, { modelType: 'mixtral', seed: 72, format, ...KQUANT_SHAPE });
      const eager = await logits(path, false);
      const deferred = await logits(path, true);
      expect(deferred.logits.length).toBe(eager.logits.length);
      expect(Buffer.compare(Buffer.from(deferred.logits.buffer), Buffer.from(eager.logits.buffer))).toBe(0);
      expect(eager.logits.some((v) => v !== 0)).toBe(true);
      expect(eager.expertsOnHost).toBe(true);
      // Quantized experts are copied from the file into wasm memory; f32 ones are repacked into panels, so read.
      expect(deferred.expertsOnHost).toBe(format === 'float32');
    });
  }
});
