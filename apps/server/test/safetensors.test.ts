/**
 * A layer served from a safetensors checkpoint (Hugging Face Mixtral names) answers exactly as
 * the same weights built in memory: the loader, the worker and the HTTP path agree bitwise.
 */
import { join } from 'node:path';
import { getBackend, MoELayer, randomInput, randomWeights, saveMoELayer } from '@moe-runtime/core';
import { tempDir } from '@moe-runtime/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bitwiseEqual, flat, get, post, rowsOf, smallConfig, startServer, TEST_BACKENDS, type TestServer } from './helpers.js';

await import(TEST_BACKENDS);

describe('safetensors layers', () => {
  const config = smallConfig(16, 4, 2, 20);
  const weights = randomWeights(config, { seed: 12 });
  let srv: TestServer;
  let direct: MoELayer;
  beforeAll(async () => {
    const file = join(tempDir('moe-st-'), 'model.safetensors');
    await saveMoELayer(file, config, weights, { scheme: 'mixtral', prefix: 'model.layers.3.' });
    srv = await startServer({ backend: ['naive'], layers: [{ id: 'ckpt', source: 'safetensors', path: file, prefix: 'model.layers.3.', topK: 2 }] });
    direct = await MoELayer.create({ config, weights, backend: await getBackend('naive') });
  });
  afterAll(async () => {
    await srv?.close();
    direct?.dispose();
  });

  it('reports the shape read from the checkpoint and forwards bitwise like the in-memory layer', async () => {
    const layers = await get<{ layers: { id: string; source: string; config: typeof config }[] }>(`${srv.url}/v1/layers`);
    expect(layers.body.layers[0]).toMatchObject({ id: 'ckpt', source: 'safetensors', config: { hiddenSize: 16, numExperts: 4, topK: 2, expert: { ffnSize: 20 } } });
    const x = randomInput(4, 16, 31).data;
    const res = await post<{ output: number[][] }>(`${srv.url}/v1/layers/ckpt/forward`, { input: rowsOf(x, 16) });
    expect(res.status).toBe(200);
    expect(bitwiseEqual(flat(res.body.output), (await direct.forward(x)).output.data as Float32Array)).toBe(true);
  });
});
