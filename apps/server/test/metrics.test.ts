/** /metrics reflects the traffic: tokens, per-expert counts, batches, queue depth, latency, imbalance. */
import { randomInput, randomWeights, type ExpertWeights, type HostTensor, type MoELayerConfig } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, post, rowsOf, smallConfig, startServer, type TestServer } from './helpers.js';

const D = 8;

/** The value of one sample line `name{labels} value` (labels in any order given as a subset). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ backend: ['naive'], layers: [{ id: 'm', source: 'random', seed: 9, config: smallConfig(D, 4, 2, 12) }] });
  });
  afterAll(() => srv?.close());

  it('counts tokens, expert rows, batches and requests', async () => {
    const before = (await get<string>(`${srv.url}/metrics`)).body;
    expect(sample(before, 'moe_tokens_processed_total', { layer: 'm' })).toBe(0);
    expect(sample(before, 'moe_queue_depth', { layer: 'm' })).toBe(0);
    const routed: number[] = [0, 0, 0, 0];
    for (let i = 0; i < 5; i++) {
      const res = await post<{ routing: { experts: number[][] } }>(`${srv.url}/v1/layers/m/forward`, { input: rowsOf(randomInput(3, D, 400 + i).data, D), return_routing: true });
      expect(res.status).toBe(200);
      for (const tok of res.body.routing.experts) for (const e of tok) routed[e]++;
    }
    await post(`${srv.url}/v1/layers/m/forward`, { input: [[1, 2]] }); // a 400
    const res = await get<string>(`${srv.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = res.body;
    expect(sample(text, 'moe_tokens_processed_total', { layer: 'm' })).toBe(15);
    for (let e = 0; e < 4; e++) expect(sample(text, 'moe_expert_tokens_total', { layer: 'm', expert: String(e) })).toBe(routed[e]);
    const mean = routed.reduce((a, b) => a + b, 0) / 4;
    expect(sample(text, 'moe_layer_load_imbalance', { layer: 'm' })).toBeCloseTo(Math.max(...routed) / mean, 10);
    expect(sample(text, 'moe_batch_size_tokens_count', { layer: 'm' })).toBe(5);
    expect(sample(text, 'moe_batch_size_tokens_sum', { layer: 'm' })).toBe(15);
    expect(sample(text, 'moe_batch_size_requests_sum', { layer: 'm' })).toBe(5);
    expect(sample(text, 'moe_queue_depth', { layer: 'm' })).toBe(0);
    const route = { route: '/v1/layers/:id/forward', method: 'POST' };
    expect(sample(text, 'moe_http_request_duration_seconds_count', { ...route, status_code: '200' })).toBe(5);
    expect(sample(text, 'moe_http_request_duration_seconds_count', { ...route, status_code: '400' })).toBe(1);
    expect(text).toContain('# TYPE moe_batch_compute_seconds histogram');
  });
});

describe('documentation and listings', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({
      backend: ['broken', 'naive'],
      layers: [
        { id: 'doc', source: 'random', seed: 9, config: smallConfig(D, 4, 2, 12) },
        // Biases and a gated shared expert: parameters the count must include.
        { id: 'biased', source: 'random', seed: 10, config: { ...smallConfig(D, 4, 2, 12), expert: { kind: 'swiglu', ffnSize: 12, bias: true }, sharedExperts: { count: 1, ffnSize: 20, gated: true } } },
      ],
    });
  });
  afterAll(() => srv?.close());

  it('serves the OpenAPI document and a local Swagger UI', async () => {
    const doc = await get<{ openapi: string; paths: Record<string, Record<string, { requestBody?: unknown }>> }>(`${srv.url}/openapi.json`);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.0.3');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/v1/backends', '/v1/layers', '/v1/layers/{id}/forward']));
    expect(doc.body.paths['/v1/layers/{id}/forward'].post.requestBody).toBeDefined();
    const page = await get<string>(`${srv.url}/docs/static/index.html`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('swagger-ui');
    const bundle = await fetch(`${srv.url}/docs/static/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    await bundle.arrayBuffer();
  });

  it('lists the backend that won the fallback list and the layers', async () => {
    const b = await get<{ active: { name: string }; preference: string[]; registered: { name: string }[] }>(`${srv.url}/v1/backends`);
    expect(b.body.active.name).toBe('naive');
    expect(b.body.preference).toEqual(['broken', 'naive']);
    expect(b.body.registered.map((r) => r.name)).toEqual(expect.arrayContaining(['cpu', 'naive', 'flaky', 'broken']));
    const l = await get<{ ready: boolean; layers: { id: string; batching: string; input_shape: unknown[]; parameters: number; config: MoELayerConfig }[] }>(`${srv.url}/v1/layers`);
    expect(l.body.ready).toBe(true);
    expect(l.body.layers[0]).toEqual(expect.objectContaining({ id: 'doc', batching: 'across-requests', input_shape: ['T', D] }));
    expect(l.body.layers.map((x) => x.id)).toEqual(['doc', 'biased']);
    // routed 4 x (3 x 12 x 8) + router 4 x 8
    expect(l.body.layers[0].parameters).toBe(4 * 3 * 12 * D + 4 * D);
    // The served weights, tensor by tensor: expert biases, the shared expert and its gate count too.
    const w = randomWeights(l.body.layers[1].config, { seed: 10 });
    const size = (t?: HostTensor): number => (t ? t.shape.reduce((a, b) => a * b, 1) : 0);
    const expert = (e: ExpertWeights): number => size(e.gate) + size(e.up) + size(e.down) + size(e.gateBias) + size(e.upBias) + size(e.downBias);
    const expected = size(w.router) + w.experts.reduce((n, e) => n + expert(e), 0) + (w.shared ?? []).reduce((n, e) => n + expert(e), 0) + size(w.sharedGate);
    expect(size(w.experts[0].upBias)).toBe(12);
    expect(size(w.sharedGate)).toBe(D);
    expect(l.body.layers[1].parameters).toBe(expected);
  });
});
