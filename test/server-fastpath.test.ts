/**
 * The plain scored form of GET /v1/users/:id/recommendations answered ahead
 * of Fastify (fastpath.ts, serve --ann): over a real socket, its answers must
 * be byte for byte what the Fastify route sends (a second service with the
 * fast path off, `logRequests: true`, is the reference), it must count in
 * /metrics like the route, and anything not plain must reach Fastify unchanged.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as http from 'node:http';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildServer } from '../lib/server/app.js';
import { parsePlainUrl, serverWithFastPath } from '../lib/server/fastpath.js';
import { Metrics } from '../lib/server/metrics.js';
import { answerById, answerByIndex, head, ItemJson } from '../lib/server/json.js';
import * as S from '../lib/server/schemas.js';
import { saveModel } from '../lib/models/registry.js';
import { buildServingIndexes } from '../lib/server/model.js';
import { Interactions } from '../lib/data/interactions.js';
import { Dataset } from '../lib/data/dataset.js';
import { IdMap } from '../lib/data/idmap.js';
import { AlsModel } from '../lib/models/als.js';

const TOKEN = 'test-token-0123456789abcdef';
let dir: string;
let path: string;
let otherPath: string;
let fast: FastifyInstance; // fast path on (serve --ann)
let ref: FastifyInstance; // fast path off: every request through Fastify
let fastBase: string;
let refBase: string;
let fastifySaw = 0; // requests that reached Fastify in `fast`
// User 7 is the number 7 (asked as '7'); the others are strings.
const users = Array.from({ length: 60 }, (_, u) => (u === 7 ? '7' : `u${u}`));

async function alsFile(file: string, seed: number): Promise<void> {
  const log = new Interactions();
  // 60 users x 80 items (ids i0..i78 and the number 79), two planted groups; numeric user id 7.
  const item = (x: number): string | number => (x === 79 ? 79 : `i${x}`);
  for (let u = 0; u < 60; u++) for (let j = 0; j < 6; j++) log.add(u === 7 ? 7 : `u${u}`, item((u < 30 ? 0 : 40) + ((u * 5 + j * 7 + seed) % 40)));
  const als = await new AlsModel({ factors: 8, iterations: 4 }).fit(await Dataset.build(log), { seed, threads: 1 });
  // With its serving indexes stored: two services map the same graphs (each building its own could differ on
  // near-ties), so the fast path's similar items can be compared byte for byte with the reference's.
  await saveModel(als, file, { indexes: await buildServingIndexes(als) });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(join(os.tmpdir(), 'fastrec-server-fastpath-'));
  path = join(dir, 'als.fastrec');
  otherPath = join(dir, 'als2.fastrec');
  await alsFile(path, 1);
  await alsFile(otherPath, 2);
  fast = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: { ef: 100 }, maxK: 50 });
  fast.addHook('onRequest', (_req, _reply, done) => {
    fastifySaw++;
    done();
  });
  ref = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: { ef: 100 }, maxK: 50, logRequests: true });
  fastBase = await fast.listen({ port: 0, host: '127.0.0.1' });
  refBase = await ref.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await fast?.close();
  await ref?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** GET `url` exactly as written (fetch would normalize some of the URLs tried here). */
function get(base: string, url: string, method = 'GET'): Promise<{ status: number; type: string | undefined; length: string | undefined; bytes: Buffer }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: url, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], length: res.headers['content-length'], bytes: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const metric = async (base: string, line: string): Promise<number> => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.split(' ').pop()) : 0;
};
const ROUTE = 'method="GET",route="/v1/users/:id/recommendations"';

describe('the fast path of GET /v1/users/:id/recommendations (serve --ann)', () => {
  it('answers plain requests with the bytes the Fastify route sends, without reaching Fastify', async () => {
    const before = fastifySaw;
    let n = 0;
    for (const u of users) {
      for (const q of ['', '?k=1', '?k=3', '?k=10', '?k=17', '?k=50']) {
        const a = await get(fastBase, `/v1/users/${u}/recommendations${q}`);
        const b = await get(refBase, `/v1/users/${u}/recommendations${q}`);
        expect(a.status, u + q).toBe(200);
        expect(a.bytes.equals(b.bytes), `${u}${q}: ${a.bytes} vs ${b.bytes}`).toBe(true);
        expect([a.type, a.length]).toEqual([b.type, b.length]);
        n++;
      }
    }
    expect(fastifySaw - before).toBe(0);
    // Counted like the route: one 200 per request, in the counter and the histogram.
    expect(await metric(fastBase, `fastrec_http_requests_total{${ROUTE},status="200"}`)).toBe(n);
    expect(await metric(fastBase, `fastrec_http_request_duration_seconds_count{${ROUTE}}`)).toBe(n);
    // The answer is the model's: k items, no seen item, scores best first.
    const body = JSON.parse((await get(fastBase, '/v1/users/u3/recommendations?k=5')).bytes.toString()) as { user: string; model: string; items: { item: string; score: number }[] };
    expect(body.user).toBe('u3');
    expect(body.model).toBe('als');
    expect(body.items).toHaveLength(5);
    for (let r = 1; r < 5; r++) expect(body.items[r]!.score).toBeLessThanOrEqual(body.items[r - 1]!.score);
  });

  it('leaves everything else to Fastify, which answers as it always does', async () => {
    const cases = [
      '/v1/users/nobody/recommendations', // unknown user: 404 with its message
      '/v1/users/nobody/recommendations?k=5',
      '/v1/users/u1/recommendations?k=0', // out of range: 400
      '/v1/users/u1/recommendations?k=51', // above maxK
      '/v1/users/u1/recommendations?k=1000000',
      '/v1/users/u1/recommendations?k=abc',
      '/v1/users/u1/recommendations?k=',
      '/v1/users/u1/recommendations?k=05', // leading zero: the schema's to judge (200)
      '/v1/users/u1/recommendations?k=5&k=6',
      '/v1/users/u1/recommendations?k=5&filterSeen=false', // another parameter
      '/v1/users/u1/recommendations?k=5&exclude=i1,i2',
      '/v1/users/u1/recommendations?bogus=1', // unknown parameter: 400
      '/v1/users/u1/recommendations?',
      '/v1/users/%75%31/recommendations?k=4', // encoded id: decoded by Fastify
      '/v1/users/u1/recommendations/', // trailing slash: no such route
      '/v1/users/u1/Recommendations',
      '/v1/users//recommendations',
      `/v1/users/${'x'.repeat(65)}/recommendations`,
      `/v1/users/${'x'.repeat(101)}/recommendations`,
      '/v1/users/u1+/recommendations',
    ];
    for (const url of cases) {
      const before = fastifySaw;
      const a = await get(fastBase, url);
      const b = await get(refBase, url);
      // Past Fastify's parameter length its router answers before any hook runs.
      if (!url.includes('x'.repeat(101))) expect(fastifySaw - before, url).toBe(1);
      expect(a.status, url).toBe(b.status);
      expect(a.bytes.toString(), url).toBe(b.bytes.toString());
    }
    expect((await get(fastBase, '/v1/users/nobody/recommendations')).status).toBe(404);
    expect(JSON.parse((await get(fastBase, '/v1/users/nobody/recommendations')).bytes.toString()).error).toBe('UNKNOWN_ID');
    expect((await get(fastBase, '/v1/users/u1/recommendations?k=0')).status).toBe(400);
    // HEAD goes through Fastify (headers, no body).
    const before = fastifySaw;
    const h = await get(fastBase, '/v1/users/u1/recommendations?k=3', 'HEAD');
    expect([h.status, h.bytes.length, fastifySaw - before]).toEqual([200, 0, 1]);
  });

  it('answers plain similar-items requests with the bytes of the Fastify route, and leaves the rest to it', async () => {
    const before = fastifySaw;
    const items = [...Array.from({ length: 79 }, (_, i) => `i${i}`), '79'];
    let n = 0;
    for (const i of items) {
      for (const q of ['', '?k=1', '?k=5', '?k=50']) {
        const a = await get(fastBase, `/v1/items/${i}/similar${q}`);
        const b = await get(refBase, `/v1/items/${i}/similar${q}`);
        expect(a.status, i + q).toBe(200);
        expect(a.bytes.equals(b.bytes), `${i}${q}: ${a.bytes} vs ${b.bytes}`).toBe(true);
        expect([a.type, a.length]).toEqual([b.type, b.length]);
        n++;
      }
    }
    expect(fastifySaw - before).toBe(0);
    const SIM = 'method="GET",route="/v1/items/:id/similar"';
    expect(await metric(fastBase, `fastrec_http_requests_total{${SIM},status="200"}`)).toBe(n);
    const body = JSON.parse((await get(fastBase, '/v1/items/i3/similar?k=4')).bytes.toString()) as { item: string; items: { item: string }[] };
    expect(body.item).toBe('i3');
    expect(body.items).toHaveLength(4);
    for (const url of ['/v1/items/nope/similar', '/v1/items/i1/similar?k=0', '/v1/items/i1/similar?k=51', '/v1/items/i1/similar?k=abc', '/v1/items/i1/similar?k=3&x=1', '/v1/items/%69%31/similar', '/v1/items/i1/similar/', '/v1/items/i1/Similar']) {
      const was = fastifySaw;
      const a = await get(fastBase, url);
      const b = await get(refBase, url);
      expect(fastifySaw - was, url).toBe(1);
      expect(a.status, url).toBe(b.status);
      expect(a.bytes.toString(), url).toBe(b.bytes.toString());
    }
    expect((await get(fastBase, '/v1/items/nope/similar')).status).toBe(404);
  });

  it('answers many requests in flight at once (scored together, one event-loop turn at a time) with the same bytes', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const getWith = (base: string, url: string): Promise<string> => {
      const { hostname, port } = new URL(base);
      return new Promise((resolve, reject) => {
        http
          .get({ host: hostname, port, path: url, agent }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve(`${res.statusCode} ${text}`));
          })
          .on('error', reject);
      });
    };
    const urls = Array.from({ length: 120 }, (_, i) => (i % 10 === 9 ? `/v1/users/nobody${i}/recommendations` : `/v1/users/${users[(i * 7) % users.length]}/recommendations?k=${1 + (i % 12)}`));
    const before = await metric(fastBase, `fastrec_http_requests_total{${ROUTE},status="200"}`);
    const got = await Promise.all(urls.map((u) => getWith(fastBase, u)));
    agent.destroy();
    for (let i = 0; i < urls.length; i++) {
      const want = await get(refBase, urls[i]!);
      expect(got[i], urls[i]).toBe(`${want.status} ${want.bytes.toString()}`);
    }
    expect(await metric(fastBase, `fastrec_http_requests_total{${ROUTE},status="200"}`)).toBe(before + 108);
  });

  it("sends users with live events to the route (fold-in), and serves a reloaded model at once", async () => {
    const app = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: { ef: 100 } });
    const refApp = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: { ef: 100 }, logRequests: true });
    let saw = 0;
    app.addHook('onRequest', (_req, _reply, done) => {
      saw++;
      done();
    });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const refB = await refApp.listen({ port: 0, host: '127.0.0.1' });
    try {
      const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      const events = JSON.stringify({ events: [{ user: 'u2', item: 'i50', value: 3 }] });
      for (const b of [base, refB]) expect((await fetch(`${b}/v1/events`, { method: 'POST', headers: auth, body: events })).status).toBe(202);
      saw = 0;
      const a = await get(base, '/v1/users/u2/recommendations?k=5');
      const r = await get(refB, '/v1/users/u2/recommendations?k=5');
      expect(saw).toBe(1);
      expect(a.bytes.toString()).toBe(r.bytes.toString());
      expect(JSON.parse(a.bytes.toString()).items.map((x: { item: string }) => x.item)).not.toContain('i50');
      // Other users still take the fast path.
      saw = 0;
      expect((await get(base, '/v1/users/u3/recommendations?k=5')).status).toBe(200);
      expect(saw).toBe(0);

      const reload = JSON.stringify({ path: otherPath });
      for (const b of [base, refB]) expect((await fetch(`${b}/v1/admin/reload`, { method: 'POST', headers: auth, body: reload })).status).toBe(200);
      for (const u of ['u3', 'u40']) {
        const x = await get(base, `/v1/users/${u}/recommendations?k=6`);
        const y = await get(refB, `/v1/users/${u}/recommendations?k=6`);
        expect(x.bytes.toString()).toBe(y.bytes.toString());
      }
    } finally {
      await app.close();
      await refApp.close();
    }
  });

  it('with the cache on, scores a plain miss once (a miss), then answers the same bytes (a hit)', async () => {
    const app = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: { ef: 100 }, cacheUsers: 10 });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const first = await get(base, '/v1/users/u9/recommendations?k=4');
      const second = await get(base, '/v1/users/u9/recommendations?k=4');
      expect(second.bytes.equals(first.bytes)).toBe(true);
      expect(first.bytes.toString()).toBe((await get(refBase, '/v1/users/u9/recommendations?k=4')).bytes.toString());
      expect(await metric(base, 'fastrec_cache_misses_total')).toBe(1);
      expect(await metric(base, 'fastrec_cache_hits_total')).toBe(1);
      expect(await metric(base, `fastrec_http_requests_total{${ROUTE},status="200"}`)).toBe(2);
    } finally {
      await app.close();
    }
  });
});

describe('stored indexes searched in place (default) or copied onto huge pages (--ann-copy)', () => {
  it('answers the same either way', async () => {
    const { loadModel } = await import('../lib/models/registry.js');
    const { buildServingIndexes } = await import('../lib/server/model.js');
    const model = await loadModel(path);
    const stored = join(dir, 'stored.fastrec');
    await saveModel(model, stored, { indexes: await buildServingIndexes(model, { ef: 100 }) });
    const copied = await buildServer({ modelPath: stored, logger: false, ann: { ef: 100, copy: true } });
    const inPlace = await buildServer({ modelPath: stored, logger: false, ann: { ef: 100 } });
    try {
      expect((await copied.inject({ url: '/healthz' })).json().model.index).toBe('stored');
      for (const u of users.slice(0, 20)) {
        for (const url of [`/v1/users/${u}/recommendations?k=8`, `/v1/items/i${u.length * 7}/similar?k=5`]) {
          const a = await copied.inject({ url });
          expect(a.statusCode).toBe(200);
          expect(a.body, url).toBe((await inPlace.inject({ url })).body);
        }
      }
    } finally {
      await copied.close();
      await inPlace.close();
    }
  });
});

describe("users' factor rows read by index (one id lookup per request)", () => {
  it('are the vectors the model gives by id, and score the same', async () => {
    const { loadServedModel, annTopK } = await import('../lib/server/model.js');
    const served = await loadServedModel(path, { ef: 100 });
    expect(served.ann!.userRows).toBeDefined();
    const byId = { ...served, ann: { ...served.ann!, userRows: undefined } };
    for (const u of users) {
      const id = u === '7' ? 7 : u;
      const row = served.users!.index(id)!;
      expect(Array.from(served.ann!.userRows!.rows.subarray(row * 8, row * 8 + 8))).toEqual(Array.from(served.ann!.userVector(id)));
      const a = annTopK(served, { user: id, row }, 10, true, undefined, undefined);
      const b = annTopK(byId, { user: id }, 10, true, undefined, undefined);
      expect([Array.from(a.indices), Array.from(a.scores)]).toEqual([Array.from(b.indices), Array.from(b.scores)]);
    }
  });
});

describe('a batch of plain requests (the socket front, PlainRoutesFront)', () => {
  it('answers each request of a turn: scored ones here, the rest (and any that fail) by Node and Fastify', async () => {
    const metrics = new Metrics();
    const fp = {
      metrics,
      maxK: 50,
      closing: () => false,
      routes: [
        {
          prefix: '/v1/users/',
          suffix: '/recommendations',
          route: '/v1/users/:id/recommendations',
          answer: (id: string, k: number | undefined) => {
            if (id === 'boom') throw new Error('scoring failed');
            return id === 'none' ? undefined : JSON.stringify({ user: id, k: k ?? null });
          },
        },
        { prefix: '/v1/items/', suffix: '/similar', route: '/v1/items/:id/similar', answer: (id: string) => JSON.stringify({ item: id }) },
      ],
    };
    const fastify: http.RequestListener = (req, res) => {
      res.writeHead(299, { 'content-type': 'text/plain' });
      res.end(`fastify ${req.url}`);
    };
    const server = serverWithFastPath(fp)(fastify, {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const urls = ['/v1/users/a/recommendations', '/v1/users/boom/recommendations', '/v1/items/x/similar?k=2', '/v1/users/b/recommendations?k=3', '/v1/users/none/recommendations', '/v1/users/c/recommendations?k=0', '/v1/items/x/recommendations', '/healthz'];
      const got = await Promise.all(urls.map((u) => get(base, u)));
      expect(got.map((g) => `${g.status} ${g.bytes}`)).toEqual([
        '200 {"user":"a","k":null}',
        '299 fastify /v1/users/boom/recommendations',
        '200 {"item":"x"}',
        '200 {"user":"b","k":3}',
        '299 fastify /v1/users/none/recommendations',
        '299 fastify /v1/users/c/recommendations?k=0',
        '299 fastify /v1/items/x/recommendations',
        '299 fastify /healthz',
      ]);
      expect(got[0]!.type).toBe('application/json; charset=utf-8');
      expect(metrics.render()).toMatch(/fastrec_http_requests_total\{method="GET",route="\/v1\/users\/:id\/recommendations",status="200"\} 2/);
      expect(metrics.render()).toMatch(/fastrec_http_requests_total\{method="GET",route="\/v1\/items\/:id\/similar",status="200"\} 1/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('plain URLs (parsePlainUrl)', () => {
  const P = '/v1/users/';
  const R = '/recommendations';
  it('accepts an id of letters, digits, _ - . and at most ?k=<1..maxK>', () => {
    expect(parsePlainUrl('/v1/users/u1/recommendations', P, R, 100)).toEqual({ id: 'u1', k: undefined });
    expect(parsePlainUrl('/v1/users/A_b-9.x/recommendations?k=100', P, R, 100)).toEqual({ id: 'A_b-9.x', k: 100 });
    expect(parsePlainUrl('/v1/users/42/recommendations?k=7', P, R, 100)).toEqual({ id: '42', k: 7 });
    expect(parsePlainUrl('/v1/items/i9/similar?k=3', '/v1/items/', '/similar', 100)).toEqual({ id: 'i9', k: 3 });
    expect(parsePlainUrl('/v1/items/i9/similars', '/v1/items/', '/similar', 100)).toBeUndefined();
  });
  it('rejects everything else', () => {
    for (const url of [
      '/v1/users/u1/recommendations?k=101',
      '/v1/users/u1/recommendations?k=0',
      '/v1/users/u1/recommendations?k=07',
      '/v1/users/u1/recommendations?k=1234567',
      '/v1/users/u1/recommendations?k=1x',
      '/v1/users/u1/recommendations?k=',
      '/v1/users/u1/recommendations?',
      '/v1/users/u1/recommendations?K=1',
      '/v1/users/u1/recommendations?k=1&k=2',
      '/v1/users/u1/recommendationsx',
      '/v1/users/u1/recommendations/',
      '/v1/users/u%31/recommendations',
      '/v1/users/u 1/recommendations',
      '/v1/users/u"1/recommendations',
      '/v1/users//recommendations',
      '/v1/users/u1',
      '/v1/items/u1/recommendations',
      `/v1/users/${'a'.repeat(65)}/recommendations`,
    ]) {
      expect(parsePlainUrl(url, P, R, 100), url).toBeUndefined();
    }
  });
});

describe('recommendation JSON (json.ts)', () => {
  const ids = ['plain', 'quote"d', 'back\\slash', 'new\nline', 'tab\t', 'ctl\u0001', 'ünï', '😀', 'lone\ud800', 12, -3.5, 0];
  const scores = Float32Array.from([0.1, -0.25, 1e-7, 123456.789, 3.4e38, -0, 0.3333333, 2, 1e21, 5e-324, 7, 8]);
  it('writes exactly JSON.stringify of the answer object, by id and by index', () => {
    const map = IdMap.from(ids);
    const json = new ItemJson(map);
    const order = Int32Array.from([3, 0, 11, 7, 8, 1, 2, 4, 5, 6, 9, 10]);
    const want = (user: string | undefined, context?: string) =>
      JSON.stringify({ ...(user !== undefined ? { user } : {}), model: 'als', ...(context ? { context } : {}), items: Array.from(order, (i, r) => ({ item: ids[i], score: scores[r] })) });
    for (const [user, context] of [['u1', undefined], ['we"ird\\', 'home'], [undefined, undefined]] as const) {
      const h = head({ ...(user !== undefined ? { user } : {}), model: 'als', context });
      expect(answerByIndex(h, json, order, scores)).toBe(want(user, context));
      expect(answerById(h, Array.from(order, (i) => ids[i]!), scores)).toBe(want(user, context));
    }
    // Non-finite scores are null, as JSON.stringify writes them.
    expect(answerById(head({ model: 'm' }), ['a', 'b'], [NaN, -Infinity])).toBe('{"model":"m","items":[{"item":"a","score":null},{"item":"b","score":null}]}');
  });

  it("matches the bytes of Fastify's schema serializer for the route's response schema", async () => {
    const app = Fastify();
    const printable = ids.filter((i) => typeof i === 'number' || !/[\ud800-\udfff]/.test(i));
    const items = printable.map((item, r) => ({ item, score: scores[r]! }));
    app.get('/x', { schema: { response: { 200: S.recommendations } } }, async () => ({ user: 'u"1', model: 'als', context: 'basket', items }));
    const res = await app.inject({ url: '/x' });
    expect(res.body).toBe(answerById(head({ user: 'u"1', model: 'als', context: 'basket' }), printable, items.map((i) => i.score)));
    await app.close();
  });
});
