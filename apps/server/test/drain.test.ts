/**
 * The drain as a client on a kept-alive connection sees it: a request sent during the drain
 * gets a 503 with `Connection: close` (and the route's error shape), not a socket closed under
 * it; the accepted request is still answered.
 */
import { randomInput } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import { post, rowsOf, smallConfig, startServer } from './helpers.js';
import { RawConnection } from './raw-http.js';

const D = 8;

describe('drain', () => {
  it('a request on a kept-alive connection during the drain: 503 + Connection: close; the accepted one: 200', async () => {
    const srv = await startServer({ backend: [{ name: 'naive', options: { delayMs: 1500 } }], layers: [{ id: 'l', source: 'random', seed: 1, config: smallConfig(D, 4, 2, 12) }] });
    const kept = await RawConnection.open(srv.url);
    try {
      const first = await kept.send({ method: 'GET', target: '/v1/layers' });
      expect([first?.status, first?.headers.connection]).toEqual([200, 'keep-alive']);
      const accepted = post(`${srv.url}/v1/layers/l/forward`, { input: rowsOf(randomInput(1, D, 41).data, D) });
      // Wait until its batch went to the worker (which holds it 1.5 s).
      const batchesSent = async (): Promise<number> => (await srv.server.state.metrics.batchRequests.get()).values.find((v) => v.metricName === 'moe_batch_size_requests_count')?.value ?? 0;
      while ((await batchesSent()) === 0) await new Promise((r) => setTimeout(r, 20));
      const closing = srv.close();
      const during = await kept.send({ method: 'GET', target: '/v1/layers' });
      expect([during?.status, during?.headers.connection, during?.headers['retry-after']]).toEqual([503, 'close', '1']);
      expect(JSON.parse(during!.body)).toMatchObject({ code: 'E_DRAINING' });
      expect((await accepted).status).toBe(200);
      await closing;
    } finally {
      kept.close();
      await srv.close();
    }
  });
});
