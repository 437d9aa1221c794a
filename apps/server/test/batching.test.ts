/**
 * Dynamic batching: concurrent requests share backend batches and each caller receives exactly
 * its own rows; routers whose result depends on the batch (capacity, expert choice) run each
 * request alone, so their answers equal a direct forward of that request.
 */
import { getBackend, getRouterDefinition, MoELayer, randomInput, randomWeights, registerRouter, unregisterRouter } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchesAcrossRequests } from '../src/index.js';
import { bitwiseEqual, flat, post, rowsOf, smallConfig, startServer, TEST_BACKENDS, type TestServer } from './helpers.js';

await import(TEST_BACKENDS);

interface ForwardBody {
  output: number[][];
  batch: { requests: number; tokens: number; worker: number };
}

const D = 16;

describe('batching across requests (topk-softmax)', () => {
  const config = smallConfig(D, 4, 2, 24);
  let srv: TestServer;
  let direct: MoELayer;
  beforeAll(async () => {
    // A 30 ms window and a slow backend make concurrent requests meet in batches.
    srv = await startServer({
      backend: [{ name: 'naive', options: { delayMs: 30 } }],
      layers: [{ id: 'l', source: 'random', seed: 3, config }],
      batching: { windowMs: 30, maxBatchTokens: 40 },
    });
    direct = await MoELayer.create({ config, weights: randomWeights(config, { seed: 3 }), backend: await getBackend('naive') });
  });
  afterAll(async () => {
    await srv?.close();
    direct?.dispose();
  });

  it('each of 16 concurrent callers gets its own rows; batches hold several requests and respect the token cap', async () => {
    const inputs = Array.from({ length: 16 }, (_, i) => randomInput(1 + (i % 5), D, 1000 + i).data);
    const answers = await Promise.all(inputs.map((x) => post<ForwardBody>(`${srv.url}/v1/layers/l/forward`, { input: rowsOf(x, D) })));
    let shared = 0;
    for (let i = 0; i < inputs.length; i++) {
      expect(answers[i].status).toBe(200);
      const got = flat(answers[i].body.output);
      // The naive backend is row-independent, so even batched rows are bitwise those of a solo forward.
      const want = (await direct.forward(inputs[i])).output.data as Float32Array;
      expect(bitwiseEqual(got, want)).toBe(true);
      expect(answers[i].body.batch.tokens).toBeLessThanOrEqual(40);
      if (answers[i].body.batch.requests > 1) shared++;
    }
    expect(shared).toBeGreaterThan(0);
  });
});

describe('batch-dependent routers run each request alone', () => {
  const config = smallConfig(D, 4, 1, 24, { name: 'switch', options: { capacityFactor: 1 } });
  let srv: TestServer;
  let direct: MoELayer;
  beforeAll(async () => {
    srv = await startServer({
      backend: [{ name: 'naive', options: { delayMs: 20 } }],
      layers: [{ id: 'sw', source: 'random', seed: 4, config }],
      batching: { windowMs: 30, maxBatchTokens: 64 },
    });
    direct = await MoELayer.create({ config, weights: randomWeights(config, { seed: 4 }), backend: await getBackend('naive') });
  });
  afterAll(async () => {
    await srv?.close();
    direct?.dispose();
  });

  it('policy: auto batches per-token routers only', () => {
    expect(batchesAcrossRequests(smallConfig(), 'auto')).toBe(true);
    expect(batchesAcrossRequests(config, 'auto')).toBe(false);
    expect(batchesAcrossRequests(smallConfig(D, 4, 1, 24, { name: 'switch', options: { dropTokens: false } }), 'auto')).toBe(true);
    expect(batchesAcrossRequests(smallConfig(D, 4, 2, 24, { name: 'expert-choice' }), 'auto')).toBe(false);
    expect(batchesAcrossRequests(smallConfig(D, 4, 2, 24, { name: 'my-unknown-router' }), 'auto')).toBe(false);
    expect(batchesAcrossRequests(config, 'across-requests')).toBe(true);
    expect(batchesAcrossRequests(smallConfig(), 'per-request')).toBe(false);
  });

  it('policy: a router registered after the server was written batches unless it says it depends on the batch', () => {
    const perToken = getRouterDefinition('topk-softmax').factory;
    registerRouter('user-per-token', perToken);
    registerRouter('user-capacity', perToken, { batchDependent: true });
    try {
      expect(batchesAcrossRequests(smallConfig(D, 4, 2, 24, { name: 'user-per-token' }), 'auto')).toBe(true);
      expect(batchesAcrossRequests(smallConfig(D, 4, 2, 24, { name: 'user-capacity' }), 'auto')).toBe(false);
      expect(batchesAcrossRequests(smallConfig(D, 4, 2, 24, { name: 'topk-capacity', options: { dropTokens: false } }), 'auto')).toBe(true);
    } finally {
      unregisterRouter('user-per-token');
      unregisterRouter('user-capacity');
    }
  });

  it('switch with capacity: concurrent answers equal solo forwards (drops included)', async () => {
    const inputs = Array.from({ length: 6 }, (_, i) => randomInput(6, D, 2000 + i).data);
    const answers = await Promise.all(inputs.map((x) => post<ForwardBody>(`${srv.url}/v1/layers/sw/forward`, { input: rowsOf(x, D) })));
    for (let i = 0; i < inputs.length; i++) {
      expect(answers[i].status).toBe(200);
      expect(answers[i].body.batch.requests).toBe(1);
      const want = (await direct.forward(inputs[i])).output.data as Float32Array;
      expect(bitwiseEqual(flat(answers[i].body.output), want)).toBe(true);
    }
  });
});

describe('several inference workers', () => {
  it('spreads batches over 2 workers and still returns each caller its rows', async () => {
    const config = smallConfig(D, 4, 2, 24);
    const srv = await startServer({
      workers: 2,
      backend: [{ name: 'naive', options: { delayMs: 40 } }],
      layers: [{ id: 'w', source: 'random', seed: 5, config }],
      batching: { windowMs: 0, maxBatchTokens: 4 },
    });
    const direct = await MoELayer.create({ config, weights: randomWeights(config, { seed: 5 }), backend: await getBackend('naive') });
    try {
      const inputs = Array.from({ length: 8 }, (_, i) => randomInput(2, D, 3000 + i).data);
      const answers = await Promise.all(inputs.map((x) => post<ForwardBody>(`${srv.url}/v1/layers/w/forward`, { input: rowsOf(x, D) })));
      for (let i = 0; i < inputs.length; i++) {
        expect(answers[i].status).toBe(200);
        expect(bitwiseEqual(flat(answers[i].body.output), (await direct.forward(inputs[i])).output.data as Float32Array)).toBe(true);
      }
      // 8 requests of 2 tokens in batches of at most 4 tokens: at least 4 batches of 40 ms,
      // so while one worker is busy the other takes the next batch.
      expect(answers.every((a) => a.body.batch.tokens <= 4)).toBe(true);
      expect(new Set(answers.map((a) => a.body.batch.worker))).toEqual(new Set([0, 1]));
    } finally {
      await srv.close();
      direct.dispose();
    }
  });
});
