/**
 * GET /v1/users/:id/recommendations answered from Node's request event, ahead
 * of Fastify, in two cases:
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
 * scored request on top of Node's own HTTP handling, more than the HNSW search
 * itself. Anything else (a miss that is not plain, another method, another
 * route, any other query parameter or character, an unknown user, a closing
 * server) goes to Fastify unchanged, which validates and answers it as always.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { ResultCache } from './cache.js';
import type { Metrics, RouteSeries } from './metrics.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

/** Set on a request the fast path looked up and missed: the route counts the miss if it scores the request (not for a 400 or 404). */
export const LOOKED_UP = Symbol('fastrec.cacheLookedUp');

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
  /** The route's metrics series (kept after the first answer). */
  series?: RouteSeries;
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

interface Pending {
  req: IncomingMessage;
  res: ServerResponse;
  id: string;
  k: number | undefined;
  url: string;
  /** When the request arrived (its latency in /metrics counts the wait for the batch). */
  t0: number;
  body: string | undefined;
}

/**
 * The fast path of one HTTP server. Cache hits are answered at once. Plain
 * requests are queued and answered together once the event loop has read
 * every request ready in this turn (setImmediate runs after the poll phase):
 * first all of them are scored, then all answers are written. Interleaving a
 * search (it reads ~0.5 MB of the index at random) with Node's HTTP work for
 * each request evicted each other's working set from the core's caches, and
 * each answer woke the load generator on its own: scoring the turn's requests
 * back to back cut the CPU of a scored request by about a quarter in one
 * process (bench/README.md, HTTP service section). A request waits at most
 * for the others of its turn to be parsed and scored.
 */
export class FastPathServer {
  private readonly queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly fp: FastPath,
    /** Fastify's request handler: everything not answered here. */
    private readonly fastify: http.RequestListener,
  ) {}

  /** Node's request event. */
  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    let taken = false;
    try {
      taken = this.take(req, res);
    } catch {
      taken = res.headersSent; // never throw out of the request event; Fastify answers instead
    }
    if (!taken) this.fastify(req, res);
  };

  /** Answer a cache hit, or queue a plain request; false: Fastify's. */
  private take(req: IncomingMessage, res: ServerResponse): boolean {
    const fp = this.fp;
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !url.startsWith(fp.prefix) || fp.closing()) return false;
    const t0 = performance.now();
    if (fp.cache) {
      const hit = fp.cache.lookup(url);
      if (hit !== undefined) {
        fp.cache.hits++;
        this.send(res, hit, t0);
        return true;
      }
    }
    const plain = fp.plain ? parsePlainUrl(url, fp.prefix, fp.maxK) : undefined;
    if (plain === undefined) {
      if (fp.cache) (req as unknown as Record<symbol, boolean>)[LOOKED_UP] = true;
      return false;
    }
    this.queue.push({ req, res, id: plain.id, k: plain.k, url, t0, body: undefined });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    return true;
  }

  /** Score every queued request, then write every answer; what the route must decide goes to Fastify. */
  private readonly flush = (): void => {
    this.scheduled = false;
    const fp = this.fp;
    const batch = this.queue.splice(0);
    for (const p of batch) {
      try {
        p.body = fp.closing() ? undefined : fp.plain!(p.id, p.k, p.url);
      } catch {
        p.body = undefined; // Fastify's route scores it again and answers the error
      }
    }
    for (const p of batch) {
      try {
        if (p.body !== undefined) {
          this.send(p.res, p.body, p.t0);
          continue;
        }
      } catch {
        if (p.res.headersSent) continue;
      }
      if (fp.cache) (p.req as unknown as Record<symbol, boolean>)[LOOKED_UP] = true;
      try {
        this.fastify(p.req, p.res);
      } catch {
        // Never leave the rest of the batch unanswered.
        if (!p.res.headersSent) p.res.writeHead(500).end();
      }
    }
  };

  private send(res: ServerResponse, body: Buffer | string, t0: number): void {
    // Headers as a flat list: Node copies them without walking an object.
    res.writeHead(200, ['content-type', JSON_TYPE, 'content-length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length)]);
    res.end(body);
    const fp = this.fp;
    fp.metrics.observe((fp.series ??= fp.metrics.series('GET', fp.route)), 200, (performance.now() - t0) / 1000);
  }
}

/**
 * A Fastify `serverFactory`: the HTTP server Fastify would create (same
 * timeouts), with cache hits and plain requests answered before Fastify's handler.
 */
export function serverWithFastPath(fp: FastPath) {
  return (handler: http.RequestListener, opts: { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number }): http.Server => {
    const server = http.createServer(new FastPathServer(fp, handler).onRequest);
    if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
    if (opts.requestTimeout !== undefined) server.requestTimeout = opts.requestTimeout;
    if (opts.connectionTimeout !== undefined) server.setTimeout(opts.connectionTimeout);
    if (opts.maxRequestsPerSocket) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    return server;
  };
}
