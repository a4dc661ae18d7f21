/**
 * The HTTP service (`fastrec serve`): Fastify with a JSON schema on every
 * route, bearer-token auth on write/admin routes, Prometheus metrics and hot
 * model reload.
 *
 *   GET  /v1/users/:id/recommendations   k, filterSeen, exclude, include, context
 *   POST /v1/recommendations             an anonymous visitor: recent items, basket, filters
 *   GET  /v1/items/:id/similar           k
 *   POST /v1/events                      (token) interactions folded into the user's recommendations
 *   POST /v1/admin/reload                (token) swap in a model file; requests never fail meanwhile
 *   GET  /healthz, GET /metrics
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { timingSafeEqual, createHash } from 'node:crypto';
import { FastrecError, InvalidArgumentError, UnknownIdError } from '../errors.js';
import type { Id } from '../data/idmap.js';
import type { RecommendOptions } from '../recommender.js';
import { Metrics, renderMetrics, type MetricsSnapshot } from './metrics.js';
import { annTopK, historyWithEvents, LiveHistories, loadServedModel, lookupId, userKey, type AnnServeOptions, type ServedModel } from './model.js';
import { ResultCache } from './cache.js';
import { serverWithFastPath, type BodyValidator, type JsonPostRoute, type PlainRoute } from './fastpath.js';
import { answerById, answerByIndex, head, JSON_TYPE } from './json.js';
import { PeerClient, describeFailures, type PeerAsk, type PeerLink } from './cluster.js';
import * as S from './schemas.js';

export interface ServerOptions {
  /** The model file to serve. */
  modelPath: string;
  /** Bearer token for POST /v1/events and /v1/admin/*; without one those routes are disabled (403). */
  token?: string | undefined;
  /** Largest k a request may ask for (default 1000). */
  maxK?: number;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Fastify logger options (pino), or false. Default: JSON logs at 'info'. */
  logger?: FastifyServerOptions['logger'];
  /** Log every request (two pino lines each; default false: lifecycle, reloads and errors only). */
  logRequests?: boolean;
  /** Bounds on live events kept in memory. */
  maxLiveUsers?: number;
  maxEventsPerUser?: number;
  /** Answer known users' top-k through an HNSW index over the item factors (approximate; factor models only). */
  ann?: AnnServeOptions | false;
  /**
   * Cache user recommendation responses for up to this many users (default 0: off).
   * A user's entries are dropped when their events arrive; all are dropped on reload.
   */
  cacheUsers?: number;
  /**
   * This worker's channel to the other processes of `serve --workers N`:
   * events are passed on to them, a reload answers once every worker swapped
   * the model in, and /metrics adds up every worker's series.
   */
  peers?: PeerLink;
}

export type { PeerLink, PeerMessage } from './cluster.js';

/** Tokens shorter than this are refused: they are guessable. */
export const MIN_TOKEN_LENGTH = 16;

const USER_ROUTE = '/v1/users/:id/recommendations';
const SIMILAR_ROUTE = '/v1/items/:id/similar';
const VISITOR_ROUTE = '/v1/recommendations';
/** Visitor bodies up to this many bytes may be answered by the socket front (fastpath.ts); longer ones go to Fastify. */
const FRONT_MAX_BODY = 4096;

interface Ctx {
  served: ServedModel;
  ann: AnnServeOptions | false;
  live: LiveHistories;
  metrics: Metrics;
  maxK: number;
  /** Response bytes by URL (serve --cache). */
  cache: ResultCache<Buffer> | undefined;
  /** The exact norm scan's counts of the models served before this one (so /metrics counters never go back). */
  scansBefore: ScanTotals;
  /** POST /v1/recommendations's body schema: the route validates with it, and so does its fast path (the same compiled function). */
  visitorSchema: ReturnType<typeof S.visitorBody>;
}

type ScanTotals = { scans: number; settled: number; itemsRead: number };

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Build the service (not yet listening). Loads the model first; rejects on a bad model file. */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const maxK = options.maxK ?? 1000;
  if (options.token !== undefined && options.token.length < MIN_TOKEN_LENGTH) {
    throw new InvalidArgumentError(`the service token must have at least ${MIN_TOKEN_LENGTH} characters (received ${options.token.length}); generate one with: openssl rand -hex 24`);
  }
  const ctx: Ctx = {
    served: await loadServedModel(options.modelPath, options.ann ?? false),
    ann: options.ann ?? false,
    live: new LiveHistories(options.maxLiveUsers, options.maxEventsPerUser),
    metrics: new Metrics(),
    maxK,
    cache: options.cacheUsers ? new ResultCache(options.cacheUsers) : undefined,
    scansBefore: { scans: 0, settled: 0, itemsRead: 0 },
    visitorSchema: S.visitorBody(maxK),
  };
  let closing = false;
  // The visitor route's compiled body validator, taken from Fastify once it is ready (fastpath.ts: visitorPost).
  let visitorValidator: BodyValidator | undefined;
  const visitorPost: JsonPostRoute = {
    url: VISITOR_ROUTE,
    route: VISITOR_ROUTE,
    maxBody: Math.min(FRONT_MAX_BODY, options.bodyLimit ?? 1 << 20),
    validator: () => (visitorValidator ??= routeBodyValidator(app, ctx.visitorSchema, VISITOR_ROUTE)),
    answer: (body) => visitorAnswer(ctx, body as VisitorBody),
  };
  const app = Fastify({
    logger: options.logger ?? { level: 'info' },
    bodyLimit: options.bodyLimit ?? 1 << 20,
    forceCloseConnections: 'idle',
    logController: new LogController({ disableRequestLogging: !options.logRequests }),
    // Without request logs, a per-request child logger (pino child + bindings) is pure cost:
    // requests log through the service logger, and errors name their request id themselves.
    ...(options.logRequests ? {} : { childLoggerFactory: (logger: FastifyBaseLogger) => logger }),
    return503OnClosing: true,
    // Cache hits, plain requests of a known user or item, and visitor POSTs with a small valid JSON body
    // skip Node's HTTP objects and Fastify altogether (fastpath.ts, socketfront.ts); request logs, when
    // asked for, need Fastify's request.
    ...((ctx.cache || ctx.ann) && !options.logRequests
      ? { serverFactory: serverWithFastPath({ metrics: ctx.metrics, maxK, closing: () => closing, routes: plainRoutes(ctx), posts: [visitorPost] }) }
      : {}),
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: false } },
  });
  app.addHook('preClose', (done) => {
    closing = true; // the fast path leaves new requests to Fastify, which answers 503 while closing (what it has read it answers)
    done();
  });
  registerMetrics(app, ctx);
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.error, message: err.message });
    if (err instanceof UnknownIdError) return reply.code(404).send({ error: err.code, message: err.message });
    if (err instanceof InvalidArgumentError) return reply.code(400).send({ error: err.code, message: err.message });
    if (err.validation) return reply.code(400).send({ error: 'BAD_REQUEST', message: err.message });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: err.code ?? 'BAD_REQUEST', message: err.message });
    }
    req.log.error({ err, reqId: req.id, url: req.url }, 'request failed');
    const code = err instanceof FastrecError ? err.code : 'INTERNAL';
    return reply.code(500).send({ error: code, message: 'internal error; see the service log' });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}; see GET /v1/users/:id/recommendations, POST /v1/recommendations, GET /v1/items/:id/similar, POST /v1/events` }),
  );

  const tokenDigest = options.token ? digest(options.token) : undefined;
  const requireToken = async (req: FastifyRequest): Promise<void> => {
    if (!tokenDigest) throw new HttpError(403, 'DISABLED', 'write and admin endpoints are disabled: start the service with --token or FASTREC_TOKEN to enable them');
    const header = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(header);
    // Compare digests in constant time: the token's length and content do not leak through timing.
    if (!m || !timingSafeEqual(digest(m[1]!), tokenDigest)) {
      throw new HttpError(401, 'UNAUTHORIZED', m ? 'the bearer token is not valid' : 'this endpoint needs an Authorization: Bearer <token> header');
    }
  };

  registerReadRoutes(app, ctx);
  const peers = registerWriteRoutes(app, ctx, requireToken, options.peers);
  app.get('/healthz', { schema: { response: { 200: S.health } } }, async () => health(ctx));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(peers ? await serviceMetrics(ctx, peers) : ctx.metrics.render()));
  return app;
}

function health(ctx: Ctx): Record<string, unknown> {
  const s = ctx.served;
  return {
    status: 'ok',
    model: { kind: s.info.kind, path: s.path, loadedAt: s.loadedAt.toISOString(), users: s.users?.size ?? null, items: s.items?.size ?? null, scoring: s.ann ? 'hnsw' : 'exact', index: s.ann?.source ?? null },
    liveUsers: ctx.live.users,
    // Which process answered (serve --workers N runs several).
    pid: process.pid,
  };
}

function registerMetrics(app: FastifyInstance, ctx: Ctx): void {
  const m = ctx.metrics;
  // A callback hook, not an async one: no promise per request.
  app.addHook('onResponse', (req, reply, done) => {
    m.observeRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  m.gauge('fastrec_model_items', 'Items known to the served model.', () => ctx.served.items?.size ?? NaN);
  m.gauge('fastrec_model_users', 'Users known to the served model.', () => ctx.served.users?.size ?? NaN);
  m.gauge('fastrec_model_loaded_timestamp_seconds', 'When the served model was loaded.', () => ctx.served.loadedAt.getTime() / 1000);
  m.gauge('fastrec_live_users', 'Users with events posted since the model was loaded.', () => ctx.live.users);
  m.inc('fastrec_events', 'Events accepted by POST /v1/events.', 0);
  m.inc('fastrec_reloads', 'Successful model reloads.', 0);
  if (ctx.ann) {
    // serve --ann: how often the exact scan in decreasing norm answered before the graph (AnnScorer.scanStats).
    const scans = (key: keyof ScanTotals) => () => ctx.scansBefore[key] + (ctx.served.ann?.scorer.scanStats()?.[key] ?? 0);
    m.counterFn('fastrec_norm_scans', 'Top-k queries tried first by the exact scan of the items in decreasing norm.', scans('scans'));
    m.counterFn('fastrec_norm_scans_settled', 'Queries that scan answered exactly; the others were answered by the HNSW graph.', scans('settled'));
    m.counterFn('fastrec_norm_scan_items_read', 'Items read by the settled scans (per settled scan: divide by fastrec_norm_scans_settled_total).', scans('itemsRead'));
  }
  if (ctx.cache) {
    const cache = ctx.cache;
    m.gauge('fastrec_cache_users', 'Users with cached recommendations.', () => cache.size);
    m.counterFn('fastrec_cache_hits', 'Recommendation requests answered from the result cache.', () => cache.hits);
    m.counterFn('fastrec_cache_misses', 'Recommendation requests scored because the result cache had no answer.', () => cache.misses);
  }
}

interface Filters {
  k?: number;
  filterSeen?: boolean;
  exclude?: string | (string | number)[];
  include?: string | (string | number)[];
  context?: string;
}

/** Ids from a query string ("a,b,c") or a JSON array, each also tried as a number (unknown ids are ignored by models). */
function idList(raw: string | (string | number)[] | undefined): Id[] | undefined {
  if (raw === undefined) return undefined;
  const list = typeof raw === 'string' ? raw.split(',').filter((s) => s !== '') : raw;
  return list.flatMap((s) => (typeof s === 'string' && s.trim() !== '' && Number.isFinite(Number(s)) ? [s, Number(s)] : typeof s === 'number' ? [s, String(s)] : [s]));
}

function options(f: Filters, ctx: Ctx, extraExclude: Id[] = []): RecommendOptions {
  const k = f.k ?? 10;
  if (k > ctx.maxK) throw new HttpError(400, 'BAD_REQUEST', `k must be at most ${ctx.maxK} (received ${k})`);
  const exclude = idList(f.exclude);
  const all = extraExclude.length ? [...(exclude ?? []), ...extraExclude] : exclude;
  return { k, filterSeen: f.filterSeen ?? true, ...(all ? { exclude: all } : {}), ...(f.include !== undefined ? { include: idList(f.include) } : {}) };
}

function registerReadRoutes(app: FastifyInstance, ctx: Ctx): void {
  app.get<{ Params: { id: string }; Querystring: Filters }>(
    USER_ROUTE,
    { schema: { params: S.idParams, querystring: S.recommendQuery(ctx.maxK), response: { 200: S.recommendations } } },
    async (req, reply) => {
      const served = ctx.served; // one model for the whole request, even if a reload swaps it meanwhile
      const raw = req.params.id;
      const known = lookupId(served.users, raw);
      const cache = ctx.cache;
      if (cache) {
        // Counted here (a hit, or a miss scored below); the fast path counts only what it answers itself.
        const hit = cache.get(req.url);
        if (hit) return reply.type(JSON_TYPE).send(hit);
      }
      const live = ctx.live.get(known ?? raw);
      const context = req.query.context;
      let json: string;
      if (live) {
        const history = historyWithEvents(served, known, live);
        const opts = options(req.query, ctx, req.query.filterSeen === false ? [] : history.map((h) => h.item));
        json = historyAnswer(served, history, opts, head({ user: raw, model: served.info.kind, context }), {});
      } else if (served.ann && known !== undefined) {
        const opts = options(req.query, ctx);
        json = indexedUserAnswer(served, raw, known, undefined, opts.k!, opts.filterSeen!, opts.exclude as Id[] | undefined, opts.include as Id[] | undefined, context);
      } else {
        const opts = { ...options(req.query, ctx), ...hybridOptions(served, context, undefined) };
        const rec = withIdFallback(raw, known, (id) => served.model.recommend(id, opts), 'user');
        json = answerById(head({ user: raw, model: served.info.kind, context }), rec.items, rec.scores);
      }
      // Cached as the bytes sent: a hit is then written back as they are.
      // Scoring is synchronous, so no reload or event came between the lookup and here.
      if (cache && ctx.served === served) cache.set(userKey(known ?? raw), req.url, Buffer.from(json));
      return reply.type(JSON_TYPE).send(json);
    },
  );

  app.post<{ Body: VisitorBody }>(
    VISITOR_ROUTE,
    { schema: { body: ctx.visitorSchema, response: { 200: S.recommendations } } },
    async (req, reply) => reply.type(JSON_TYPE).send(visitorAnswer(ctx, req.body)),
  );

  app.get<{ Params: { id: string }; Querystring: { k?: number } }>(
    SIMILAR_ROUTE,
    { schema: { params: S.idParams, querystring: S.similarQuery(ctx.maxK), response: { 200: S.recommendations } } },
    async (req, reply) => {
      const served = ctx.served;
      const k = req.query.k ?? 10;
      const known = lookupId(served.items, req.params.id);
      if (served.ann && known !== undefined) return reply.type(JSON_TYPE).send(similarAnswer(served, req.params.id, served.items!.index(known)!, k));
      const rec = withIdFallback(req.params.id, known, (id) => served.model.similarItems(id, k), 'item');
      return reply.type(JSON_TYPE).send(answerById(head({ item: req.params.id, model: served.info.kind }), rec.items, rec.scores));
    },
  );
}

/**
 * GET /v1/users/:id/recommendations for a known user without live events,
 * scored through the HNSW index: the route answers with this, and so does its
 * fast path for plain requests (plainUserAnswer), so both send the same bytes.
 */
function indexedUserAnswer(served: ServedModel, raw: string, known: Id, row: number | undefined, k: number, filterSeen: boolean, exclude: Id[] | undefined, include: Id[] | undefined, context: string | undefined): string {
  const r = annTopK(served, { user: known, ...(row !== undefined ? { row } : {}) }, k, filterSeen, exclude, include);
  return answerByIndex(head({ user: raw, model: served.info.kind, context }), served.itemJson!, r.indices, r.scores);
}

/** A visitor's body, as the route's schema (S.visitorBody) lets it through. */
type VisitorBody = { items?: (Id | { item: Id; value?: number })[]; basket?: Id[] } & Filters;

/**
 * POST /v1/recommendations for a validated body: the route answers with
 * this, and so does its fast path (fastpath.ts) for a body that passed the
 * route's own validator, so both send the same bytes.
 */
function visitorAnswer(ctx: Ctx, b: VisitorBody): string {
  const served = ctx.served;
  const history = [...(b.items ?? []), ...(b.basket ?? [])];
  // Never recommend what is already in the basket (cross-sell, not substitutes of it).
  const opts = options(b, ctx, idList(b.basket) ?? []);
  const visitor = expandHistory(history);
  return historyAnswer(served, visitor, opts, head({ model: served.info.kind, context: b.context }), hybridOptions(served, b.context, b.basket));
}

/**
 * The body validator Fastify compiled for a route's `schema` object (its
 * compiler compiles each schema object once: asked again for the same object,
 * Ajv gives back the same function), or undefined before Fastify is ready.
 */
export function routeBodyValidator(app: FastifyInstance, schema: object, url: string): BodyValidator | undefined {
  const compile = app.validatorCompiler;
  return compile ? (compile({ schema, method: 'POST', url, httpPart: 'body' }) as BodyValidator) : undefined;
}

/**
 * The answer for a history (a visitor's items, or a user's with live events):
 * folded in and scored through the index when the model is served with one,
 * else by the model itself (`extra`: the hybrid's context options).
 */
function historyAnswer(served: ServedModel, history: { item: Id; value: number }[], opts: RecommendOptions, headText: string, extra: Record<string, unknown>): string {
  if (served.ann?.foldIn) {
    const known = history.filter((h) => served.items!.has(h.item));
    const r = annTopK(served, { history: known }, opts.k!, opts.filterSeen!, opts.exclude as Id[] | undefined, opts.include as Id[] | undefined);
    return answerByIndex(headText, served.itemJson!, r.indices, r.scores);
  }
  const rec = served.model.recommendForHistory(history, { ...opts, ...extra });
  return answerById(headText, rec.items, rec.scores);
}

/** The read routes the socket front answers for plain requests (fastpath.ts): cache hits always, scoring with --ann. */
function plainRoutes(ctx: Ctx): PlainRoute[] {
  const users: PlainRoute = { prefix: '/v1/users/', suffix: '/recommendations', route: USER_ROUTE, cache: ctx.cache };
  if (!ctx.ann) return [users];
  return [
    { ...users, answer: (raw, k, url) => plainUserAnswer(ctx, raw, k, url) },
    { prefix: '/v1/items/', suffix: '/similar', route: SIMILAR_ROUTE, answer: (raw, k) => plainSimilarAnswer(ctx, raw, k) },
  ];
}

/**
 * The fast path's answer to a plain similar-items request (`/v1/items/<raw>/similar`,
 * no query or only `?k=`): the route's answer for a known item through the
 * index (similarAnswer), or undefined to leave the rest to the route.
 */
function plainSimilarAnswer(ctx: Ctx, raw: string, k: number | undefined): string | undefined {
  const served = ctx.served;
  if (!served.ann) return undefined;
  const known = lookupId(served.items, raw);
  return known === undefined ? undefined : similarAnswer(served, raw, served.items!.index(known)!, k ?? 10);
}

/** GET /v1/items/:id/similar for an item of the index (the route and its fast path send these bytes). */
function similarAnswer(served: ServedModel, raw: string, row: number, k: number): string {
  const r = served.ann!.similar.similar(row, k);
  return answerByIndex(head({ item: raw, model: served.info.kind }), served.itemJson!, r.indices, r.scores);
}

/**
 * The fast path's answer to a plain request (`/v1/users/<raw>/recommendations`,
 * no query or only `?k=`, already checked by fastpath.ts): what the route
 * answers with those defaults (k 10, seen items filtered), counted as a cache
 * miss and stored like the route does. Undefined where the route has more to
 * decide (a model served without the index, an unknown user: 404 or the
 * model's own id fallback, a user with live events).
 */
function plainUserAnswer(ctx: Ctx, raw: string, k: number | undefined, url: string): string | undefined {
  const served = ctx.served;
  if (!served.ann) return undefined;
  // The id as written is the common case: one lookup gives the user's row too.
  let row = served.users?.index(raw);
  const known = row !== undefined ? raw : lookupId(served.users, raw);
  if (known === undefined || ctx.live.get(known)) return undefined;
  row ??= served.users!.index(known);
  const json = indexedUserAnswer(served, raw, known, row, k ?? 10, true, undefined, undefined, undefined);
  if (ctx.cache) {
    ctx.cache.misses++;
    ctx.cache.set(userKey(known), url, Buffer.from(json));
  }
  return json;
}

/**
 * The hybrid ranks by context (home page, product page, basket: complements
 * of the basket rather than substitutes) and takes the basket itself; other
 * models have no such options (and reject unknown ones), so nothing is added.
 */
function hybridOptions(served: ServedModel, context: string | undefined, basket: Id[] | undefined): Record<string, unknown> {
  if (served.info.kind !== 'hybrid') return {};
  const out: Record<string, unknown> = {};
  if (context === 'home' || context === 'item' || context === 'basket') out.context = context;
  if (basket && basket.length) {
    const known = basket.map((b) => lookupId(served.items, b)).filter((b): b is Id => b !== undefined);
    if (known.length) {
      out.basket = known;
      out.context ??= 'basket';
    }
  }
  return out;
}

/** Visitor history items as given, plus their numeric/string twins so ids match however the model stored them. */
function expandHistory(history: (Id | { item: Id; value?: number })[]): { item: Id; value: number }[] {
  return history.flatMap((h) => {
    const item = typeof h === 'object' ? h.item : h;
    const value = typeof h === 'object' ? (h.value ?? 1) : 1;
    return (idList([item]) ?? []).map((id) => ({ item: id, value }));
  });
}

function withIdFallback<T>(raw: string, known: Id | undefined, fn: (id: Id) => T, kind: 'user' | 'item'): T {
  if (known !== undefined) return fn(known);
  try {
    return fn(raw);
  } catch (err) {
    if (!(err instanceof UnknownIdError) || raw.trim() === '' || !Number.isFinite(Number(raw))) throw hint(err, kind);
    try {
      return fn(Number(raw));
    } catch {
      throw hint(err, kind);
    }
  }
}

function hint(err: unknown, kind: 'user' | 'item'): unknown {
  if (!(err instanceof UnknownIdError)) return err;
  const what = kind === 'user' ? 'for a new visitor, POST /v1/recommendations with their recent items, or POST /v1/events first' : 'check the item id against the training data';
  return new HttpError(404, 'UNKNOWN_ID', `unknown ${kind} id ${JSON.stringify(err.id)}: ${what}`);
}

/** Fold accepted events into the live histories and drop the users' cached answers. */
function applyEvents(ctx: Ctx, events: { user: Id; item: Id; value: number }[]): void {
  for (const e of events) {
    ctx.live.add(e.user, e.item, e.value);
    if (ctx.cache) {
      ctx.cache.invalidate(userKey(e.user));
      // A URL names a user by a string: drop that form too (an unknown numeric user id posted as a number).
      if (typeof e.user === 'number') ctx.cache.invalidate(userKey(String(e.user)));
    }
  }
}

/** Swap in a loaded model: requests keep using the old one until this single assignment. */
function swapIn(ctx: Ctx, next: ServedModel): void {
  const done = ctx.served.ann?.scorer.scanStats();
  if (done) for (const key of ['scans', 'settled', 'itemsRead'] as const) ctx.scansBefore[key] += done[key];
  ctx.served = next;
  ctx.cache?.clear();
}

/** A model that cannot be loaded, as the HTTP error the reload answers with. */
function loadError(err: unknown): HttpError {
  const code = (err as { code?: string }).code;
  return new HttpError(code === 'IO_ERROR' ? 400 : 422, code ?? 'RELOAD_FAILED', `reload failed, still serving the previous model: ${(err as Error).message}`);
}

/** /metrics for `serve --workers N`: this worker's series and every other worker's, added up. */
async function serviceMetrics(ctx: Ctx, peers: PeerClient): Promise<string> {
  const own = ctx.metrics.snapshot(peers.id);
  const { answers, retired } = await peers.ask({ op: 'metrics', snapshot: own });
  const others = answers.filter((a) => a.ok).map((a) => a.value as MetricsSnapshot);
  return renderMetrics([own, ...others], true, answers.length - others.length, retired);
}

function registerWriteRoutes(app: FastifyInstance, ctx: Ctx, requireToken: (req: FastifyRequest) => Promise<void>, link: PeerLink | undefined): PeerClient | undefined {
  // Models other workers' reloads loaded here (prepare), waiting for their commit.
  const prepared = new Map<string, ServedModel>();
  const peers = link
    ? new PeerClient(link, {
        events: (events) => applyEvents(ctx, events),
        answer: async (ask: PeerAsk) => {
          switch (ask.op) {
            case 'metrics':
              return ctx.metrics.snapshot(link.id);
            case 'prepare':
              prepared.set(ask.reload, await loadServedModel(ask.path, ctx.ann));
              return null;
            case 'commit': {
              // A worker started after the prepare has nothing prepared: it loads the file now.
              const next = prepared.get(ask.reload) ?? (await loadServedModel(ask.path, ctx.ann));
              prepared.delete(ask.reload);
              swapIn(ctx, next);
              app.log.info({ path: ask.path }, 'model reloaded (requested through another worker)');
              return null;
            }
            case 'abort':
              prepared.delete(ask.reload);
              return null;
          }
        },
      })
    : undefined;

  app.post<{ Body: { events: { user: Id; item: Id; value?: number; type?: string }[] } }>(
    '/v1/events',
    { onRequest: requireToken, schema: { body: S.eventsBody, response: { 202: S.eventsResult } } },
    async (req, reply: FastifyReply) => {
      const served = ctx.served;
      const accepted: { user: Id; item: Id; value: number }[] = [];
      const unknownItems: Id[] = [];
      for (const e of req.body.events) {
        const item = served.items ? lookupId(served.items, e.item) : e.item;
        if (item === undefined) {
          if (unknownItems.length < 20) unknownItems.push(e.item);
          continue;
        }
        accepted.push({ user: lookupId(served.users, e.user) ?? e.user, item, value: e.value ?? 1 });
      }
      applyEvents(ctx, accepted);
      if (accepted.length) peers?.broadcast(accepted);
      ctx.metrics.inc('fastrec_events', 'Events accepted by POST /v1/events.', accepted.length);
      return reply.code(202).send({ accepted: accepted.length, ignored: req.body.events.length - accepted.length, unknownItems });
    },
  );

  let reloading = false;
  let reloads = 0;
  app.post<{ Body: { path?: string } | undefined }>(
    '/v1/admin/reload',
    { onRequest: requireToken, schema: { body: S.reloadBody, response: { 200: S.health } } },
    async (req) => {
      if (reloading) throw new HttpError(409, 'CONFLICT', 'a reload is already in progress; retry when it finishes');
      const path = req.body?.path ?? ctx.served.path;
      const started = performance.now();
      reloading = true;
      try {
        let workers = 1;
        if (peers) {
          // Two phases, so that either every worker swaps the model in or none does: all load it
          // (prepare; the others while this one does), then all swap (commit: one assignment each).
          const reload = `${peers.id}.${++reloads}.${Date.now()}`;
          const [mine, prep] = await Promise.allSettled([loadServedModel(path, ctx.ann), peers.ask({ op: 'prepare', reload, path })]);
          const answers = prep.status === 'fulfilled' ? prep.value : { answers: [], refused: String(prep.reason) };
          if (mine.status === 'rejected' || answers.refused || answers.answers.some((a) => !a.ok)) {
            // Drop what the others prepared; no need to wait for them (a hung worker would hold the answer).
            if (!answers.refused) void peers.ask({ op: 'abort', reload });
            if (mine.status === 'rejected') throw loadError(mine.reason);
            if (answers.refused) throw new HttpError(409, 'CONFLICT', `reload refused, still serving the previous model: ${answers.refused}; retry later`);
            throw new HttpError(502, 'RELOAD_FAILED', `reload failed, every worker still serves the previous model: ${describeFailures(answers.answers)}`);
          }
          swapIn(ctx, mine.value);
          const commit = await peers.ask({ op: 'commit', reload, path });
          if (commit.answers.some((a) => !a.ok)) {
            // Only a worker that died or hung gets here; a replacement starts from the new file.
            throw new HttpError(502, 'RELOAD_INCOMPLETE', `the new model is served by this worker and ${commit.answers.filter((a) => a.ok).length} other(s), but not confirmed by ${describeFailures(commit.answers)}`);
          }
          workers += commit.answers.length;
        } else {
          try {
            swapIn(ctx, await loadServedModel(path, ctx.ann));
          } catch (err) {
            throw loadError(err);
          }
        }
        // Counted once per reload of the service (by the worker that received it): sums over workers stay right.
        ctx.metrics.inc('fastrec_reloads', 'Successful model reloads.');
        req.log.info({ path, kind: ctx.served.info.kind, workers, ms: Math.round(performance.now() - started) }, 'model reloaded');
        return { ...health(ctx), workers };
      } finally {
        reloading = false;
      }
    },
  );
  return peers;
}

/** Start listening and close gracefully on SIGINT/SIGTERM (in-flight requests finish; idle connections close). */
export async function serve(app: FastifyInstance, port: number, host: string): Promise<string> {
  const address = await app.listen({ port, host });
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      app.log.warn('forced exit after 10 s');
      process.exit(1);
    }, 10_000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  return address;
}
