import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../lib/server/app.js';
import { PeerRouter, type PeerLink, type PeerMessage } from '../lib/server/cluster.js';
import { Metrics, renderMetrics } from '../lib/server/metrics.js';
import { saveModel } from '../lib/models/registry.js';
import { InvalidArgumentError } from '../lib/errors.js';
import { TinyModel, saveServedTinyModels } from './fixtures/tiny-model.js';

const TOKEN = 'test-token-0123456789abcdef';
let dir: string;
let model: TinyModel;
let other: TinyModel;
let app: FastifyInstance; // with a token
let open: FastifyInstance; // without a token
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  dir = fs.mkdtempSync(join(os.tmpdir(), 'fastrec-server-'));
  ({ model, other } = await saveServedTinyModels(dir));
  fs.writeFileSync(join(dir, 'corrupt.fastrec'), fs.readFileSync(join(dir, 'a.fastrec')).subarray(0, 100));
  app = await buildServer({ modelPath: join(dir, 'a.fastrec'), token: TOKEN, logger: false, maxK: 50, bodyLimit: 4096 });
  open = await buildServer({ modelPath: join(dir, 'a.fastrec'), logger: false });
});
afterAll(async () => {
  await app?.close();
  await open?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const itemsOf = (res: { json: () => { items: { item: unknown }[] } }): unknown[] => res.json().items.map((x) => x.item);

describe('GET /v1/users/:id/recommendations', () => {
  it('returns the model top-k with filters', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/users/u1/recommendations?k=7' });
    expect(res.statusCode).toBe(200);
    const want = model.recommend('u1', { k: 7 });
    expect(itemsOf(res)).toEqual(want.items);
    expect(res.json().items[0].score).toBeCloseTo(want.scores[0]!, 5);
    expect(res.json().user).toBe('u1');
    // Seen items are filtered unless filterSeen=false.
    expect(itemsOf(res)).not.toContain('i0');
    const all = await app.inject({ url: '/v1/users/u1/recommendations?k=40&filterSeen=false' });
    expect(all.json().items).toHaveLength(40);
    const ex = await app.inject({ url: `/v1/users/u1/recommendations?k=5&exclude=${want.items[0]},${want.items[1]}` });
    expect(itemsOf(ex)).toEqual(model.recommend('u1', { k: 5, exclude: want.items.slice(0, 2) }).items);
    const inc = await app.inject({ url: '/v1/users/u1/recommendations?k=5&include=i10,i11,i12&context=home' });
    expect(itemsOf(inc).sort()).toEqual(['i10', 'i11', 'i12']);
    expect(inc.json().context).toBe('home');
  });

  it('finds numeric user ids given as strings in the URL', async () => {
    const res = await app.inject({ url: '/v1/users/5/recommendations?k=3' });
    expect(res.statusCode).toBe(200);
    expect(itemsOf(res)).toEqual(model.recommend(5, { k: 3 }).items);
  });

  it('404s an unknown user with a message that says what to do', async () => {
    const res = await app.inject({ url: '/v1/users/nobody/recommendations' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'UNKNOWN_ID' });
    expect(res.json().message).toMatch(/unknown user id "nobody".*POST \/v1\/recommendations/);
  });

  it('400s bad k and unknown parameters, never 500', async () => {
    for (const q of ['k=0', 'k=51', 'k=abc', 'k=2.5', 'kk=3', 'filterSeen=maybe', 'context=%3Cscript%3E']) {
      const res = await app.inject({ url: `/v1/users/u1/recommendations?${q}` });
      expect(res.statusCode, q).toBe(400);
      expect(res.json().message, q).toBeTruthy();
    }
  });
});

describe('POST /v1/recommendations (anonymous visitor)', () => {
  it('folds in recent items and never returns basket items', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/recommendations', payload: { items: ['i3', { item: 'i7', value: 2 }], k: 5 } });
    expect(res.statusCode).toBe(200);
    expect(itemsOf(res)).toEqual(model.recommendForHistory(['i3', { item: 'i7', value: 2 }], { k: 5 }).items);
    const first = itemsOf(res)[0] as string;
    const b = await app.inject({ method: 'POST', url: '/v1/recommendations', payload: { items: ['i3'], basket: [first], k: 10 } });
    expect(b.statusCode).toBe(200);
    expect(itemsOf(b)).not.toContain(first);
    const unknown = await app.inject({ method: 'POST', url: '/v1/recommendations', payload: { items: ['zzz'], k: 3 } });
    expect(unknown.statusCode).toBe(200);
  });

  it('400s malformed bodies, 413s oversized ones, 415s other content types', async () => {
    const bad = [{ items: 'i3' }, { items: [{ value: 1 }] }, { items: ['i1'], k: 0 }, { items: ['i1'], extra: 1 }, { items: [{ item: 'i1', value: -1 }] }, { items: [[]] }];
    for (const payload of bad) {
      const res = await app.inject({ method: 'POST', url: '/v1/recommendations', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const json = await app.inject({ method: 'POST', url: '/v1/recommendations', headers: { 'content-type': 'application/json' }, payload: '{"items": [' });
    expect(json.statusCode).toBe(400);
    const big = await app.inject({ method: 'POST', url: '/v1/recommendations', payload: { items: Array.from({ length: 900 }, (_, i) => `item-${i}`) } });
    expect(big.statusCode).toBe(413);
    const text = await app.inject({ method: 'POST', url: '/v1/recommendations', headers: { 'content-type': 'text/plain' }, payload: 'i1,i2' });
    expect(text.statusCode).toBe(400); // parsed as a string, which is not the object the schema wants
    const xml = await app.inject({ method: 'POST', url: '/v1/recommendations', headers: { 'content-type': 'application/xml' }, payload: '<items/>' });
    expect(xml.statusCode).toBe(415);
  });
});

describe('GET /v1/items/:id/similar', () => {
  it('returns similar items, 404 for unknown items, 400 for bad k', async () => {
    const res = await app.inject({ url: '/v1/items/i2/similar?k=4' });
    expect(res.statusCode).toBe(200);
    expect(itemsOf(res)).toEqual(model.similarItems('i2', 4).items);
    expect(itemsOf(res)).not.toContain('i2');
    const missing = await app.inject({ url: '/v1/items/nope/similar' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toMatch(/unknown item id "nope"/);
    expect((await app.inject({ url: '/v1/items/i2/similar?k=-1' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/v1/nothing' })).statusCode).toBe(404);
  });
});

describe('POST /v1/events', () => {
  it('is disabled without a configured token and needs the right bearer token', async () => {
    const payload = { events: [{ user: 'u2', item: 'i9' }] };
    const off = await open.inject({ method: 'POST', url: '/v1/events', payload, headers: auth });
    expect(off.statusCode).toBe(403);
    expect(off.json().message).toMatch(/--token or FASTREC_TOKEN/);
    expect((await app.inject({ method: 'POST', url: '/v1/events', payload })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/events', payload, headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/v1/events', payload, headers: { authorization: TOKEN } })).statusCode).toBe(401);
    // Authentication comes before parsing: a bad body from an unauthenticated client is still a 401.
    expect((await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: '{not json' })).statusCode).toBe(401);
  });

  it('folds events into the user recommendations, for known and new users', async () => {
    const before = itemsOf(await app.inject({ url: '/v1/users/u1/recommendations?k=5' }));
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: auth,
      payload: { events: [{ user: 'u1', item: 'i20', value: 3 }, { user: 'u1', item: 'i21' }, { user: 'new-visitor', item: 'i8' }, { user: 'u1', item: 'unknown-item' }] },
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 3, ignored: 1, unknownItems: ['unknown-item'] });
    const after = await app.inject({ url: '/v1/users/u1/recommendations?k=5' });
    expect(after.statusCode).toBe(200);
    // Training history (i0..i4, weight 1) plus the events, folded in; history items are not recommended.
    const history = [0, 1, 2, 3, 4].map((i) => ({ item: `i${i}`, value: 1 })).concat([{ item: 'i20', value: 3 }, { item: 'i21', value: 1 }]);
    expect(itemsOf(after)).toEqual(model.recommendForHistory(history, { k: 5 }).items);
    expect(itemsOf(after)).not.toEqual(before);
    expect(itemsOf(after)).not.toContain('i20');
    const fresh = await app.inject({ url: '/v1/users/new-visitor/recommendations?k=3' });
    expect(fresh.statusCode).toBe(200);
    expect(itemsOf(fresh)).toEqual(model.recommendForHistory(['i8'], { k: 3 }).items);
  });

  it('400s malformed events', async () => {
    const bad = [{}, { events: [] }, { events: [{ user: 'u1' }] }, { events: [{ user: 'u1', item: 'i1', value: -2 }] }, { events: 'x' }];
    for (const payload of bad) {
      const res = await app.inject({ method: 'POST', url: '/v1/events', headers: auth, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
  });
});

describe('health and metrics', () => {
  it('reports the model on /healthz and Prometheus series on /metrics', async () => {
    const h = await app.inject({ url: '/healthz' });
    expect(h.statusCode).toBe(200);
    expect(h.json()).toMatchObject({ status: 'ok', model: { kind: 'tiny', users: 6, items: 40 } });
    const m = await app.inject({ url: '/metrics' });
    expect(m.statusCode).toBe(200);
    expect(m.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/);
    const text = m.body;
    expect(text).toMatch(/# TYPE fastrec_http_requests_total counter/);
    expect(text).toMatch(/fastrec_http_requests_total\{method="GET",route="\/v1\/users\/:id\/recommendations",status="200"\} \d+/);
    expect(text).toMatch(/fastrec_http_request_duration_seconds_bucket\{method="GET",route="\/v1\/users\/:id\/recommendations",le="\+Inf"\} \d+/);
    expect(text).toMatch(/fastrec_model_items 40/);
    expect(text).toMatch(/fastrec_events_total 3/);
  });
});

describe('POST /v1/admin/reload', () => {
  it('needs the token and keeps the old model when the new file is bad', async () => {
    expect((await app.inject({ method: 'POST', url: '/v1/admin/reload' })).statusCode).toBe(401);
    expect((await open.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth })).statusCode).toBe(403);
    const bad = await app.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: join(dir, 'corrupt.fastrec') } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().message).toMatch(/still serving the previous model.*truncated/);
    const missing = await app.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: join(dir, 'missing.fastrec') } });
    expect(missing.statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: 7 } })).statusCode).toBe(400);
    // No body: reload the file the service was started with.
    const same = await app.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth });
    expect(same.statusCode).toBe(200);
    expect(same.json().model.path).toBe(join(dir, 'a.fastrec'));
    const still = await app.inject({ url: '/v1/users/u2/recommendations?k=5' });
    expect(itemsOf(still)).toEqual(model.recommend('u2', { k: 5 }).items);
  });

  it('swaps models under concurrent load without a failed request', async () => {
    const server = await buildServer({ modelPath: join(dir, 'a.fastrec'), token: TOKEN, logger: false });
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    const wantA = model.recommend('u2', { k: 5 }).items;
    const wantB = other.recommend('u2', { k: 5 }).items;
    expect(wantA).not.toEqual(wantB);
    let stop = false;
    const seen = { a: 0, b: 0, failed: 0 };
    const client = async (): Promise<void> => {
      while (!stop) {
        const r = await fetch(`${address}/v1/users/u2/recommendations?k=5`);
        const items = r.ok ? ((await r.json()) as { items: { item: string }[] }).items.map((x) => x.item) : [];
        if (JSON.stringify(items) === JSON.stringify(wantA)) seen.a++;
        else if (JSON.stringify(items) === JSON.stringify(wantB)) seen.b++;
        else seen.failed++;
      }
    };
    const clients = Array.from({ length: 8 }, client);
    for (let n = 0; n < 6; n++) {
      await new Promise((r) => setTimeout(r, 40));
      const r = await fetch(`${address}/v1/admin/reload`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ path: join(dir, n % 2 === 0 ? 'b.fastrec' : 'a.fastrec') }),
      });
      expect(r.status).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 40));
    stop = true;
    await Promise.all(clients);
    await server.close();
    expect(seen.failed).toBe(0);
    expect(seen.a).toBeGreaterThan(0);
    expect(seen.b).toBeGreaterThan(0);
  });
});

describe('serving through the HNSW index (--ann)', () => {
  it('gives the exact answers on a small catalog, for users, visitors and live events', async () => {
    const { Interactions } = await import('../lib/data/interactions.js');
    const { Dataset } = await import('../lib/data/dataset.js');
    const { AlsModel } = await import('../lib/models/als.js');
    const log = new Interactions();
    for (let u = 0; u < 40; u++) for (let j = 0; j < 5; j++) log.add(`u${u}`, `i${(u < 20 ? 0 : 25) + ((u * 3 + j * 7) % 25)}`);
    const als = await new AlsModel({ factors: 8, iterations: 4 }).fit(await Dataset.build(log), { seed: 1, threads: 1 });
    const path = join(dir, 'als.fastrec');
    await saveModel(als, path);
    const annApp = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: { ef: 100 } });
    try {
      expect((await annApp.inject({ url: '/healthz' })).json().model.scoring).toBe('hnsw');
      for (const u of ['u1', 'u30']) {
        const res = await annApp.inject({ url: `/v1/users/${u}/recommendations?k=5` });
        expect(res.statusCode).toBe(200);
        expect(itemsOf(res), u).toEqual(als.recommend(u, { k: 5 }).items);
      }
      const ex = await annApp.inject({ url: `/v1/users/u1/recommendations?k=5&exclude=${als.recommend('u1', { k: 1 }).items[0]}` });
      expect(itemsOf(ex)).toEqual(als.recommend('u1', { k: 5, exclude: als.recommend('u1', { k: 1 }).items }).items);
      const v = await annApp.inject({ method: 'POST', url: '/v1/recommendations', payload: { items: ['i3', 'i4'], k: 5 } });
      expect(itemsOf(v)).toEqual(als.recommendForHistory(['i3', 'i4'], { k: 5 }).items);
      const ev = await annApp.inject({ method: 'POST', url: '/v1/events', headers: auth, payload: { events: [{ user: 'fresh', item: 'i30' }] } });
      expect(ev.statusCode).toBe(202);
      const fresh = await annApp.inject({ url: '/v1/users/fresh/recommendations?k=4' });
      expect(itemsOf(fresh)).toEqual(als.recommendForHistory([{ item: 'i30', value: 1 }], { k: 4 }).items);
      expect((await annApp.inject({ url: '/v1/users/nobody/recommendations' })).statusCode).toBe(404);
      // Similar items come from the cosine index; on a catalog this small they are the exact ones.
      for (const i of ['i3', 'i30']) {
        const res = await annApp.inject({ url: `/v1/items/${i}/similar?k=5` });
        const want = als.similarItems(i, 5);
        expect(itemsOf(res), i).toEqual(want.items);
        res.json().items.forEach((x: { score: number }, r: number) => expect(x.score).toBeCloseTo(want.scores[r]!, 5));
      }
      expect((await annApp.inject({ url: '/v1/items/nope/similar' })).statusCode).toBe(404);
    } finally {
      await annApp.close();
    }
    // A model without factors cannot be served through the index.
    await expect(buildServer({ modelPath: join(dir, 'a.fastrec'), logger: false, ann: {} })).rejects.toThrow(/--ann needs a factor model/);
  });
});

describe('the exact norm scan in /metrics (--ann)', () => {
  it('counts the queries it was tried for and answered, and keeps counting across a reload', async () => {
    const { Interactions } = await import('../lib/data/interactions.js');
    const { Dataset } = await import('../lib/data/dataset.js');
    const { AlsModel } = await import('../lib/models/als.js');
    const log = new Interactions();
    for (let u = 0; u < 30; u++) for (let j = 0; j < 4; j++) log.add(`u${u}`, `i${(u * 5 + j * 3) % 40}`);
    const als = await new AlsModel({ factors: 6, iterations: 3 }).fit(await Dataset.build(log), { seed: 2, threads: 1 });
    const path = join(dir, 'als-scan.fastrec');
    await saveModel(als, path);
    const server = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: {} });
    const metric = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await server.inject({ url: '/metrics' })).body)?.[1]);
    try {
      expect(await metric('fastrec_norm_scans_total')).toBe(0);
      for (const u of ['u1', 'u2', 'u3']) expect((await server.inject({ url: `/v1/users/${u}/recommendations?k=5` })).statusCode).toBe(200);
      expect((await server.inject({ method: 'POST', url: '/v1/recommendations', payload: { items: ['i3'], k: 4 } })).statusCode).toBe(200);
      // An include list goes straight to the graph: not a scan.
      expect((await server.inject({ url: '/v1/users/u4/recommendations?k=3&include=i1,i2,i5' })).statusCode).toBe(200);
      expect(await metric('fastrec_norm_scans_total')).toBe(4);
      // 40 items: the head is the whole catalog, so every scan ends with the exact answer.
      expect(await metric('fastrec_norm_scans_settled_total')).toBe(4);
      const read = await metric('fastrec_norm_scan_items_read_total');
      expect(read).toBeGreaterThan(0);
      expect(read).toBeLessThanOrEqual(4 * 40);
      expect((await server.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth })).statusCode).toBe(200);
      expect(await metric('fastrec_norm_scans_total')).toBe(4);
      expect((await server.inject({ url: '/v1/users/u5/recommendations?k=5' })).statusCode).toBe(200);
      expect(await metric('fastrec_norm_scans_total')).toBe(5);
      expect(await metric('fastrec_norm_scans_settled_total')).toBe(5);
    } finally {
      await server.close();
    }
  });
});

describe('similar items through the index (--ann) against exact cosine', () => {
  it('finds most of the exact top-10 and scores what it returns exactly', async () => {
    const { Interactions } = await import('../lib/data/interactions.js');
    const { Dataset } = await import('../lib/data/dataset.js');
    const { AlsModel } = await import('../lib/models/als.js');
    const { seededRandom } = await import('../lib/random.js');
    const rand = seededRandom(3);
    // 3,000 items in 30 taste groups; each user buys 12 items, mostly from one group.
    const log = new Interactions();
    for (let u = 0; u < 3000; u++) {
      const g = u % 30;
      for (let j = 0; j < 12; j++) log.add(`u${u}`, `i${rand() < 0.8 ? g * 100 + Math.floor(rand() * 100) : Math.floor(rand() * 3000)}`);
    }
    const als = await new AlsModel({ factors: 16, iterations: 6 }).fit(await Dataset.build(log), { seed: 1, threads: 1 });
    const path = join(dir, 'als-3000.fastrec');
    await saveModel(als, path);
    const server = await buildServer({ modelPath: path, logger: false, ann: { ef: 64 } });
    try {
      let hit = 0;
      let total = 0;
      for (let n = 0; n < 100; n++) {
        const id = `i${(n * 37) % 3000}`;
        const res = await server.inject({ url: `/v1/items/${id}/similar?k=10` });
        expect(res.statusCode).toBe(200);
        const got = res.json().items as { item: string; score: number }[];
        const exact = als.similarItems(id, 10);
        const truth = new Set(exact.items);
        for (const x of got) if (truth.has(x.item)) hit++;
        total += exact.items.length;
        // Scores are the exact cosines, best first, and the item itself never appears.
        const all = new Map(als.similarItems(id, 3000).items.map((it, r, arr) => [it, r] as const));
        const allScores = als.similarItems(id, 3000).scores;
        for (let r = 0; r < got.length; r++) {
          expect(got[r]!.item).not.toBe(id);
          expect(got[r]!.score).toBeCloseTo(allScores[all.get(got[r]!.item)!]!, 5);
          if (r > 0) expect(got[r]!.score).toBeLessThanOrEqual(got[r - 1]!.score);
        }
      }
      expect(hit / total).toBeGreaterThan(0.9);
    } finally {
      await server.close();
    }
  });
});

describe('post-filtering candidates', () => {
  it('drops denied labels and keeps the order and the count asked for', async () => {
    const { dropDenied } = await import('../lib/ann.js');
    const labels = Int32Array.from([9, 4, 7, 1, 8, 3, 2]);
    expect(Array.from(dropDenied(labels, Int32Array.from([1, 4, 9]), 3))).toEqual([7, 8, 3]);
    expect(Array.from(dropDenied(labels, Int32Array.from([]), 10))).toEqual([9, 4, 7, 1, 8, 3, 2]);
    expect(Array.from(dropDenied(labels, Int32Array.from([1, 2, 3, 4, 7, 8, 9]), 5))).toEqual([]);
  });
});

describe('indexes stored in the model file (fastrec train --ann)', () => {
  it('serves from the stored indexes without building them, and rejects damaged or mismatched ones', async () => {
    const { Interactions } = await import('../lib/data/interactions.js');
    const { Dataset } = await import('../lib/data/dataset.js');
    const { AlsModel } = await import('../lib/models/als.js');
    const { buildServingIndexes, USER_INDEX, SIMILAR_INDEX } = await import('../lib/server/model.js');
    const { readModelFile, writeModelFile } = await import('../lib/io/modelfile.js');
    const log = new Interactions();
    for (let u = 0; u < 40; u++) for (let j = 0; j < 5; j++) log.add(`u${u}`, `i${(u < 20 ? 0 : 25) + ((u * 3 + j * 7) % 25)}`);
    const als = await new AlsModel({ factors: 8, iterations: 4 }).fit(await Dataset.build(log), { seed: 1, threads: 1 });
    const indexes = await buildServingIndexes(als);
    expect(Object.keys(indexes).sort()).toEqual([SIMILAR_INDEX, USER_INDEX].sort());
    const path = join(dir, 'als-indexed.fastrec');
    await saveModel(als, path, { indexes });
    const server = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: { ef: 100 } });
    try {
      expect((await server.inject({ url: '/healthz' })).json().model).toMatchObject({ scoring: 'hnsw', index: 'stored' });
      for (const u of ['u1', 'u30']) expect(itemsOf(await server.inject({ url: `/v1/users/${u}/recommendations?k=5` })), u).toEqual(als.recommend(u, { k: 5 }).items);
      for (const i of ['i3', 'i30']) expect(itemsOf(await server.inject({ url: `/v1/items/${i}/similar?k=5` })), i).toEqual(als.similarItems(i, 5).items);
      // Reloading the same file maps the stored indexes again.
      const r = await server.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth });
      expect(r.json().model.index).toBe('stored');
    } finally {
      await server.close();
    }
    // Without stored indexes the service builds them.
    const plain = join(dir, 'als-plain.fastrec');
    await saveModel(als, plain);
    const built = await buildServer({ modelPath: plain, logger: false, ann: {} });
    expect((await built.inject({ url: '/healthz' })).json().model.index).toBe('built');
    await built.close();

    // Index bytes that pass the file checksum but are not an index, and an index of another model.
    const { state, info } = readModelFile(path);
    const garbage = join(dir, 'als-garbage.fastrec');
    writeModelFile(garbage, state, info.metadata, { [USER_INDEX]: Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) & 255), [SIMILAR_INDEX]: indexes[SIMILAR_INDEX]! });
    await expect(buildServer({ modelPath: garbage, logger: false, ann: {} })).rejects.toThrow(/stored index 'ann.users' cannot be used/);
    const tiny = new Interactions();
    for (const [u, i] of [['a', 'x'], ['b', 'y'], ['c', 'z']]) tiny.add(u!, i!);
    const small = await new AlsModel({ factors: 8, iterations: 2 }).fit(await Dataset.build(tiny), { seed: 1, threads: 1 });
    const mismatched = join(dir, 'als-mismatch.fastrec');
    writeModelFile(mismatched, state, info.metadata, { ...(await buildServingIndexes(small)) });
    await expect(buildServer({ modelPath: mismatched, logger: false, ann: {} })).rejects.toThrow(/stored index 'ann.users' cannot be used \(index: holds 3 items; the factors have 50\)/);
    // An index in a graph format newer than this build reads (header version 2 -> 4; the file's own
    // checksums are recomputed, so only the version differs): the model is fine, the service builds
    // its indexes instead and says so.
    const newer = Uint8Array.from(indexes[USER_INDEX]!);
    expect(new DataView(newer.buffer).getUint32(8, true)).toBe(2);
    new DataView(newer.buffer).setUint32(8, 4, true);
    const newerPath = join(dir, 'als-newer-index.fastrec');
    writeModelFile(newerPath, state, info.metadata, { [USER_INDEX]: newer, [SIMILAR_INDEX]: indexes[SIMILAR_INDEX]! });
    const rebuilt = await buildServer({ modelPath: newerPath, logger: false, ann: { ef: 100 } });
    try {
      expect((await rebuilt.inject({ url: '/healthz' })).json().model.index).toBe('rebuilt');
      expect(itemsOf(await rebuilt.inject({ url: '/v1/users/u1/recommendations?k=5' }))).toEqual(als.recommend('u1', { k: 5 }).items);
    } finally {
      await rebuilt.close();
    }
    // A flipped byte inside a stored index is caught by the file's checksums.
    const flipped = new Uint8Array(fs.readFileSync(path));
    flipped[info.sections.find((x) => x.name === `index:${USER_INDEX}`)!.offset + 100]! ^= 4;
    const flippedPath = join(dir, 'als-flipped.fastrec');
    fs.writeFileSync(flippedPath, flipped);
    await expect(buildServer({ modelPath: flippedPath, logger: false, ann: {} })).rejects.toThrow(/index:ann.users fails its checksum/);
    // Only factor models have serving indexes.
    await expect(buildServingIndexes(model as never)).rejects.toThrow(/needs a factor model/);
  });
});

describe('int8 serving indexes (buildServingIndexes storage int8)', () => {
  it('stores them in the model file and answers identically from memory, after loading and after a reload', async () => {
    const { Interactions } = await import('../lib/data/interactions.js');
    const { Dataset } = await import('../lib/data/dataset.js');
    const { AlsModel } = await import('../lib/models/als.js');
    const { HnswIndex, AnnScorer } = await import('../lib/ann.js');
    const { buildServingIndexes, loadServedModel, annRecommend, USER_INDEX, SIMILAR_INDEX } = await import('../lib/server/model.js');
    // 300 items, 120 users in 6 taste groups: enough that ef 16 does not visit every item.
    const log = new Interactions();
    for (let u = 0; u < 120; u++) for (let j = 0; j < 8; j++) log.add(`u${u}`, `i${(u % 6) * 50 + ((u * 7 + j * 13) % 50)}`);
    const als = await new AlsModel({ factors: 8, iterations: 4 }).fit(await Dataset.build(log), { seed: 1, threads: 1 });
    const indexes = await buildServingIndexes(als, { storage: 'int8', ef: 16 });
    const userIndex = await HnswIndex.fromBytes(indexes[USER_INDEX]!, { copy: true });
    expect(userIndex.info().storage).toBe('int8');
    expect((await HnswIndex.fromBytes(indexes[SIMILAR_INDEX]!, { copy: true })).info().storage).toBe('int8');
    const path = join(dir, 'als-int8.fastrec');
    await saveModel(als, path, { indexes });
    const users = ['u0', 'u7', 'u31', 'u64', 'u119'];
    const answer = (r: { items: unknown[]; scores: Float32Array | number[] }) => ({ items: r.items, scores: Array.from(r.scores) });
    // In memory, before saving: a scorer over the index bytes with the model's factors.
    const inMemory = AnnScorer.fromIndex(userIndex, als.itemFactors, 8);
    await inMemory.ready;
    const served = await loadServedModel(path, { ef: 16 });
    expect(served.ann!.source).toBe('stored');
    expect(served.ann!.scorer.index.info().storage).toBe('int8');
    const before = users.map((u) => answer(annRecommend(served, { user: u }, 10, true)));
    for (const [n, u] of users.entries()) {
      const row = served.users!.index(u)!;
      const seen = served.train!.indices.subarray(Number(served.train!.indptr[row]), Number(served.train!.indptr[row + 1]));
      const r = inMemory.recommend(als.userVector(u), 10, { seen });
      expect(answer({ items: served.items!.idsOf(r.indices), scores: r.scores }), u).toEqual(before[n]);
    }
    // Loaded again, and through the service before and after a reload: the same items and scores.
    const again = await loadServedModel(path, { ef: 16 });
    expect(users.map((u) => answer(annRecommend(again, { user: u }, 10, true)))).toEqual(before);
    const server = await buildServer({ modelPath: path, token: TOKEN, logger: false, ann: { ef: 16 } });
    try {
      const viaHttp = async () => Promise.all(users.map(async (u) => {
        const items = (await server.inject({ url: `/v1/users/${u}/recommendations?k=10` })).json().items as { item: unknown; score: number }[];
        return { items: items.map((x) => x.item), scores: items.map((x) => x.score) };
      }));
      const http1 = await viaHttp();
      expect(http1.map((a) => a.items)).toEqual(before.map((a) => a.items));
      for (const [n, a] of http1.entries()) for (const [j, sc] of a.scores.entries()) expect(sc).toBeCloseTo(before[n]!.scores[j]!, 5);
      const r = await server.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth });
      expect(r.json().model.index).toBe('stored');
      expect(await viaHttp()).toEqual(http1);
    } finally {
      await server.close();
    }
  });
});

describe('serving the hybrid', () => {
  it('passes the page context and the basket to the hybrid', async () => {
    const { Interactions } = await import('../lib/data/interactions.js');
    const { Dataset } = await import('../lib/data/dataset.js');
    const { HybridRecommender } = await import('../lib/hybrid/recommender.js');
    const log = new Interactions();
    for (let u = 0; u < 40; u++) for (let j = 0; j < 5; j++) log.add(`u${u}`, `i${(u < 20 ? 0 : 25) + ((u * 3 + j * 7) % 25)}`, 1, undefined, 1_700_000_000_000 + u * 60_000 + j);
    const hybrid = await new HybridRecommender().fit(await Dataset.build(log), { seed: 1 });
    const path = join(dir, 'hybrid.fastrec');
    await saveModel(hybrid, path);
    const h = await buildServer({ modelPath: path, logger: false });
    try {
      const home = await h.inject({ url: '/v1/users/u1/recommendations?k=5&context=home' });
      expect(home.statusCode).toBe(200);
      expect(itemsOf(home)).toEqual(hybrid.recommend('u1', { k: 5, context: 'home' }).items);
      const cart = await h.inject({ method: 'POST', url: '/v1/recommendations', payload: { items: ['i1'], basket: ['i2', 'i3'], k: 5 } });
      expect(cart.statusCode).toBe(200);
      const want = hybrid.recommendForHistory(['i1', 'i2', 'i3'].map((item) => ({ item, value: 1 })), { k: 5, exclude: ['i2', 'i3'], basket: ['i2', 'i3'], context: 'basket' });
      expect(itemsOf(cart)).toEqual(want.items);
      expect(itemsOf(cart)).not.toContain('i2');
    } finally {
      await h.close();
    }
  });
});

describe('the per-user result cache (--cache)', () => {
  const metric = async (server: FastifyInstance, name: string): Promise<number> => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec((await server.inject({ url: '/metrics' })).body);
    return m ? Number(m[1]) : NaN;
  };

  it('answers repeated requests from the cache, and drops a user on their events and everyone on reload', async () => {
    const path = join(dir, 'cache-a.fastrec');
    fs.copyFileSync(join(dir, 'a.fastrec'), path);
    const server = await buildServer({ modelPath: path, token: TOKEN, logger: false, cacheUsers: 2 });
    try {
      const first = itemsOf(await server.inject({ url: '/v1/users/u1/recommendations?k=5' }));
      expect(first).toEqual(model.recommend('u1', { k: 5 }).items);
      expect(await metric(server, 'fastrec_cache_misses_total')).toBe(1);
      expect(itemsOf(await server.inject({ url: '/v1/users/u1/recommendations?k=5' }))).toEqual(first);
      expect(await metric(server, 'fastrec_cache_hits_total')).toBe(1);
      // Another variant of the request is its own entry.
      expect(itemsOf(await server.inject({ url: '/v1/users/u1/recommendations?k=3' }))).toEqual(first.slice(0, 3));
      expect(await metric(server, 'fastrec_cache_misses_total')).toBe(2);

      // Events of u1 (and only u1) drop u1's entries: the next answer folds them in.
      await server.inject({ url: '/v1/users/u2/recommendations?k=5' });
      const ev = await server.inject({ method: 'POST', url: '/v1/events', headers: auth, payload: { events: [{ user: 'u1', item: 'i20', value: 3 }] } });
      expect(ev.statusCode).toBe(202);
      const history = [0, 1, 2, 3, 4].map((i) => ({ item: `i${i}`, value: 1 })).concat([{ item: 'i20', value: 3 }]);
      const after = itemsOf(await server.inject({ url: '/v1/users/u1/recommendations?k=5' }));
      expect(after).toEqual(model.recommendForHistory(history, { k: 5 }).items);
      expect(after).not.toEqual(first);
      const hits = await metric(server, 'fastrec_cache_hits_total');
      expect(itemsOf(await server.inject({ url: '/v1/users/u2/recommendations?k=5' }))).toEqual(model.recommend('u2', { k: 5 }).items);
      expect(await metric(server, 'fastrec_cache_hits_total')).toBe(hits + 1);

      // A numeric user id posted as a number drops the entry of the URL's string form too.
      expect(itemsOf(await server.inject({ url: '/v1/users/5/recommendations?k=4' }))).toEqual(model.recommend(5, { k: 4 }).items);
      await server.inject({ method: 'POST', url: '/v1/events', headers: auth, payload: { events: [{ user: 5, item: 'i30' }] } });
      const five = await server.inject({ url: '/v1/users/5/recommendations?k=4' });
      expect(five.statusCode).toBe(200);
      expect(itemsOf(five)).not.toEqual(model.recommend(5, { k: 4 }).items);

      // Reload: every entry goes, the new model answers.
      expect(itemsOf(await server.inject({ url: '/v1/users/u3/recommendations?k=5' }))).toEqual(model.recommend('u3', { k: 5 }).items);
      expect((await server.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: join(dir, 'b.fastrec') } })).statusCode).toBe(200);
      expect(itemsOf(await server.inject({ url: '/v1/users/u3/recommendations?k=5' }))).toEqual(other.recommend('u3', { k: 5 }).items);
      expect(await metric(server, 'fastrec_cache_users')).toBe(1);
      // Bounded: at most cacheUsers users are kept.
      for (const u of ['u0', 'u2', 'u4']) await server.inject({ url: `/v1/users/${u}/recommendations?k=5` });
      expect(await metric(server, 'fastrec_cache_users')).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('is off by default', async () => {
    await open.inject({ url: '/v1/users/u1/recommendations?k=5' });
    const text = (await open.inject({ url: '/metrics' })).body;
    expect(text).not.toMatch(/fastrec_cache_hits/);
  });
});

/**
 * Workers joined the way `serve --workers N` joins them: each one's channel
 * goes to one PeerRouter (the primary's code), messages are delivered
 * asynchronously and JSON-serialized like Node's IPC.
 */
function inProcessCluster(limits = { metrics: 500, prepare: 1000, commit: 1000, abort: 1000 }) {
  const router = new PeerRouter(limits);
  const handlers = new Map<string, (m: PeerMessage) => void>();
  const wire = (m: PeerMessage): PeerMessage => JSON.parse(JSON.stringify(m));
  return {
    router,
    link(id: string): PeerLink {
      router.add({ id, send: (m) => setImmediate(() => handlers.get(id)?.(wire(m))) });
      return { id, send: (m) => setImmediate(() => router.receive(id, wire(m))), onMessage: (h) => void handlers.set(id, h) };
    },
    /** A worker that receives queries but never answers (hung), or exits on its first one. */
    silent(id: string, onQuery: () => void = () => {}): void {
      router.add({ id, send: (m) => m.type === 'fastrec:query' && setImmediate(onQuery) }, router.modelPath);
    },
  };
}

/** The value of one series in Prometheus text (undefined when absent). */
function series(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('several workers (serve --workers): events, reloads and metrics are the whole service', () => {
  it('passes events on, reloads every worker before answering, and adds up every worker on /metrics', async () => {
    const cl = inProcessCluster();
    const a = await buildServer({ modelPath: join(dir, 'a.fastrec'), token: TOKEN, logger: false, cacheUsers: 10, peers: cl.link('1') });
    const b = await buildServer({ modelPath: join(dir, 'a.fastrec'), token: TOKEN, logger: false, cacheUsers: 10, peers: cl.link('2') });
    try {
      // Events posted to a reach b's fold-in state (and b's cached answer for the user is dropped).
      expect(itemsOf(await b.inject({ url: '/v1/users/u2/recommendations?k=5' }))).toEqual(model.recommend('u2', { k: 5 }).items);
      const ev = await a.inject({ method: 'POST', url: '/v1/events', headers: auth, payload: { events: [{ user: 'u2', item: 'i11', value: 4 }] } });
      expect(ev.statusCode).toBe(202);
      await new Promise((r) => setImmediate(r)); // the relay is asynchronous, like IPC
      await new Promise((r) => setImmediate(r));
      const want = model.recommendForHistory([{ item: 'i11', value: 4 }], { k: 5 }).items;
      expect(itemsOf(await b.inject({ url: '/v1/users/u2/recommendations?k=5' }))).toEqual(want);
      expect(itemsOf(await a.inject({ url: '/v1/users/u2/recommendations?k=5' }))).toEqual(want);
      for (let i = 0; i < 3; i++) await a.inject({ url: '/v1/users/u3/recommendations?k=5' });
      expect((await b.inject({ url: '/v1/users/nobody/recommendations' })).statusCode).toBe(404);

      // /metrics on either worker: 6 recommendation requests answered 200 (2 on b, 4 on a), one 404 on b.
      for (const w of [a, b]) {
        const text = (await w.inject({ url: '/metrics' })).body;
        const route = 'method="GET",route="/v1/users/:id/recommendations"';
        expect(series(text, `fastrec_http_requests_total{${route},status="200"}`)).toBe(6);
        expect(series(text, `fastrec_http_requests_total{${route},status="404"}`)).toBe(1);
        expect(series(text, `fastrec_http_request_duration_seconds_count{${route}}`)).toBe(7);
        expect(series(text, `fastrec_http_request_duration_seconds_bucket{${route},le="+Inf"}`)).toBe(7);
        expect(series(text, 'fastrec_events_total')).toBe(1); // counted where it was posted, not where it was passed on
        // Cache: b missed u2, u2 after the event (dropped) and nobody; a missed u2 and u3, then hit u3 twice.
        expect(series(text, 'fastrec_cache_hits_total')).toBe(2);
        expect(series(text, 'fastrec_cache_misses_total')).toBe(5);
        expect(series(text, 'fastrec_workers')).toBe(2);
        expect(series(text, 'fastrec_workers_missing')).toBe(0);
        // Gauges describe one process each: labelled, not summed.
        expect(series(text, 'fastrec_model_items{worker="1"}')).toBe(40);
        expect(series(text, 'fastrec_model_items{worker="2"}')).toBe(40);
        expect(series(text, 'fastrec_live_users{worker="2"}')).toBe(1);
        expect(text.match(/^# TYPE fastrec_model_items gauge$/gm)).toHaveLength(1);
      }

      // A reload sent to a answers once b serves the new model too: no waiting after the answer.
      const r = await a.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: join(dir, 'b.fastrec') } });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toMatchObject({ workers: 2, model: { path: join(dir, 'b.fastrec') } });
      expect((await b.inject({ url: '/healthz' })).json().model.path).toBe(join(dir, 'b.fastrec'));
      expect(itemsOf(await b.inject({ url: '/v1/users/u3/recommendations?k=5' }))).toEqual(other.recommend('u3', { k: 5 }).items);
      expect(itemsOf(await a.inject({ url: '/v1/users/u3/recommendations?k=5' }))).toEqual(other.recommend('u3', { k: 5 }).items);
      expect(series((await b.inject({ url: '/metrics' })).body, 'fastrec_reloads_total')).toBe(1);
      // A file that cannot be loaded: 422 (the receiving worker's own error), and every worker keeps its model.
      const corrupt = await b.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: join(dir, 'corrupt.fastrec') } });
      expect(corrupt.statusCode).toBe(422);
      expect(corrupt.json().message).toMatch(/still serving the previous model.*truncated/);
      for (const w of [a, b]) expect((await w.inject({ url: '/healthz' })).json().model.path).toBe(join(dir, 'b.fastrec'));

      // A worker that does not answer: the reload fails with 502 naming it, and every worker keeps the model it had.
      cl.silent('3');
      const hung = await b.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: join(dir, 'a.fastrec') } });
      expect(hung.statusCode).toBe(502);
      expect(hung.json()).toMatchObject({ error: 'RELOAD_FAILED' });
      expect(hung.json().message).toMatch(/every worker still serves the previous model: worker 3: no answer within 1 s/);
      for (const w of [a, b]) expect((await w.inject({ url: '/healthz' })).json().model.path).toBe(join(dir, 'b.fastrec'));
      // ... and its share is missing from a scrape, which says so.
      const partial = (await a.inject({ url: '/metrics' })).body;
      expect(series(partial, 'fastrec_workers')).toBe(2);
      expect(series(partial, 'fastrec_workers_missing')).toBe(1);
      cl.router.remove('3');
      // A worker that exits while the others load the file: named too.
      cl.silent('4', () => cl.router.remove('4'));
      const died = await a.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: join(dir, 'a.fastrec') } });
      expect(died.statusCode).toBe(502);
      expect(died.json().message).toMatch(/worker 4: the worker exited before answering/);
      // Without it, the reload goes through everywhere.
      const ok = await b.inject({ method: 'POST', url: '/v1/admin/reload', headers: auth, payload: { path: join(dir, 'a.fastrec') } });
      expect(ok.json()).toMatchObject({ workers: 2 });
      expect((await a.inject({ url: '/healthz' })).json().model.path).toBe(join(dir, 'a.fastrec'));
      expect(cl.router.modelPath).toBe(join(dir, 'a.fastrec')); // what a replacement worker starts from

      // A worker exits: what it had counted by the last scrape stays in the sums (counters never go down).
      const route = 'fastrec_http_requests_total{method="GET",route="/v1/users/:id/recommendations",status="200"}';
      const total = series((await a.inject({ url: '/metrics' })).body, route)!;
      expect(total).toBe(6 + 2); // u3 on each worker after the first reload
      expect(series((await a.inject({ url: '/metrics' })).body, 'fastrec_worker_restarts_total')).toBe(0);
      cl.router.remove('2', true);
      await a.inject({ url: '/v1/users/u4/recommendations?k=5' });
      const afterExit = (await a.inject({ url: '/metrics' })).body;
      expect(series(afterExit, route)).toBe(total + 1);
      expect(series(afterExit, 'fastrec_events_total')).toBe(1);
      expect(series(afterExit, 'fastrec_workers')).toBe(1);
      expect(series(afterExit, 'fastrec_worker_restarts_total')).toBe(1);
      expect(series(afterExit, 'fastrec_model_items{worker="2"}')).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('runs one reload at a time over the whole service', async () => {
    const router = new PeerRouter();
    const got: Record<string, PeerMessage[]> = { '1': [], '2': [] };
    for (const id of ['1', '2']) router.add({ id, send: (m) => void got[id]!.push(m) });
    router.receive('1', { type: 'fastrec:ask', id: 7, ask: { op: 'prepare', reload: 'r1', path: 'x' } });
    expect(got['2']).toEqual([{ type: 'fastrec:query', id: 1, ask: { op: 'prepare', reload: 'r1', path: 'x' } }]);
    // Worker 2 starts its own reload while worker 1's is between prepare and commit: refused at once.
    router.receive('2', { type: 'fastrec:ask', id: 3, ask: { op: 'prepare', reload: 'r2', path: 'y' } });
    expect(got['2']![1]).toEqual({ type: 'fastrec:answers', id: 3, answers: [], refused: 'another reload is in progress' });
    router.receive('2', { type: 'fastrec:reply', id: 1, ok: true, value: null });
    expect(got['1']).toEqual([{ type: 'fastrec:answers', id: 7, answers: [{ worker: '2', ok: true, value: null }] }]);
    router.receive('1', { type: 'fastrec:ask', id: 8, ask: { op: 'commit', reload: 'r1', path: 'x' } });
    // Once committed, the next reload may start; events go to every other worker.
    router.receive('2', { type: 'fastrec:ask', id: 4, ask: { op: 'prepare', reload: 'r2', path: 'y' } });
    expect(got['1']!.at(-1)).toEqual({ type: 'fastrec:query', id: 3, ask: { op: 'prepare', reload: 'r2', path: 'y' } });
    router.receive('2', { type: 'fastrec:events', events: [{ user: 'u', item: 'i', value: 1 }] });
    expect(got['1']!.at(-1)).toEqual({ type: 'fastrec:events', events: [{ user: 'u', item: 'i', value: 1 }] });
    expect(got['2']!.filter((m) => m.type === 'fastrec:events')).toEqual([]);
    expect(router.modelPath).toBe('x');
    // Worker 2 dies between its prepare and its commit: the others drop what they prepared, and a new reload may start.
    const seen = got['1']!.length;
    router.remove('2');
    const afterExit = got['1']!.slice(seen);
    expect(afterExit).toContainEqual(expect.objectContaining({ type: 'fastrec:query', ask: { op: 'abort', reload: 'r2' } }));
    // ... and worker 1's commit, still waiting on worker 2, completes naming it.
    expect(afterExit).toContainEqual({ type: 'fastrec:answers', id: 8, answers: [{ worker: '2', ok: false, error: 'the worker exited before answering' }] });
    router.receive('1', { type: 'fastrec:ask', id: 9, ask: { op: 'prepare', reload: 'r3', path: 'z' } });
    expect(got['1']!.at(-1)).toEqual({ type: 'fastrec:answers', id: 9, answers: [] });
    // A worker that started from 'x' becomes ready after 'z' was committed: it is told to catch up; one started from 'z' is not.
    router.receive('1', { type: 'fastrec:ask', id: 10, ask: { op: 'commit', reload: 'r3', path: 'z' } });
    const late: PeerMessage[] = [];
    router.add({ id: '5', send: (m) => void late.push(m) }, 'x');
    expect(late).toEqual([expect.objectContaining({ type: 'fastrec:query', ask: { op: 'commit', reload: 'catch-up', path: 'z' } })]);
    const current: PeerMessage[] = [];
    router.add({ id: '6', send: (m) => void current.push(m) }, 'z');
    expect(current).toEqual([]);
  });
});

describe('metrics of several processes', () => {
  it('adds up counters and histogram buckets and labels gauges by worker', () => {
    const m1 = new Metrics();
    const m2 = new Metrics();
    m1.observeRequest('GET', '/r', 200, 0.0003); // bucket le=0.0005
    m1.observeRequest('GET', '/r', 500, 0.003); // le=0.005
    m2.observeRequest('GET', '/r', 200, 0.0004); // le=0.0005
    m2.observeRequest('GET', '/r', 200, 5); // above every bound
    m2.observeRequest('POST', '/s', 202, 0.00005); // le=0.0001
    m1.inc('fastrec_events', 'Events.', 3);
    m2.inc('fastrec_events', 'Events.', 4);
    m1.gauge('fastrec_live_users', 'Live users.', () => 7);
    m2.gauge('fastrec_live_users', 'Live users.', () => NaN);
    const text = renderMetrics([JSON.parse(JSON.stringify(m2.snapshot('2'))), m1.snapshot('1')], true);
    const r = 'method="GET",route="/r"';
    expect(series(text, `fastrec_http_requests_total{${r},status="200"}`)).toBe(2 + 0 + 1);
    expect(series(text, `fastrec_http_requests_total{${r},status="500"}`)).toBe(1);
    const buckets = text.split('\n').filter((l) => l.startsWith(`fastrec_http_request_duration_seconds_bucket{${r},`)).map((l) => Number(l.split(' ')[1]));
    // Cumulative over le = 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, ..., 2.5, +Inf.
    expect(buckets).toEqual([0, 0, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4]);
    expect(series(text, `fastrec_http_request_duration_seconds_sum{${r}}`)).toBeCloseTo(0.0003 + 0.003 + 0.0004 + 5, 12);
    expect(series(text, `fastrec_http_request_duration_seconds_count{method="POST",route="/s"}`)).toBe(1);
    expect(series(text, 'fastrec_events_total')).toBe(7);
    // Sorted by worker; a NaN gauge survives the JSON trip as NaN.
    expect(text).toContain('fastrec_live_users{worker="1"} 7\nfastrec_live_users{worker="2"} NaN\n');
    expect(series(text, 'fastrec_workers')).toBe(2);
    // One process alone renders exactly as before: no worker label, no worker count.
    expect(m1.render()).toContain('\nfastrec_live_users 7\n');
    expect(m1.render()).not.toContain('fastrec_workers');
  });
});

describe('invalid configuration', () => {
  it('refuses short tokens and bad model files at start', async () => {
    await expect(buildServer({ modelPath: join(dir, 'a.fastrec'), token: 'short', logger: false })).rejects.toThrow(InvalidArgumentError);
    await expect(buildServer({ modelPath: join(dir, 'corrupt.fastrec'), logger: false })).rejects.toThrow(/truncated/);
  });
});
