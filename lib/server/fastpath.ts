/**
 * Plain GETs of the read routes answered ahead of Fastify:
 * `/v1/users/<id>/recommendations[?k=<k>]` and `/v1/items/<id>/similar[?k=<k>]`;
 * and `POST /v1/recommendations` with a small JSON body (JsonPostRoute).
 *
 * - A cache hit (serve --cache N, the user route): the cache is keyed by the
 *   exact URL, and an entry exists only because that same URL was routed,
 *   validated and answered 200 with these bytes (the answer is a function of
 *   the URL and the model; events and reloads drop entries synchronously).
 * - A plain request: no query or only `?k=<integer>`, the id made of letters,
 *   digits, `_`, `-` and `.` only. Such a URL needs no decoding and passes the
 *   route's schema exactly when k is in range, so the route's own answering
 *   function (app.ts plainUserAnswer, plainSimilarAnswer) can be called directly.
 *
 * Measured on this machine (bench/README.md, HTTP service section): Fastify's
 * routing, validation, request object, hooks and reply cost ~40 µs of CPU per
 * scored request, more than the HNSW search itself; Node's own HTTP objects
 * ~25 µs more, which is why these requests are read off the socket
 * (socketfront.ts) rather than from Node's request event. Anything else (a
 * miss that is not plain, another method, another route, any other query
 * parameter or character, an unknown id, a user with live events, a closing
 * server) goes to Fastify unchanged, which validates and answers it as always.
 *
 * A JSON POST (JsonPostRoute: `POST /v1/recommendations`, no query): only
 * with `Content-Type: application/json` (or `; charset=utf-8`, any case) and
 * a body of 1 to maxBody bytes (4 KiB, less under a smaller bodyLimit). The
 * body is parsed by the module Fastify's JSON parser uses (secure-json-parse,
 * UTF-8 decoded, with its strictest settings), then checked by the route's
 * own compiled validator, called as Fastify calls it (so its type coercions
 * apply), and answered by the route's own function (app.ts visitorAnswer).
 * Whatever fails any step, or throws, is lent to Fastify with its bytes, which
 * answers it as always (400, 413, 415, ...). No second validator: a body is
 * taken here only if the route's validator passes it.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { ResultCache } from './cache.js';
import type { Metrics, RouteSeries } from './metrics.js';
import { JSON_TYPE } from './json.js';
import { installSocketFront, type FrontHandler, type FrontRequest } from './socketfront.js';

/** One route's plain form, `<prefix><id><suffix>[?k=<k>]`. */
export interface PlainRoute {
  /** The URL before the id ('/v1/users/') and after it ('/recommendations'). */
  prefix: string;
  suffix: string;
  /** The route's name in metrics ('/v1/users/:id/recommendations'). */
  route: string;
  /** Answers by URL (serve --cache: the user route), looked up before anything else. */
  cache?: ResultCache<Buffer> | undefined;
  /**
   * The route's answer to a plain request for id `raw` (k undefined: none
   * given), or undefined to leave the request to the route. Absent: only
   * cache hits are answered here. It counts a cache miss and stores the
   * answer itself, as the route does.
   */
  answer?: (raw: string, k: number | undefined, url: string) => string | undefined;
}

/**
 * A route's body validator as Fastify calls it (lib/validation.js,
 * validateParam): Ajv's compiled function, which may coerce values in place
 * and, given the parent, replace the root.
 */
export type BodyValidator = ((data: unknown, parent?: { parentData: object; parentDataProperty: string }) => unknown) & { schemaEnv?: unknown };

/** A POST route with a JSON body answered here: `POST <url>` exactly, `Content-Type: application/json`. */
export interface JsonPostRoute {
  /** The request target ('/v1/recommendations'; anything else, a query too, goes to Fastify). */
  url: string;
  /** The route's name in metrics. */
  route: string;
  /** Bodies longer than this (bytes) go to Fastify. */
  maxBody: number;
  /**
   * The route's own compiled body validator (the function Fastify runs for
   * it), or undefined while there is none yet (the request goes to Fastify).
   */
  validator: () => BodyValidator | undefined;
  /** The route's answer to a body that passed the validator, or undefined to leave the request to the route. */
  answer: (body: unknown) => string | undefined;
}

export interface FastPath {
  metrics: Metrics;
  /** The routes' largest k (larger ones are the routes' 400). */
  maxK: number;
  closing: () => boolean;
  routes: PlainRoute[];
  /** POST routes answered here for a JSON body that passes their own validation. */
  posts?: JsonPostRoute[];
}

/**
 * Fastify's own JSON body parser (secure-json-parse, the module Fastify
 * loads), with the strictest settings: a body with a `__proto__` or
 * `constructor` key, which Fastify may refuse or strip, is not parsed here.
 */
const secureJson = createRequire(createRequire(import.meta.url).resolve('fastify'))('secure-json-parse') as {
  parse(text: string, reviver: null, options: { protoAction: 'error'; constructorAction: 'error' }): unknown;
};
const STRICT = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * A JSON request body as Fastify's default parser reads it (the bytes
 * decoded as UTF-8, then secure-json-parse), or undefined where that parser
 * would fail or could differ: Fastify then answers it.
 */
export function parseJsonBody(payload: Buffer): { value: unknown } | undefined {
  if (payload.length === 0) return undefined;
  try {
    return { value: secureJson.parse(payload.toString('utf8'), null, STRICT) };
  } catch {
    return undefined;
  }
}

/**
 * The request's body after the route's own validator, called as Fastify
 * calls it (the root given its parent, so a coerced root is kept), or
 * undefined unless the validator said a plain true (false: Fastify's 400;
 * a promise or a custom result: Fastify's to handle).
 */
export function validateBody(validator: BodyValidator, value: unknown): { value: unknown } | undefined {
  const holder = { body: value === undefined ? null : value };
  const ok = validator.schemaEnv ? validator(holder.body, { parentData: holder, parentDataProperty: 'body' }) : validator(holder.body);
  return ok === true ? { value: holder.body } : undefined;
}

/** Content types Fastify's JSON parser takes and this front reads (any other goes to Fastify, which decides). */
function jsonContentType(type: string | undefined): boolean {
  if (type === undefined || (type.length !== 16 && type.length !== 31)) return false;
  const t = type.toLowerCase();
  return t === 'application/json' || t === 'application/json; charset=utf-8';
}

/** Longest id answered here (Fastify's own limit on a path parameter is 100 characters). */
const MAX_PLAIN_ID = 64;

/** `<prefix><id><suffix>[?k=<k>]` as { id, k }, or undefined for any other URL (left to Fastify). */
export function parsePlainUrl(url: string, prefix: string, suffix: string, maxK: number): { id: string; k: number | undefined } | undefined {
  const start = prefix.length;
  const slash = url.indexOf('/', start);
  if (slash <= start || slash - start > MAX_PLAIN_ID || !url.startsWith(prefix)) return undefined;
  for (let i = start; i < slash; i++) {
    const c = url.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45 || c === 46; // a-z A-Z 0-9 _ - .
    if (!ok) return undefined;
  }
  if (!url.startsWith(suffix, slash)) return undefined;
  const end = slash + suffix.length;
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

/** What accept() found for a GET: the route (an index into FastPath.routes), and a cache hit or the plain request's id and k. */
interface Plan {
  route: number;
  hit: boolean;
  id: string;
  k: number | undefined;
}

/** What accept() found for a POST: the route (an index into FastPath.posts) and the validated body. */
interface PostPlan {
  post: number;
  value: unknown;
}

/**
 * The routes' side of the socket front: cache hits are answered at once,
 * plain requests scored with the rest of their event-loop turn. Scoring one
 * turn's requests back to back, then writing every answer, matters: a search
 * reads ~0.5 MB of the index at random, and interleaved with the HTTP work of
 * each request they evicted each other's working set from the core's caches,
 * and each answer woke the load generator on its own (bench/README.md, HTTP
 * service section: about a quarter of a scored request's CPU in one process).
 */
export class PlainRoutesFront implements FrontHandler {
  /** Each route's metrics series (looked up at its first answer). */
  private readonly series: (RouteSeries | undefined)[];
  private readonly postSeries: (RouteSeries | undefined)[];

  constructor(private readonly fp: FastPath) {
    this.series = fp.routes.map(() => undefined);
    this.postSeries = (fp.posts ?? []).map(() => undefined);
  }

  wantsBody(url: string, contentType: string | undefined, length: number): boolean {
    const fp = this.fp;
    if (!fp.posts || fp.closing() || !jsonContentType(contentType)) return false;
    const post = fp.posts.find((p) => p.url === url);
    return post !== undefined && length <= post.maxBody;
  }

  accept(req: FrontRequest): boolean {
    const fp = this.fp;
    const url = req.url;
    if (req.method === 'POST') return (!fp.closing() || req.admitted) && this.acceptPost(req);
    if (fp.closing()) return false;
    if (req.method !== 'GET') return false;
    for (let r = 0; r < fp.routes.length; r++) {
      const route = fp.routes[r]!;
      if (!url.startsWith(route.prefix)) continue;
      const hit = route.cache?.lookup(url);
      if (hit !== undefined) {
        req.body = hit;
        req.plan = { route: r, hit: true, id: '', k: undefined } satisfies Plan;
        return true;
      }
      const plain = route.answer ? parsePlainUrl(url, route.prefix, route.suffix, fp.maxK) : undefined;
      if (plain === undefined) return false;
      req.plan = { route: r, hit: false, id: plain.id, k: plain.k } satisfies Plan;
      return true;
    }
    return false;
  }

  /** A POST to a JSON route: its body parsed as Fastify parses it and passed by the route's own validator, else Fastify's. */
  private acceptPost(req: FrontRequest): boolean {
    const posts = this.fp.posts ?? [];
    const r = posts.findIndex((p) => p.url === req.url);
    if (r < 0 || req.payload === undefined || req.payload.length > posts[r]!.maxBody) return false;
    const validator = posts[r]!.validator();
    if (!validator) return false;
    const parsed = parseJsonBody(req.payload);
    const valid = parsed && validateBody(validator, parsed.value);
    if (!valid) return false;
    req.plan = { post: r, value: valid.value } satisfies PostPlan;
    return true;
  }

  score(req: FrontRequest): string | undefined {
    if (req.method === 'POST') {
      const p = req.plan as PostPlan;
      return this.fp.posts![p.post]!.answer(p.value);
    }
    const p = req.plan as Plan;
    return this.fp.routes[p.route]!.answer!(p.id, p.k, req.url);
  }

  sent(req: FrontRequest): void {
    const fp = this.fp;
    if (req.method === 'POST') {
      const p = req.plan as PostPlan;
      const series = (this.postSeries[p.post] ??= fp.metrics.series('POST', fp.posts![p.post]!.route));
      fp.metrics.observe(series, 200, (performance.now() - req.t0) / 1000);
      return;
    }
    const p = req.plan as Plan;
    const route = fp.routes[p.route]!;
    if (p.hit) route.cache!.hits++;
    const series = (this.series[p.route] ??= fp.metrics.series('GET', route.route));
    fp.metrics.observe(series, 200, (performance.now() - req.t0) / 1000);
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
    installSocketFront(server, new PlainRoutesFront(fp), JSON_TYPE);
    return server;
  };
}
