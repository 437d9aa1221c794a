/**
 * Graceful shutdown with a deadline. The drain stops accepting connections but keeps the
 * kept-alive ones open (Node's `server.close()` would reap idle ones at once, and a request a
 * client sends on one at that moment would meet a closed socket): a request arriving on one
 * during the drain gets a 503 with `Connection: close` and Retry-After, so the client retries
 * elsewhere. Requests accepted before the drain are answered; when they are all done the server
 * closes, and when `drainTimeoutMs` passes first (a stalled upload, a stream that never ends)
 * their connections are cut so the process can exit.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError } from './http-error.js';

/** Requests in flight, and the drain that waits for them. */
export class Drain {
  private inFlight = 0;
  private draining = false;
  private onIdle?: () => void;

  /** Adds the hook that counts requests and refuses new ones once draining (probes still answer). */
  register(app: FastifyInstance): void {
    app.addHook('onRequest', async (request, reply) => {
      const route = request.routeOptions.url;
      if (this.draining && route !== '/healthz' && route !== '/readyz') {
        throw new HttpError(503, 'E_DRAINING', 'the server is shutting down; send the request again (to another instance)', { headers: { 'retry-after': '1', connection: 'close' } });
      }
      this.inFlight++;
      // 'close' comes when the answer is sent and when the connection died first.
      reply.raw.once('close', () => {
        this.inFlight--;
        if (this.inFlight === 0) this.onIdle?.();
      });
    });
  }

  /** Requests accepted and not yet answered. */
  get pending(): number {
    return this.inFlight;
  }

  /**
   * Stops accepting connections, waits for the accepted requests (at most `deadlineMs`), then
   * closes what is left; resolves with the number of requests that were cut at the deadline.
   */
  async run(app: FastifyInstance, deadlineMs: number): Promise<number> {
    this.draining = true;
    const server = app.server;
    // http.Server.close() reaps idle keep-alive sockets at once; hold that until the accepted
    // requests are answered, so a request sent on one meanwhile gets the 503 above.
    const reapIdle = server.closeIdleConnections.bind(server);
    server.closeIdleConnections = () => undefined;
    const closed = app.close();
    let cut = 0;
    if (this.inFlight > 0) {
      const settled = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), deadlineMs);
        this.onIdle = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      if (!settled) {
        cut = this.inFlight;
        server.closeAllConnections();
      }
    }
    server.closeIdleConnections = reapIdle;
    reapIdle();
    await closed;
    return cut;
  }
}
