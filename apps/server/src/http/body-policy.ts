/**
 * What request bodies the server reads: JSON only (`text/plain` carrying JSON is a 415, not a
 * 400 about the body's type), never compressed (a `Content-Encoding` other than `identity` is a
 * 415: the body parser would read gzip bytes as JSON text otherwise).
 */
import type { FastifyInstance } from 'fastify';
import { clip, HttpError } from './http-error.js';

/** Applies the body policy to the app. */
export function registerBodyPolicy(app: FastifyInstance): void {
  // Fastify parses text/plain by default; every body here is JSON.
  app.removeContentTypeParser('text/plain');
  app.addHook('onRequest', async (request) => {
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      throw new HttpError(415, 'E_CONTENT_ENCODING', `Content-Encoding '${clip(encoding)}' is not supported; send the body uncompressed (Content-Encoding: identity or none)`);
    }
  });
}
