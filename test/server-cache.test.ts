/**
 * The response cache's fast path (serve --cache): hits are answered from
 * Node's request event with the bytes the route sent, over a real socket
 * (inject() bypasses the HTTP server, so these tests listen on a port).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../lib/server/app.js';
import { ResultCache } from '../lib/server/cache.js';
import { TinyModel, saveServedTinyModels } from './fixtures/tiny-model.js';

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
let dir: string;
let model: TinyModel;
let other: TinyModel;

beforeAll(async () => {
  dir = fs.mkdtempSync(join(os.tmpdir(), 'fastrec-server-cache-'));
  ({ model, other } = await saveServedTinyModels(dir));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function listening(options: Partial<Parameters<typeof buildServer>[0]> = {}): Promise<{ app: FastifyInstance; base: string }> {
  const app = await buildServer({ modelPath: join(dir, 'a.fastrec'), token: TOKEN, logger: false, cacheUsers: 10, ...options });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, base: address };
}

const metric = async (base: string, name: string): Promise<number> => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"/:]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};
const hits = (base: string) => metric(base, 'fastrec_cache_hits_total');
const misses = (base: string) => metric(base, 'fastrec_cache_misses_total');
const items = (text: string): unknown[] => (JSON.parse(text) as { items: { item: unknown }[] }).items.map((x) => x.item);

describe('cache hits over HTTP (serve --cache)', () => {
  it('answers a repeated URL with the same bytes, counted as a hit and as a request of the route', async () => {
    const { app, base } = await listening();
    try {
      const url = `${base}/v1/users/u1/recommendations?k=5`;
      const first = await fetch(url);
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const firstText = await first.text();
      expect(items(firstText)).toEqual(model.recommend('u1', { k: 5 }).items);
      expect([await hits(base), await misses(base)]).toEqual([0, 1]);

      const second = await fetch(url);
      expect(second.status).toBe(200);
      expect(second.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(Number(second.headers.get('content-length'))).toBe(Buffer.byteLength(firstText));
      expect(await second.text()).toBe(firstText);
      expect([await hits(base), await misses(base)]).toEqual([1, 1]);
      // The hit is still a request of the route in /metrics.
      expect(await metric(base, 'fastrec_http_requests_total{method="GET",route="/v1/users/:id/recommendations",status="200"}')).toBe(2);

      // Another query string is another entry; so is another spelling of the same query.
      expect(items(await (await fetch(`${base}/v1/users/u1/recommendations?k=3`)).text())).toEqual(model.recommend('u1', { k: 3 }).items);
      expect(items(await (await fetch(`${base}/v1/users/u1/recommendations?k=5&filterSeen=true`)).text())).toEqual(model.recommend('u1', { k: 5 }).items);
      expect([await hits(base), await misses(base)]).toEqual([1, 3]);
      // HEAD is left to Fastify (its HEAD route runs the GET handler, which finds the entry): headers, no body.
      const head = await fetch(url, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(Number(head.headers.get('content-length'))).toBe(Buffer.byteLength(firstText));
      expect(await head.text()).toBe('');
      expect(await hits(base)).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('never caches errors: invalid requests and unknown users are answered by the route every time', async () => {
    const { app, base } = await listening();
    try {
      for (let round = 0; round < 2; round++) {
        const bad = await fetch(`${base}/v1/users/u1/recommendations?k=0`);
        expect(bad.status).toBe(400);
        const unknown = await fetch(`${base}/v1/users/nobody/recommendations?k=5`);
        expect(unknown.status).toBe(404);
        expect(((await unknown.json()) as { error: string }).error).toBe('UNKNOWN_ID');
      }
      expect(await hits(base)).toBe(0);
      // A 400 is not a miss: nothing was scored.
      expect(await misses(base)).toBe(2);
    } finally {
      await app.close();
    }
  });

  it("drops a user's cached bytes when their events arrive, and every entry on reload", async () => {
    const { app, base } = await listening();
    try {
      const url = `${base}/v1/users/u1/recommendations?k=5`;
      const before = await (await fetch(url)).text();
      const u2 = await (await fetch(`${base}/v1/users/u2/recommendations?k=5`)).text();
      expect(await (await fetch(url)).text()).toBe(before);
      expect(await hits(base)).toBe(1);

      const ev = await fetch(`${base}/v1/events`, { method: 'POST', headers: auth, body: JSON.stringify({ events: [{ user: 'u1', item: 'i20', value: 3 }] }) });
      expect(ev.status).toBe(202);
      const history = [0, 1, 2, 3, 4].map((i) => ({ item: `i${i}`, value: 1 })).concat([{ item: 'i20', value: 3 }]);
      const after = await (await fetch(url)).text();
      expect(items(after)).toEqual(model.recommendForHistory(history, { k: 5 }).items);
      expect(after).not.toBe(before);
      // Other users' entries stay: u2 is still a hit.
      const hitsBefore = await hits(base);
      expect(await (await fetch(`${base}/v1/users/u2/recommendations?k=5`)).text()).toBe(u2);
      expect(await hits(base)).toBe(hitsBefore + 1);

      const reload = await fetch(`${base}/v1/admin/reload`, { method: 'POST', headers: auth, body: JSON.stringify({ path: join(dir, 'b.fastrec') }) });
      expect(reload.status).toBe(200);
      const u3 = await (await fetch(`${base}/v1/users/u3/recommendations?k=5`)).text();
      expect(items(u3)).toEqual(other.recommend('u3', { k: 5 }).items);
      expect(items(await (await fetch(`${base}/v1/users/u2/recommendations?k=5`)).text())).toEqual(other.recommend('u2', { k: 5 }).items);
    } finally {
      await app.close();
    }
  });

  it('keeps a bounded number of users and of URLs per user', () => {
    const cache = new ResultCache<string>(2);
    cache.set('a', '/a?1', 'a1');
    cache.set('b', '/b?1', 'b1');
    expect(cache.get('/a?1')).toBe('a1'); // a is now the most recent
    cache.set('c', '/c?1', 'c1'); // evicts b, the least recently used
    expect(cache.get('/b?1')).toBeUndefined();
    expect([cache.get('/a?1'), cache.get('/c?1')]).toEqual(['a1', 'c1']);
    for (let v = 0; v < 10; v++) cache.set('a', `/a?k=${v}`, `a${v}`);
    expect(cache.entryCount).toBe(8 + 1); // 8 URLs for a, 1 for c
    expect(cache.get('/a?1')).toBeUndefined();
    expect(cache.get('/a?k=9')).toBe('a9');
    cache.invalidate('a');
    expect([cache.size, cache.entryCount]).toEqual([1, 1]);
    expect([cache.hits, cache.misses]).toEqual([4, 2]);
    cache.clear();
    expect([cache.size, cache.entryCount, cache.get('/c?1')]).toEqual([0, 0, undefined]);
  });
});
