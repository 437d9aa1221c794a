/**
 * Forward results over real HTTP equal the library's own forward on the same layer: bitwise
 * on the same backend (JSON rows and base64 both round-trip float32 exactly), routing included,
 * and within float32 tolerance of the float64 reference.
 */
import '@moe-runtime/backend-cpu';
import { checkAgainstReference, getBackend, HostTensor, MoELayer, randomInput, randomWeights, type BackendChoice, type MoELayerConfig } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, bitwiseEqual, flat, fromB64, post, relL2, rowsOf, smallConfig, startServer, TEST_BACKENDS, type TestServer } from './helpers.js';

await import(TEST_BACKENDS);

const SEED = 7;

interface ForwardBody {
  shape: number[];
  output?: number[][];
  output_b64?: string;
  routing?: { experts: number[][]; weights: number[][] };
  batch: { requests: number; tokens: number };
}

async function directLayer(backend: BackendChoice, config: MoELayerConfig): Promise<MoELayer> {
  return MoELayer.create({ config, weights: randomWeights(config, { seed: SEED }), backend: await getBackend(backend) });
}

for (const backend of [{ name: 'cpu', options: { threads: 1 } }, { name: 'naive' }] as const) {
  describe(`forward on backend ${backend.name}`, () => {
    const config = smallConfig(32, 4, 2, 48);
    let srv: TestServer;
    let direct: MoELayer;

    beforeAll(async () => {
      srv = await startServer({ backend: [backend], layers: [{ id: 'small', source: 'random', seed: SEED, config }] });
      direct = await directLayer(backend, config);
    });
    afterAll(async () => {
      await srv?.close();
      direct?.dispose();
    });

    it('JSON rows: output bitwise equal to MoELayer.forward, routing equal to its plan', async () => {
      const x = randomInput(5, 32, 101).data;
      const res = await post<ForwardBody>(`${srv.url}/v1/layers/small/forward`, { input: rowsOf(x, 32), return_routing: true });
      expect(res.status).toBe(200);
      expect(res.body.shape).toEqual([5, 32]);
      const want = await direct.forward(x);
      expect(bitwiseEqual(flat(res.body.output!), want.output.data as Float32Array)).toBe(true);
      const { plan } = want;
      for (let t = 0; t < 5; t++) {
        const rows = Array.from(plan.tokenRows.subarray(plan.tokenOffsets[t], plan.tokenOffsets[t + 1]));
        const experts = rows.map((r) => plan.expertOffsets.findIndex((o, e) => e < plan.numExperts && r >= o && r < plan.expertOffsets[e + 1]));
        expect(res.body.routing!.experts[t]).toEqual(experts);
        expect(res.body.routing!.weights[t]).toEqual(rows.map((r) => plan.rowWeight[r]));
      }
      const check = checkAgainstReference(config, randomWeights(config, { seed: SEED }), x, { ...want, output: HostTensor.float32([5, 32], flat(res.body.output!)) });
      expect(check.failures).toEqual([]);
    });

    it('base64 in, base64 out: bitwise equal', async () => {
      const x = randomInput(3, 32, 202).data;
      const res = await post<ForwardBody>(`${srv.url}/v1/layers/small/forward`, { input_b64: b64(x), shape: [3, 32] });
      expect(res.status).toBe(200);
      expect(res.body.output).toBeUndefined();
      expect(res.body.routing).toBeUndefined();
      const want = await direct.forward(x);
      expect(bitwiseEqual(fromB64(res.body.output_b64!), want.output.data as Float32Array)).toBe(true);
    });

    it('output_format overrides the input format', async () => {
      const x = randomInput(2, 32, 303).data;
      const res = await post<ForwardBody>(`${srv.url}/v1/layers/small/forward`, { input_b64: b64(x), shape: [2, 32], output_format: 'json' });
      const want = await direct.forward(x);
      expect(bitwiseEqual(flat(res.body.output!), want.output.data as Float32Array)).toBe(true);
    });
  });
}

describe('batched forward on backend cpu', () => {
  const config = smallConfig(32, 4, 2, 48);
  let srv: TestServer;
  let direct: MoELayer;
  beforeAll(async () => {
    srv = await startServer({
      backend: [{ name: 'cpu', options: { threads: 1 } }],
      layers: [{ id: 'small', source: 'random', seed: SEED, config }],
      batching: { windowMs: 25 },
    });
    direct = await directLayer({ name: 'cpu', options: { threads: 1 } }, config);
  });
  afterAll(async () => {
    await srv?.close();
    direct?.dispose();
  });

  it('concurrent callers share batches and each gets its own rows', async () => {
    const inputs = Array.from({ length: 10 }, (_, i) => randomInput(1 + (i % 4), 32, 500 + i).data);
    const answers = await Promise.all(inputs.map((x) => post<ForwardBody>(`${srv.url}/v1/layers/small/forward`, { input: rowsOf(x, 32) })));
    expect(answers.some((a) => a.body.batch.requests > 1)).toBe(true);
    for (let i = 0; i < inputs.length; i++) {
      expect(answers[i].status).toBe(200);
      const want = (await direct.forward(inputs[i])).output.data as Float32Array;
      // Rows are independent in the cpu kernels today (bitwise equal); allow float32 rounding
      // in case a kernel ever blocks rows differently by batch size.
      expect(relL2(flat(answers[i].body.output!), want)).toBeLessThan(1e-6);
    }
  });
});
