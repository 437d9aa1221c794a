/**
 * Deferred Hugging Face tensors: a loading source hands F32 / F16 / BF16 layer tensors to the
 * backend unread, so the cpu backend reads half-precision weights from the safetensors file
 * straight into its memory (no host copy is ever made); the logits are bit-identical to a load
 * that reads every tensor first, sharded folders and load-time quantization included.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { getBackend, SafetensorsError, type Backend, type DType } from '@moe-runtime/core';
import { bitwiseEqual } from '@moe-runtime/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openHfCheckpoint, writeTinyCheckpoint, type LoadCheckpointOptions } from '../src/index.js';
import { loadedLogits } from './deferred-load.js';

let root: string;
let backend: Backend;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-hf-deferred-'));
  backend = await getBackend('cpu');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const PROMPT = [3, 71, 150, 9, 288, 41, 17, 200];

/** Logits of PROMPT, and whether layer 0's routed experts were read onto the host. */
async function logits(dir: string, options: LoadCheckpointOptions): Promise<{ logits: Float32Array; expertsOnHost: boolean }> {
  return loadedLogits(await openHfCheckpoint(dir, options), backend, PROMPT);
}

describe('deferred Hugging Face tensor data', () => {
  it('layer tensors come unread, read when used, and refuse to be read after close', async () => {
    const dir = join(root, 'olmoe-bf16');
    await writeTinyCheckpoint(dir, { modelType: 'olmoe', seed: 91, dtype: 'bfloat16', numKvHeads: 4 });
    const source = await openHfCheckpoint(dir);
    const layer = await source.readLayer(0);
    const expert = layer.moe.experts[1];
    expect(expert.up.resident).toBe(false);
    expect(expert.up.dtype).toBe('bfloat16');
    expect(layer.attention.o.resident).toBe(false);
    const embed = await source.readEmbedding();
    expect(embed.resident).toBe(true);
    const values = expert.down.toFloat64();
    expect(values.some((v) => v !== 0)).toBe(true);
    await source.close();
    expect(() => expert.gate!.toFloat32()).toThrow(SafetensorsError);
    expect(() => expert.gate!.toFloat32()).toThrow(/read 'model\.layers\.0\.mlp\.experts\.1\.gate_proj\.weight' after close/);
    // What was read before the close stays readable; the host-kept embedding is unaffected.
    expect(expert.down.toFloat64()).toEqual(values);
    expect(embed.decodeRow(5).some((v) => v !== 0)).toBe(true);
  });

  it('deferTensorData: false reads every layer tensor with its layer', async () => {
    const dir = join(root, 'mixtral-eager');
    await writeTinyCheckpoint(dir, { modelType: 'mixtral', seed: 92, dtype: 'float16' });
    const source = await openHfCheckpoint(dir, { deferTensorData: false });
    const layer = await source.readLayer(1);
    await source.close();
    expect(layer.moe.experts.every((e) => e.up.resident && e.down.resident)).toBe(true);
    expect(layer.attention.q.toFloat32().some((v) => v !== 0)).toBe(true);
  });

  const cases: readonly { dtype: DType; shards: number; convert?: DType; hostRead: boolean }[] = [
    // Half-precision experts are copied from the file into wasm memory; f32 ones are repacked
    // into panels, and a load-time conversion quantizes on the host, so those are read.
    { dtype: 'bfloat16', shards: 1, hostRead: false },
    { dtype: 'float16', shards: 3, hostRead: false },
    { dtype: 'float32', shards: 2, hostRead: true },
    { dtype: 'bfloat16', shards: 1, convert: 'q8_0', hostRead: true },
  ];
  for (const c of cases) {
    it(`${c.dtype}${c.shards > 1 ? ` in ${c.shards} shards` : ''}${c.convert ? ` converted to ${c.convert}` : ''}: a deferred load gives bit-identical logits to an eager one on cpu`, async () => {
      const dir = join(root, `qwen3-${c.dtype}-${c.shards}-${c.convert ?? 'kept'}`);
      await writeTinyCheckpoint(dir, { modelType: 'qwen3_moe', seed: 93, dtype: c.dtype as 'float32' | 'float16' | 'bfloat16', shards: c.shards, ffnSize: 64 });
      const convert = c.convert ? { dtype: c.convert } : {};
      const eager = await logits(dir, { ...convert, deferTensorData: false });
      const deferred = await logits(dir, convert);
      expect(eager.logits.some((v) => v !== 0)).toBe(true);
      expect(bitwiseEqual(deferred.logits, eager.logits)).toBe(true);
      expect(eager.expertsOnHost).toBe(true);
      expect(deferred.expertsOnHost).toBe(c.hostRead);
    });
  }
});
