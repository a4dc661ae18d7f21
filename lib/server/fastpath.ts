/**
 * GET /v1/users/:id/recommendations answered ahead of Fastify, in two cases:
 *
 * - a cache hit (serve --cache N): the cache is keyed by the exact URL, and an
 *   entry exists only because that same URL was routed, validated and answered
 *   200 with these bytes (the answer is a function of the URL and the model;
 *   events and reloads drop entries synchronously);
 * - a plain request, `/v1/users/<id>/recommendations` with no query or only
 *   `?k=<integer>`, the id made of letters, digits, `_`, `-` and `.` only: such
 *   a URL needs no decoding and passes the route's schema exactly when k is in
 *   range, so the route's own answering function (app.ts plainUserAnswer,
 *   which scores as the route does) can be called directly.
 *
 * Measured on this machine (bench/README.md, HTTP service section): Fastify's
 * routing, validation, request object, hooks and reply cost ~40 µs of CPU per
 * scored request, more than the HNSW search itself; Node's own HTTP objects
 * ~25 µs more, which is why these requests are read off the socket
 * (socketfront.ts) rather than from Node's request event. Anything else (a
 * miss that is not plain, another method, another route, any other query
 * parameter or character, an unknown user, a user with live events, a
 * closing server) goes to Fastify unchanged, which validates and answers it
 * as always.
 */
import http from 'node:http';
import type { ResultCache } from './cache.js';
import type { Metrics, RouteSeries } from './metrics.js';
import { JSON_TYPE } from './json.js';
import { installSocketFront, type FrontHandler, type FrontRequest } from './socketfront.js';

export interface FastPath {
  cache: ResultCache<Buffer> | undefined;
  metrics: Metrics;
  /** The URL prefix of the route ('/v1/users/'). */
  prefix: string;
  /** The route's name in metrics ('/v1/users/:id/recommendations'). */
  route: string;
  /** The route's largest k (larger ones are the route's 400). */
  maxK: number;
  closing: () => boolean;
  /**
   * The route's answer to a plain request for user `raw` (k undefined: none
   * given), or undefined to leave the request to the route. It counts the
   * cache miss and stores the answer itself, as the route does.
   */
  plain?: (raw: string, k: number | undefined, url: string) => string | undefined;
}

/** Longest id answered here (Fastify's own limit on a path parameter is 100 characters). */
const MAX_PLAIN_ID = 64;
const RECOMMENDATIONS = '/recommendations';

/** `<prefix><id>/recommendations[?k=<k>]` as { id, k }, or undefined for any other URL (left to Fastify). */
export function parsePlainUrl(url: string, prefix: string, maxK: number): { id: string; k: number | undefined } | undefined {
  const start = prefix.length;
  const slash = url.indexOf('/', start);
  if (slash <= start || slash - start > MAX_PLAIN_ID || !url.startsWith(prefix)) return undefined;
  for (let i = start; i < slash; i++) {
    const c = url.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45 || c === 46; // a-z A-Z 0-9 _ - .
    if (!ok) return undefined;
  }
  if (!url.startsWith(RECOMMENDATIONS, slash)) return undefined;
  const end = slash + RECOMMENDATIONS.length;
  if (end === url.length) return { id: url.slice(start, slash), k: undefined };
  // Only `?k=` and 1-6 digits without a leading zero; anything else is the schema's to judge.
  if (!url.startsWith('?k=', end)) return undefined;
  const digits = url.length - (end + 3);
  if (digits < 1 || digits > 6 || url.charCodeAt(end + 3) === 48) return undefined;
  let k = 0;
  for (let i = end + 3; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    k = k * 10 + (c - 48);
  }
  return k <= maxK ? { id: url.slice(start, slash), k } : undefined;
}

/** Marks a request accept() answered from the cache (its hit is counted once written). */
const HIT = Symbol('fastrec.cacheHit');

/**
 * The route's side of the socket front: cache hits are answered at once,
 * plain requests scored with the rest of their event-loop turn. Scoring one
 * turn's requests back to back, then writing every answer, matters: a search
 * reads ~0.5 MB of the index at random, and interleaved with the HTTP work of
 * each request they evicted each other's working set from the core's caches,
 * and each answer woke the load generator on its own (bench/README.md, HTTP
 * service section: about a quarter of a scored request's CPU in one process).
 */
export class UserRouteFront implements FrontHandler {
  /** The route's metrics series (looked up at the first answer). */
  private series: RouteSeries | undefined;

  constructor(private readonly fp: FastPath) {}

  accept(req: FrontRequest): boolean {
    const fp = this.fp;
    const url = req.url;
    if (!url.startsWith(fp.prefix) || fp.closing()) return false;
    if (fp.cache) {
      const hit = fp.cache.lookup(url);
      if (hit !== undefined) {
        req.body = hit;
        req.plan = HIT;
        return true;
      }
    }
    const plain = fp.plain ? parsePlainUrl(url, fp.prefix, fp.maxK) : undefined;
    if (plain === undefined) return false;
    req.plan = plain;
    return true;
  }

  score(req: FrontRequest): string | undefined {
    const p = req.plan as { id: string; k: number | undefined };
    return this.fp.plain!(p.id, p.k, req.url);
  }

  sent(req: FrontRequest): void {
    const fp = this.fp;
    if (req.plan === HIT) fp.cache!.hits++;
    fp.metrics.observe((this.series ??= fp.metrics.series('GET', fp.route)), 200, (performance.now() - req.t0) / 1000);
  }
}

/**
 * A Fastify `serverFactory`: the HTTP server Fastify would create (same
 * timeouts), with the socket front answering cache hits and plain requests.
 */
export function serverWithFastPath(fp: FastPath) {
  return (handler: http.RequestListener, opts: { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number }): http.Server => {
    const server = http.createServer(handler);
    if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
    if (opts.requestTimeout !== undefined) server.requestTimeout = opts.requestTimeout;
    if (opts.connectionTimeout !== undefined) server.setTimeout(opts.connectionTimeout);
    if (opts.maxRequestsPerSocket) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    installSocketFront(server, new UserRouteFront(fp), JSON_TYPE);
    return server;
  };
}
