/**
 * Who may call what. The API key is checked against the route the router matched (Fastify
 * decodes and strips absolute-form origins before matching, so the check must see the same
 * thing), and it is deny-by-default: every route needs the key except the probes and the API
 * documentation, and an unmatched target needs it too (a 404 would tell what exists). Without a
 * key the `Host` header is checked instead, so a page on another host name that resolves to
 * this machine (DNS rebinding) cannot drive the API from a browser. CORS is off unless origins
 * are configured; a preflight is answered (by `@fastify/cors`) without the key.
 */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { ServerConfig } from '../config.js';
import { clip, HttpError } from './http-error.js';

/** Whether a matched route pattern is open without a key: probes and the API documentation. */
export function isPublicRoute(pattern: string | undefined): boolean {
  if (pattern === undefined) return false;
  return pattern === '/healthz' || pattern === '/readyz' || pattern === '/openapi.json' || pattern === '/docs' || pattern.startsWith('/docs/');
}

/** Routes a load balancer probes by address: they skip the Host check. */
function isProbe(pattern: string | undefined): boolean {
  return pattern === '/healthz' || pattern === '/readyz';
}

/** The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive, RFC 9110), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^bearer[ \t]+(.+)$/i.exec(header.trim());
  return m ? m[1].trim() : undefined;
}

function keyMatches(header: string | undefined, key: string): boolean {
  const token = bearerToken(header);
  if (token === undefined) return false;
  const given = Buffer.from(token);
  const want = Buffer.from(key);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** `Example.COM:8080` -> `example.com`, `[::1]:80` -> `::1`; undefined when there is none. */
export function hostName(authority: string | undefined): string | undefined {
  if (!authority) return undefined;
  const a = authority.trim().toLowerCase();
  const name = a.startsWith('[') ? a.slice(1, a.indexOf(']')) : a.replace(/:\d*$/, '');
  return name.replace(/\.$/, '') || undefined;
}

/** Whether a host name or address is this machine's loopback (RFC 6761 reserves `*.localhost`). */
export function isLoopback(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost') || name === '::1') return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

/** The host a request is for: the absolute-form target's authority when there is one (RFC 9112 3.2.2), else `Host`. */
function requestHost(request: FastifyRequest): string | undefined {
  const target = request.raw.url ?? '';
  if (!target.startsWith('/')) {
    try {
      return hostName(new URL(target).host);
    } catch {
      return undefined;
    }
  }
  return hostName(request.headers.host);
}

/** The host names a server without a key answers: loopback, the bound address (unless a wildcard), and `allowedHosts`. */
function hostAllowed(name: string | undefined, config: ServerConfig): boolean {
  if (name === undefined) return false;
  if (config.allowedHosts.includes('*')) return true;
  if (isLoopback(name) || config.allowedHosts.includes(name)) return true;
  const bound = hostName(config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host);
  return bound !== undefined && bound !== '0.0.0.0' && bound !== '::' && name === bound;
}

/** A CORS preflight (answered by the CORS plugin, without the key: browsers send none). */
function isPreflight(request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.headers.origin !== undefined && request.headers['access-control-request-method'] !== undefined;
}

/** The warning for a server reachable from other machines with no key, or undefined. */
export function exposureWarning(config: ServerConfig): string | undefined {
  if (config.apiKey) return undefined;
  const bound = hostName(config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host);
  if (bound !== undefined && isLoopback(bound)) return undefined;
  return `moe-server: warning: listening on ${config.host} (reachable from other machines) with no API key: anyone who can reach it can use it; set --api-key or MOE_API_KEY`;
}

/** Adds the access checks (key or Host) and, when configured, CORS. */
export async function registerAccess(app: FastifyInstance, config: ServerConfig): Promise<void> {
  const key = config.apiKey;
  const corsOn = config.corsOrigins.length > 0;
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (key) {
      if (isPublicRoute(route) || (corsOn && isPreflight(request))) return;
      if (!keyMatches(request.headers.authorization, key)) {
        throw new HttpError(401, 'E_UNAUTHORIZED', request.headers.authorization ? 'invalid API key' : 'missing API key: send Authorization: Bearer <key>');
      }
      return;
    }
    if (isProbe(route)) return;
    const host = requestHost(request);
    if (!hostAllowed(host, config)) {
      throw new HttpError(
        403,
        'E_HOST_NOT_ALLOWED',
        `host '${clip(host ?? '')}' is not allowed: without an API key this server answers only loopback names and allowedHosts (--allowed-host); set an API key or add the name`,
      );
    }
  });
  if (corsOn) {
    // After the access hook: an actual request still needs the key; the preflight is exempted above.
    await app.register(cors, { origin: [...config.corsOrigins], methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 });
  }
}
