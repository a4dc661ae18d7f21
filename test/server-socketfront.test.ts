/**
 * The socket front (lib/server/socketfront.ts) over real sockets. What a
 * client sees must be what Node and Fastify send with the front off (a
 * second service with `logRequests: true`, which has no front), byte for
 * byte apart from the Date header: plain requests and cache hits, pipelined
 * requests the front lends to Node in the middle of its own (in order; the
 * connection comes back afterwards), heads it leaves to Node for good
 * (HTTP/1.0, Expect, upgrades, malformed or oversized heads), Node's
 * timeouts (slow head, idle keep-alive) and graceful close.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as net from 'node:net';
import * as http from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../lib/server/app.js';
import { serverWithFastPath } from '../lib/server/fastpath.js';
import { parseHead } from '../lib/server/http-head.js';
import { Metrics } from '../lib/server/metrics.js';
import { ALS_USERS, saveSmallAls } from './fixtures/als-file.js';

const TOKEN = 'test-token-0123456789abcdef';
let dir: string;
let path: string;

interface Pair {
  front: FastifyInstance;
  ref: FastifyInstance;
  frontPort: number;
  refPort: number;
  /** Requests that reached Fastify in `front`. */
  saw: { n: number };
  close(): Promise<void>;
}

/** The service with the front (serve --ann --cache) and the same service without it; `tweak` sets server options on both before they listen. */
async function pair(tweak?: (s: http.Server) => void): Promise<Pair> {
  const options = { modelPath: path, token: TOKEN, logger: false as const, ann: { ef: 100 }, maxK: 50, cacheUsers: 20 };
  const front = await buildServer(options);
  const ref = await buildServer({ ...options, logRequests: true });
  const saw = { n: 0 };
  front.addHook('onRequest', (_req, _reply, done) => {
    saw.n++;
    done();
  });
  tweak?.(front.server);
  tweak?.(ref.server);
  await front.listen({ port: 0, host: '127.0.0.1' });
  await ref.listen({ port: 0, host: '127.0.0.1' });
  const port = (app: FastifyInstance) => (app.server.address() as net.AddressInfo).port;
  return { front, ref, frontPort: port(front), refPort: port(ref), saw, close: async () => void (await Promise.all([front.close(), ref.close()])) };
}

let main: Pair;

beforeAll(async () => {
  dir = fs.mkdtempSync(join(os.tmpdir(), 'fastrec-socketfront-'));
  path = join(dir, 'als.fastrec');
  await saveSmallAls(path, 1);
  main = await pair();
});
afterAll(async () => {
  await main?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Complete responses in `b` (Content-Length, an empty chunked body, or none), Date values blanked. */
function responses(b: Buffer): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < b.length) {
    const end = b.indexOf('\r\n\r\n', pos);
    if (end < 0) break;
    const head = b.toString('latin1', pos, end + 4);
    let bodyEnd = end + 4;
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (cl) bodyEnd += Number(cl[1]);
    else if (/\r\ntransfer-encoding: *chunked/i.test(head)) bodyEnd = b.indexOf('0\r\n\r\n', end + 4) + 5;
    if (head.startsWith('HTTP/1.1 100 ')) bodyEnd = end + 4;
    if (bodyEnd < end + 4 || bodyEnd > b.length) break;
    out.push(b.toString('utf8', pos, bodyEnd).replace(/\r\nDate: [^\r]*/, '\r\nDate: -'));
    pos = bodyEnd;
  }
  return out;
}

interface Exchange {
  responses: string[];
  /** Everything received, Date values blanked. */
  raw: string;
  /** The server closed the connection. */
  closed: boolean;
  /** ms from connecting to the close (or to the end of the wait). */
  ms: number;
}

/**
 * Write `writes` on a new connection (`gapMs` apart), then wait until
 * `count` responses arrived (or, with untilClose, the server closed it),
 * at most waitMs.
 */
function exchange(port: number, writes: (string | Buffer)[], opts: { count?: number; untilClose?: boolean; gapMs?: number; waitMs?: number } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let closed = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const ms = performance.now() - t0;
      socket.destroy();
      resolve({ responses: responses(buf), raw: buf.toString('latin1').replace(/\r\nDate: [^\r]*/g, '\r\nDate: -'), closed, ms });
    };
    const timer = setTimeout(finish, opts.waitMs ?? 3000);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!opts.untilClose && opts.count !== undefined && responses(buf).length >= opts.count) finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => {});
    let i = 0;
    const next = (): void => {
      if (i >= writes.length || done) return;
      socket.write(writes[i++]!);
      if (opts.gapMs) setTimeout(next, opts.gapMs);
      else next();
    };
    socket.once('connect', next);
  });
}

/** The same exchange with both services. */
async function both(p: Pair, writes: (string | Buffer)[], opts: Parameters<typeof exchange>[2] = {}): Promise<[Exchange, Exchange]> {
  return Promise.all([exchange(p.frontPort, writes, opts), exchange(p.refPort, writes, opts)]);
}

const H = 'Host: 127.0.0.1\r\n';
const get = (url: string, extra = ''): string => `GET ${url} HTTP/1.1\r\n${H}${extra}\r\n`;
const plain = (u: string, k?: number): string => get(`/v1/users/${u}/recommendations${k ? `?k=${k}` : ''}`);

describe('the socket front answers plain requests and cache hits', () => {
  it('with the bytes Node and Fastify send (one per connection, pipelined, Connection: close)', async () => {
    const before = main.saw.n;
    for (const u of ALS_USERS.slice(0, 12)) {
      for (const k of [undefined, 3, 50]) {
        // The second time the URL is a cache hit.
        for (let round = 0; round < 2; round++) {
          const [a, b] = await both(main, [plain(u, k)], { count: 1 });
          expect(a.responses, `${u} ${k}`).toHaveLength(1);
          expect(a.responses).toEqual(b.responses);
          expect(a.responses[0]).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-type: application\/json; charset=utf-8\r\ncontent-length: \d+\r\nDate: -\r\nConnection: keep-alive\r\nKeep-Alive: timeout=72\r\n\r\n\{"user":/);
        }
      }
    }
    // Twelve in one write, hits and misses mixed; then the same ending with Connection: close.
    const many = ALS_USERS.slice(20, 32).map((u, i) => plain(u, 1 + i));
    const [a, b] = await both(main, [many.join('')], { count: 12 });
    expect(a.responses).toHaveLength(12);
    expect(a.responses).toEqual(b.responses);
    const closing = [...many.slice(0, 5), get('/v1/users/u40/recommendations?k=2', 'Connection: close\r\n')];
    const [c, d] = await both(main, [closing.join('')], { untilClose: true });
    expect(c.responses).toHaveLength(6);
    expect(c.responses).toEqual(d.responses);
    expect([c.closed, d.closed]).toEqual([true, true]);
    expect(c.responses[5]).toMatch(/\r\nConnection: close\r\n\r\n/);
    // A request sent after the one that asked to close is not answered. (Node's parser calls it an
    // error: Fastify then writes a 400 at once and drops the answers still being computed; the front
    // answers those and ignores the extra request.)
    const [e] = await Promise.all([exchange(main.frontPort, [closing.join('') + plain('u41')], { untilClose: true }), exchange(main.refPort, [closing.join('')], { untilClose: true })]);
    expect(e.responses).toEqual(c.responses);
    expect(e.closed).toBe(true);
    expect(main.saw.n - before).toBe(0); // none of these reached Fastify
  });

  it('even when the head arrives a few bytes per TCP write', async () => {
    const before = main.saw.n;
    const head = plain('u5', 4) + plain('u6');
    const bytes = Array.from({ length: Math.ceil(head.length / 3) }, (_, i) => head.slice(i * 3, i * 3 + 3));
    const [a, b] = await both(main, bytes, { count: 2, gapMs: 1 });
    expect(a.responses).toHaveLength(2);
    expect(a.responses).toEqual(b.responses);
    expect(main.saw.n - before).toBe(0);
  });
});

describe('requests the front does not answer', () => {
  it('are lent to Node in order on the same connection, which then comes back to the front', async () => {
    const before = main.saw.n;
    const visitor = JSON.stringify({ items: ['i1', 'i2'], k: 3 });
    const post = `POST /v1/recommendations HTTP/1.1\r\n${H}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(visitor)}\r\n\r\n${visitor}`;
    const lent = [
      post,
      get('/v1/users/nobody/recommendations'), // plain, but unknown: scored, then lent (404)
      get('/v1/users/u3/recommendations?k=5&filterSeen=false'),
      get('/v1/users/u3/recommendations?k=4&exclude=i1,i2'),
      get('/v1/users/u3/recommendations?context=home'),
    ];
    const sequence = [plain('u1'), plain('u2', 3), lent[0]!, plain('u3'), lent[1]!, lent[2]!, plain('u1'), lent[3]!, lent[4]!, plain('u4', 7)];
    const [a, b] = await both(main, [sequence.join('')], { count: sequence.length });
    expect(a.responses).toHaveLength(sequence.length);
    expect(a.responses).toEqual(b.responses);
    expect(a.responses.map((r) => r.slice(9, 12))).toEqual(['200', '200', '200', '200', '404', '200', '200', '200', '200', '200']);
    expect(main.saw.n - before).toBe(lent.length); // the plain ones after a lent request were the front's again

    // A body arriving after its head, in pieces, with a plain request behind it.
    const at = post.indexOf('\r\n\r\n') + 10;
    const pieces = [plain('u6') + post.slice(0, at), post.slice(at, at + 5), post.slice(at + 5) + plain('u8', 2)];
    const [c, d] = await both(main, pieces, { count: 3, gapMs: 20 });
    expect(c.responses).toHaveLength(3);
    expect(c.responses).toEqual(d.responses);
    expect(main.saw.n - before).toBe(lent.length + 1);
  });

  it('a connection that only asks for other routes is given to Node for good after four of them', async () => {
    // Not plain (a parameter other than k), and each URL new, so never a cache hit either.
    let next = 20;
    const others = (n: number): string => Array.from({ length: n }, () => get(`/v1/users/u${next++}/recommendations?k=2&filterSeen=true`)).join('');
    let before = main.saw.n;
    const [a, b] = await both(main, [others(3) + plain('u12')], { count: 4 });
    expect(a.responses).toEqual(b.responses);
    expect(main.saw.n - before).toBe(3); // lent, then the plain request is the front's
    before = main.saw.n;
    const [c, d] = await both(main, [others(5), plain('u12')], { count: 6, gapMs: 30 });
    expect(c.responses).toHaveLength(6);
    expect(c.responses).toEqual(d.responses);
    expect(main.saw.n - before).toBe(6); // Node's from the fifth request on: the plain one too
  });

  it('count in /metrics as they do without the front', async () => {
    const lines = async (port: number): Promise<string[]> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return text.split('\n').filter((l) => /^fastrec_(http_requests_total|cache_hits_total|cache_misses_total)/.test(l));
    };
    const [a, b] = await Promise.all([lines(main.frontPort), lines(main.refPort)]);
    expect(a.some((l) => l.includes('route="/v1/users/:id/recommendations",status="200"'))).toBe(true);
    expect(a).toEqual(b);
  });

  it("HTTP/1.0, Expect, upgrades, bodies and malformed heads get Node's and Fastify's own answers", async () => {
    const u = '/v1/users/u1/recommendations';
    const cases: [string, string | Buffer][] = [
      ['HTTP/1.0', `GET ${u} HTTP/1.0\r\n\r\n`],
      ['HTTP/1.0 keep-alive', `GET ${u} HTTP/1.0\r\nConnection: keep-alive\r\n${H}\r\n`],
      ['no Host', `GET ${u} HTTP/1.1\r\n\r\n`],
      ['two Hosts', `GET ${u} HTTP/1.1\r\n${H}${H}\r\n`],
      ['header without colon', `GET ${u} HTTP/1.1\r\n${H}Bad Header\r\n\r\n`],
      ['control byte in a value', `GET ${u} HTTP/1.1\r\n${H}X-A: a\u0001b\r\n\r\n`],
      ['space before the colon', `GET ${u} HTTP/1.1\r\n${H}X-A : b\r\n\r\n`],
      ['folded header', `GET ${u} HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`],
      ['bare LF', `GET ${u} HTTP/1.1\n${H.trim()}\n\n`],
      ['lower-case method', `get ${u} HTTP/1.1\r\n${H}\r\n`],
      ['unknown method', `FETCH ${u} HTTP/1.1\r\n${H}\r\n`],
      ['version 2.0', `GET ${u} HTTP/2.0\r\n${H}\r\n`],
      ['garbage', 'hello\r\n\r\n'],
      ['URL with a raw 0xff byte', Buffer.concat([Buffer.from(`GET /v1/users/u`), Buffer.from([0xff]), Buffer.from(`/recommendations HTTP/1.1\r\n${H}\r\n`)])],
      ['two Content-Lengths', `GET ${u} HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 0\r\n\r\n`],
      ['chunked GET', `GET ${u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      ['GET with a body', `GET ${u} HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`],
      ['Expect', `GET ${u} HTTP/1.1\r\n${H}Expect: 100-continue\r\n\r\n`],
      ['unknown Expect', `GET ${u} HTTP/1.1\r\n${H}Expect: magic\r\n\r\n`],
      ['upgrade', `GET ${u} HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`],
      ['CONNECT', `CONNECT 127.0.0.1:1 HTTP/1.1\r\n${H}\r\n`],
      ['HEAD, then a plain GET', `HEAD ${u} HTTP/1.1\r\n${H}\r\n${plain('u2')}`],
    ];
    for (const [name, bytes] of cases) {
      const [a, b] = await both(main, [bytes], { untilClose: true, waitMs: 400 });
      expect(a.raw, name).toBe(b.raw);
      expect(a.closed, name).toBe(b.closed);
    }
    // Malformed heads are Node's 400 through Fastify's clientError handler, and the connection closes.
    const [bad] = await both(main, [`GET ${u} HTTP/1.1\r\n${H}Bad Header\r\n\r\n`], { untilClose: true });
    expect(bad.responses[0]).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(bad.closed).toBe(true);
  });

  it('oversized heads: past the front\'s limit Node answers, past Node\'s its 431', async () => {
    const before = main.saw.n;
    const [a, b] = await both(main, [plain('u9').replace('\r\n\r\n', `\r\nX-Pad: ${'a'.repeat(10_000)}\r\n\r\n`) + plain('u10')], { count: 2 });
    expect(a.responses).toHaveLength(2);
    expect(a.responses).toEqual(b.responses);
    expect(main.saw.n - before).toBe(2); // Node's for good: the request after it too
    const [c, d] = await both(main, [plain('u9').replace('\r\n\r\n', `\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`)], { untilClose: true });
    expect(c.responses[0]).toMatch(/^HTTP\/1\.1 431 /);
    expect(c.responses).toEqual(d.responses);
    expect([c.closed, d.closed]).toEqual([true, true]);
  });
});

describe("Node's timeouts and graceful close", () => {
  it('a slow head, a connection never used and an idle keep-alive connection are closed as Node closes them', async () => {
    const p = await pair((s) => {
      s.headersTimeout = 300;
      (s as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = 50;
      s.keepAliveTimeout = 400;
    });
    try {
      const [slow, fresh, idle] = await Promise.all([
        both(p, ['GET /v1/users/u1/recommendations HTTP/1.1\r\n', H], { untilClose: true, gapMs: 100 }),
        both(p, [], { untilClose: true }),
        both(p, [plain('u2')], { untilClose: true, waitMs: 4000 }),
      ]);
      for (const [a, b] of [slow, fresh]) {
        expect(a.responses).toEqual(b.responses);
        expect(a.responses[0]).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
        expect(a.closed).toBe(true);
        expect(a.ms).toBeGreaterThanOrEqual(300);
        expect(a.ms).toBeLessThan(1500);
      }
      const [a, b] = idle;
      expect(a.responses).toEqual(b.responses);
      expect(a.responses[0]).toMatch(/Keep-Alive: timeout=0\r\n/);
      expect([a.closed, b.closed]).toEqual([true, true]);
      // Node closes 1 s past keepAliveTimeout.
      expect(a.ms).toBeGreaterThanOrEqual(1300);
      expect(a.ms).toBeLessThan(3000);
      expect(p.saw.n).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('close(): idle connections close at once, a head completed after it gets the 503, then the service stops', async () => {
    const p = await pair();
    const open = (port: number): { socket: net.Socket; data: () => string; closed: Promise<void> } => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d.toString('latin1')));
      socket.on('error', () => {});
      return { socket, data: () => text.replace(/\r\nDate: [^\r]*/g, '\r\nDate: -'), closed: new Promise((resolve) => socket.on('close', () => resolve())) };
    };
    const until = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    const run = async (app: FastifyInstance, port: number): Promise<{ idle: string; late: string; ms: number }> => {
      const idle = open(port);
      idle.socket.write(plain('u3'));
      await until(() => idle.data().includes('"items"'));
      const late = open(port);
      late.socket.write('GET /v1/users/u4/recommendations HTTP/1.1\r\n');
      await new Promise((r) => setTimeout(r, 50));
      const t0 = performance.now();
      const closed = app.close();
      await idle.closed;
      const ms = performance.now() - t0;
      late.socket.write(`${H}\r\n`);
      await late.closed;
      await closed;
      return { idle: idle.data(), late: late.data(), ms };
    };
    const [a, b] = await Promise.all([run(p.front, p.frontPort), run(p.ref, p.refPort)]);
    expect(a.idle).toBe(b.idle);
    expect(a.late).toBe(b.late);
    expect(a.late).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*Connection: close\r\n/);
    expect(a.ms).toBeLessThan(500);
  });

  it('answers the requests being scored when close() begins, the last with Connection: close, and closes every connection', async () => {
    let server: http.Server | undefined;
    let closeOnNext = false;
    let closedCallback = false;
    const answer = (id: string) => {
      if (closeOnNext) {
        closeOnNext = false; // close while this turn's batch is being scored
        server!.close(() => (closedCallback = true));
      }
      return JSON.stringify({ user: id });
    };
    const fp = { metrics: new Metrics(), maxK: 50, closing: () => false, routes: [{ prefix: '/v1/users/', suffix: '/recommendations', route: '/v1/users/:id/recommendations', answer }] };
    server = serverWithFastPath(fp)((_req, res) => res.writeHead(299).end('node'), {});
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    // One connection answered once (idle now), one never used.
    const kept = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
    const keptClosed = kept.map((s) => new Promise<void>((resolve) => s.on('close', () => resolve())));
    let warm = '';
    kept[0]!.on('data', (d) => (warm += d));
    for (const s of kept) s.on('error', () => {});
    kept[0]!.write(plain('warm'));
    for (let i = 0; i < 200 && !warm.endsWith('{"user":"warm"}'); i++) await new Promise((r) => setTimeout(r, 10));
    closeOnNext = true;
    const busy = await exchange(port, [plain('x') + plain('y', 2) + plain('z', 3)], { untilClose: true, waitMs: 2000 });
    await Promise.all(keptClosed);
    expect(busy.responses).toHaveLength(3);
    expect(busy.closed).toBe(true);
    expect(busy.responses.map((r) => /Connection: (\S+)\r\n/.exec(r)![1])).toEqual(['keep-alive', 'keep-alive', 'close']);
    expect(busy.responses[2]).toMatch(/\r\n\r\n\{"user":"z"\}$/);
    for (let i = 0; i < 100 && !closedCallback; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closedCallback).toBe(true); // server.close's callback: every connection is gone
  });

  it('servers with maxRequestsPerSocket are Node\'s alone (its counts, Keep-Alive max and 503s)', async () => {
    let scored = 0;
    const fp = { metrics: new Metrics(), maxK: 50, closing: () => false, routes: [{ prefix: '/v1/users/', suffix: '/recommendations', route: 'r', answer: () => String(++scored) }] };
    const handler: http.RequestListener = (req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`node ${req.url}`);
    const withFront = serverWithFastPath(fp)(handler, { maxRequestsPerSocket: 2 });
    const plainNode = http.createServer(handler);
    plainNode.maxRequestsPerSocket = 2;
    const ports: number[] = [];
    for (const s of [withFront, plainNode]) {
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      ports.push((s.address() as net.AddressInfo).port);
    }
    try {
      const three = [plain('a'), plain('b'), plain('c')].join('');
      const [a, b] = await Promise.all(ports.map((port) => exchange(port, [three], { count: 3 })));
      expect(a.responses).toEqual(b.responses);
      expect(a.responses.map((r) => r.slice(9, 12))).toEqual(['200', '200', '503']);
      expect(a.responses[0]).toMatch(/Keep-Alive: timeout=5, max=2\r\n/);
      expect(scored).toBe(0);
    } finally {
      for (const s of [withFront, plainNode]) await new Promise((resolve) => s.close(resolve));
    }
  });
});

describe('heads the front reads (parseHead)', () => {
  const head = (s: string) => parseHead(Buffer.from(s, 'latin1'), 0, s.indexOf('\r\n\r\n'));
  it('reads the method, target, Connection: close and Content-Length', () => {
    expect(head(`GET /a?b=1 HTTP/1.1\r\nhOsT: x\r\nconnection:  Close \r\n\r\n`)).toEqual({ method: 'GET', url: '/a?b=1', close: true, contentLength: 0 });
    expect(head(`POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n`)).toEqual({ method: 'POST', url: '/p', close: false, contentLength: 12 });
  });
  it('refuses what it is not sure about', () => {
    for (const s of [
      `GET /a HTTP/1.0\r\nHost: x\r\n\r\n`,
      `GET /a HTTP/1.1\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, TE\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\nX: \u00e9\r\n\r\n`,
      `GET /a HTTP/1.1\r\nHost: x\r\n\tX: 1\r\n\r\n`,
      `GET /\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET  /a HTTP/1.1\r\nHost: x\r\n\r\n`,
      `G(T /a HTTP/1.1\r\nHost: x\r\n\r\n`,
      `CONNECT a:1 HTTP/1.1\r\nHost: x\r\n\r\n`,
    ]) {
      expect(head(s), JSON.stringify(s)).toBeUndefined();
    }
  });
});
