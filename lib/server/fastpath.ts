/**
 * Cache hits answered from Node's request event, ahead of Fastify (serve --cache N).
 *
 * Measured on this machine (bench/README.md, HTTP service section): Fastify's
 * routing, request object, hooks and reply cost ~20 µs of CPU per request on
 * top of Node's own HTTP handling (~55 µs), about as much as a small HNSW
 * search. A cache hit needs none of it: the cache is keyed by the exact URL,
 * and an entry exists only because Fastify routed and validated that same URL
 * and the route answered 200 with these bytes (the answer is a function of the
 * URL and the model; events and reloads drop entries synchronously). So a hit
 * is written straight back, like a response cache in front of the framework;
 * anything else (a miss, another method, another route, a closing server)
 * goes to Fastify unchanged, which validates it as always.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { ResultCache } from './cache.js';
import type { Metrics } from './metrics.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

/** Set on a request the fast path looked up and missed: the route counts the miss if it scores the request (not for a 400 or 404). */
export const LOOKED_UP = Symbol('fastrec.cacheLookedUp');

export interface FastPath {
  cache: ResultCache<Buffer>;
  metrics: Metrics;
  /** The URL prefix of the cached route ('/v1/users/'). */
  prefix: string;
  /** The route's name in metrics ('/v1/users/:id/recommendations'). */
  route: string;
  closing: () => boolean;
}

/** Answer `req` from the cache if it is a hit; false: let Fastify handle it. */
export function answerFromCache(fp: FastPath, req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url;
  if (req.method !== 'GET' || url === undefined || !url.startsWith(fp.prefix) || fp.closing()) return false;
  const t0 = performance.now();
  const bytes = fp.cache.lookup(url);
  if (bytes === undefined) {
    (req as unknown as Record<symbol, boolean>)[LOOKED_UP] = true;
    return false;
  }
  fp.cache.hits++;
  res.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': bytes.length });
  res.end(bytes);
  fp.metrics.observeRequest('GET', fp.route, 200, (performance.now() - t0) / 1000);
  return true;
}

/**
 * A Fastify `serverFactory`: the HTTP server Fastify would create (same
 * timeouts), with cache hits answered before Fastify's handler.
 */
export function serverWithFastPath(fp: FastPath) {
  return (handler: http.RequestListener, opts: { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number }): http.Server => {
    const server = http.createServer((req, res) => {
      let done = false;
      try {
        done = answerFromCache(fp, req, res);
      } catch {
        done = res.headersSent; // never throw out of the request event; Fastify answers instead
      }
      if (!done) handler(req, res);
    });
    if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
    if (opts.requestTimeout !== undefined) server.requestTimeout = opts.requestTimeout;
    if (opts.connectionTimeout !== undefined) server.setTimeout(opts.connectionTimeout);
    if (opts.maxRequestsPerSocket) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    return server;
  };
}
