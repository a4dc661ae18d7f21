/**
 * The socket front (lib/server/socketfront.ts) over real sockets. What a
 * client sees must be what Node and Fastify send with the front off (a
 * second service with `logRequests: true`, which has no front), byte for
 * byte apart from the Date header: plain requests and cache hits, pipelined
 * requests the front lends to Node in the middle of its own (in order; the
 * connection comes back afterwards), heads it leaves to Node for good
 * (HTTP/1.0, Expect, upgrades, malformed or oversized heads), Node's
 * timeouts (slow head, idle keep-alive) and graceful close. And visitor
 * POSTs: valid JSON bodies answered here (split at every byte, pipelined),
 * every other body lent to Fastify intact, a slow or cut body as in Node.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as net from 'node:net';
import * as http from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer, routeBodyValidator } from '../lib/server/app.js';
import * as S from '../lib/server/schemas.js';
import Fastify from 'fastify';
import { parseJsonBody, serverWithFastPath, validateBody } from '../lib/server/fastpath.js';
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
async function pair(tweak?: (s: http.Server) => void, modelPath = path): Promise<Pair> {
  const options = { modelPath, token: TOKEN, logger: false as const, ann: { ef: 100 }, maxK: 50, cacheUsers: 20 };
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
 * Write `writes` on a new connection (`gapMs` apart, or gaps[i] ms after
 * write i), then wait until `count` responses arrived (or, with untilClose,
 * the server closed it), at most waitMs. With `end`, half-close after the
 * last write.
 */
function exchange(port: number, writes: (string | Buffer)[], opts: { count?: number; untilClose?: boolean; gapMs?: number; gaps?: number[]; waitMs?: number; end?: boolean } = {}): Promise<Exchange> {
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
      if (done) return;
      if (i >= writes.length) {
        if (opts.end) socket.end();
        return;
      }
      const gap = opts.gaps?.[i] ?? opts.gapMs;
      socket.write(writes[i++]!);
      if (gap) setTimeout(next, gap);
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
    // With a query string the visitor route is Fastify's (the front answers only `POST /v1/recommendations` exactly).
    const post = `POST /v1/recommendations?via=node HTTP/1.1\r\n${H}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(visitor)}\r\n\r\n${visitor}`;
    const frontPost = post.replace('?via=node', '');
    const lent = [
      post,
      get('/v1/users/nobody/recommendations'), // plain, but unknown: scored, then lent (404)
      get('/v1/users/u3/recommendations?k=5&filterSeen=false'),
      get('/v1/users/u3/recommendations?k=4&exclude=i1,i2'),
      get('/v1/users/u3/recommendations?context=home'),
    ];
    const sequence = [plain('u1'), plain('u2', 3), lent[0]!, plain('u3'), frontPost, lent[1]!, lent[2]!, plain('u1'), lent[3]!, lent[4]!, plain('u4', 7)];
    const [a, b] = await both(main, [sequence.join('')], { count: sequence.length });
    expect(a.responses).toHaveLength(sequence.length);
    expect(a.responses).toEqual(b.responses);
    expect(a.responses.map((r) => r.slice(9, 12))).toEqual(['200', '200', '200', '200', '200', '404', '200', '200', '200', '200', '200']);
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
  it('reads the Content-Type (and marks a repeated one)', () => {
    expect(head(`POST /p HTTP/1.1\r\nHost: x\r\ncontent-TYPE:  application/json \r\nContent-Length: 2\r\n\r\n`)?.contentType).toBe('application/json');
    expect(head(`POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n`)?.contentType).toBeUndefined();
    expect(head(`POST /p HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Type: a/b\r\n\r\n`)?.contentType).toBe('');
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

describe('POST /v1/recommendations on the front (a JSON body that passes the route\'s own validation)', () => {
  // A model with its serving indexes stored: both services map the same graphs (include lists search them).
  let posts: Pair;
  let indexedPath: string;
  beforeAll(async () => {
    indexedPath = join(dir, 'als-indexed.fastrec');
    await saveSmallAls(indexedPath, 1, true);
    posts = await pair(undefined, indexedPath);
  });
  afterAll(async () => {
    await posts?.close();
  });

  const ROUTE = '/v1/recommendations';
  /** A POST with a body (Content-Length from the body; type undefined: no Content-Type header). */
  const post = (body: string | Buffer, opts: { type?: string | undefined; extra?: string; url?: string } = {}): Buffer => {
    const type = 'type' in opts ? opts.type : 'application/json';
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const head = `POST ${opts.url ?? ROUTE} HTTP/1.1\r\n${H}${type === undefined ? '' : `Content-Type: ${type}\r\n`}Content-Length: ${bytes.length}\r\n${opts.extra ?? ''}\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
  };
  const json = (v: unknown): Buffer => post(JSON.stringify(v));
  const status = (r: string): string => r.slice(9, 12);
  const OK = /^HTTP\/1\.1 200 OK\r\ncontent-type: application\/json; charset=utf-8\r\ncontent-length: \d+\r\nDate: -\r\nConnection: keep-alive\r\nKeep-Alive: timeout=72\r\n\r\n\{"model":"als",/;

  const valid: unknown[] = [
    { items: ['i1', 'i2'] },
    { items: ['i1', 'i2', 'i3'], k: 5 },
    { items: [79, 'i4'] }, // a numeric id
    { items: [{ item: 'i1', value: 2.5 }, { item: 79 }, 'i5'], k: 7 },
    { items: ['i41', 'i42'], basket: ['i43'], k: 3 },
    { basket: ['i1', 'i2'] },
    { items: ['i1'], filterSeen: false, k: 4 },
    { items: ['i1', 'i2'], exclude: ['i3', 'i4', 79], k: 6 },
    { items: ['i1', 'i2'], include: ['i3', 'i4', 'i5', 'i6', 79], k: 3 },
    { items: ['i1'], context: 'home' },
    { items: ['nope', 'i2'] }, // unknown items are ignored
    { items: ['i50'], k: 50 }, // the largest k
    { items: ['i1'], k: '5' }, // coerced by the route's validator (coerceTypes)
    { items: ['i1'], filterSeen: 'false', k: 2 },
  ];

  it('answers valid bodies of every shape with the bytes Fastify sends, without reaching Fastify', async () => {
    const before = posts.saw.n;
    for (const body of valid) {
      const [a, b] = await both(posts, [json(body)], { count: 1 });
      expect(a.responses, JSON.stringify(body)).toHaveLength(1);
      expect(a.responses, JSON.stringify(body)).toEqual(b.responses);
      expect(a.responses[0], JSON.stringify(body)).toMatch(OK);
    }
    // Whitespace, escapes, a byte order mark (Fastify's parser drops it), other spellings of the JSON type,
    // invalid UTF-8 in an id (decoded as U+FFFD by both), Connection: close.
    const odd: Buffer[] = [
      post('{ "items" : [ "i\\u0031", "i2" ] ,\n "k":3 }'),
      post('\ufeff{"items":["i3"]}'),
      post('{"items":["i1"]}', { type: 'application/json; charset=utf-8' }),
      post('{"items":["i2"]}', { type: 'Application/JSON; Charset=UTF-8' }),
      post(Buffer.concat([Buffer.from('{"items":["i1","x'), Buffer.from([0xff]), Buffer.from('"]}')])),
    ];
    for (const bytes of odd) {
      const [a, b] = await both(posts, [bytes], { count: 1 });
      expect(a.responses, bytes.toString()).toHaveLength(1);
      expect(a.responses, bytes.toString()).toEqual(b.responses);
      expect(status(a.responses[0]!)).toBe('200');
    }
    const [c, d] = await both(posts, [post('{"items":["i7"]}', { extra: 'Connection: close\r\n' })], { untilClose: true });
    expect(c.responses).toEqual(d.responses);
    expect(c.responses[0]).toMatch(/\r\nConnection: close\r\n\r\n\{/);
    expect([c.closed, d.closed]).toEqual([true, true]);
    // Every one of them in one write.
    const all = Buffer.concat(valid.map(json));
    const [e, f] = await both(posts, [all], { count: valid.length });
    expect(e.responses).toHaveLength(valid.length);
    expect(e.responses).toEqual(f.responses);
    expect(posts.saw.n - before).toBe(0);
    // And the answers are the model's: k items, best first.
    const items = (JSON.parse(e.responses[1]!.slice(e.responses[1]!.indexOf('\r\n\r\n') + 4)) as { items: { score: number }[] }).items;
    expect(items).toHaveLength(5);
    for (let r = 1; r < items.length; r++) expect(items[r]!.score).toBeLessThanOrEqual(items[r - 1]!.score);
  });

  it('a body split across writes at every byte boundary, and a byte per write', async () => {
    const before = posts.saw.n;
    const bytes = Buffer.concat([json({ items: ['i1', 'i9'], k: 4 }), Buffer.from(plain('u3', 2))]);
    const [want] = await both(posts, [bytes], { count: 2 });
    expect(want.responses).toHaveLength(2);
    for (let at = 1; at < bytes.length; at++) {
      const [a, b] = await both(posts, [bytes.subarray(0, at), bytes.subarray(at)], { count: 2, gapMs: 2 });
      expect(a.responses, `split at ${at}`).toEqual(want.responses);
      expect(b.responses, `split at ${at}`).toEqual(want.responses);
    }
    const single = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    const [c, d] = await both(posts, single, { count: 2, gapMs: 1 });
    expect(c.responses).toEqual(want.responses);
    expect(d.responses).toEqual(want.responses);
    expect(posts.saw.n - before).toBe(0);
  });

  it('pipelined with GETs and lent requests on one connection: answered in order', async () => {
    const before = posts.saw.n;
    const bad = post('{"items":[');
    const seq = [json({ items: ['i1'] }), plain('u4'), json({ items: ['i2'], k: 2 }), bad, json({ items: ['i3'], k: 3 }), get('/v1/items/i5/similar?k=2'), json({ basket: ['i4'] })];
    const [a, b] = await both(posts, [Buffer.concat(seq.map((x) => Buffer.from(x)))], { untilClose: true, waitMs: 1000 });
    expect(a.raw).toBe(b.raw);
    expect(a.closed).toBe(b.closed);
    // Fastify closes the connection after the invalid body (its parser errors send `Connection: close`).
    expect(a.responses.map(status)).toEqual(['200', '200', '200', '400']);
    expect(posts.saw.n - before).toBe(1);
    // Without the invalid one: all seven answered, in order; the lent one in the middle reached Fastify alone.
    const seq2 = [json({ items: ['i1'] }), plain('u4'), json({ items: ['i2'], k: 2 }), post('{"items":["i1"]}', { url: `${ROUTE}?via=node` }), json({ items: ['i3'], k: 3 }), get('/v1/items/i5/similar?k=2'), json({ basket: ['i4'] })];
    const [c, d] = await both(posts, [Buffer.concat(seq2.map((x) => Buffer.from(x)))], { count: seq2.length });
    expect(c.responses).toHaveLength(seq2.length);
    expect(c.responses).toEqual(d.responses);
    expect(c.responses.map(status)).toEqual(['200', '200', '200', '200', '200', '200', '200']);
    expect(posts.saw.n - before).toBe(2);
  });

  it("invalid, unusual or oversize requests get Fastify's and Node's own answers, with the body intact", async () => {
    const big = { items: Array.from({ length: 900 }, (_, i) => `i${i % 79}`), k: 5 }; // > 4 KiB: Fastify's (and valid)
    expect(JSON.stringify(big).length).toBeGreaterThan(4096);
    const chunked = (body: string): string => `POST ${ROUTE} HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const cases: [string, Buffer | string, number][] = [
      ['invalid JSON', post('{"items":['), 1],
      ['not JSON at all', post('items=i1'), 1],
      ['empty body', post(''), 1],
      ['JSON null', post('null'), 1],
      ['JSON array', post('["i1"]'), 1],
      ['JSON string', post('"i1"'), 1],
      ['k 0', json({ items: ['i1'], k: 0 }), 1],
      ['k above maxK', json({ items: ['i1'], k: 51 }), 1],
      ['k not an integer', json({ items: ['i1'], k: 2.5 }), 1],
      ['an unknown property', json({ items: ['i1'], foo: 1 }), 1],
      ['items not an array', json({ items: 'i1' }), 1],
      ['a context with a space', json({ items: ['i1'], context: 'a b' }), 1],
      ['a negative value', json({ items: [{ item: 'i1', value: -1 }] }), 1],
      ['an item object without item', json({ items: [{ value: 1 }] }), 1],
      ['an empty id', json({ items: [''] }), 1],
      ['__proto__', post('{"items":["i1"],"__proto__":{"k":3}}'), 1],
      ['escaped __proto__', post('{"items":["i1"],"\\u005f_proto__":{"k":3}}'), 1],
      ['constructor.prototype', post('{"items":["i1"],"constructor":{"prototype":{"k":3}}}'), 1],
      ['text/plain', post('{"items":["i1"]}', { type: 'text/plain' }), 1],
      ['no Content-Type', post('{"items":["i1"]}', { type: undefined }), 1],
      ['a form', post('items=i1', { type: 'application/x-www-form-urlencoded' }), 1],
      ['another charset', post('{"items":["i1"]}', { type: 'application/json; charset=latin1' }), 1],
      ['application/jsonx', post('{"items":["i1"]}', { type: 'application/jsonx' }), 1],
      ['two Content-Types', post('{"items":["i1"]}', { extra: 'Content-Type: text/plain\r\n' }), 1],
      ['a query string', post('{"items":["i1"]}', { url: `${ROUTE}?k=3` }), 1],
      ['a trailing slash', post('{"items":["i1"]}', { url: `${ROUTE}/` }), 1],
      ['oversize body', json(big), 1],
      ['chunked body', chunked('{"items":["i1"],"k":2}'), 1],
      ['Expect: 100-continue', post('{"items":["i1"]}', { extra: 'Expect: 100-continue\r\n' }), 1],
      ['PUT', post('{"items":["i1"]}').toString('latin1').replace('POST', 'PUT'), 1],
    ];
    for (const [name, bytes, toFastify] of cases) {
      const before = posts.saw.n;
      const [a, b] = await both(posts, [bytes], { untilClose: true, waitMs: 400 });
      expect(a.raw, name).toBe(b.raw);
      expect(a.closed, name).toBe(b.closed);
      expect(a.responses.length, name).toBeGreaterThan(0);
      expect(posts.saw.n - before, name).toBeGreaterThanOrEqual(toFastify);
    }
    // The valid ones among them were answered by the route (not refused): 200s.
    for (const name of ['another charset', 'a query string', 'oversize body', 'chunked body']) {
      const bytes = cases.find((c) => c[0] === name)![1];
      const [a] = await both(posts, [bytes], { count: 1 });
      expect(status(a.responses[0]!), name).toBe('200');
    }
  });

  it('count in /metrics as the route counts them', async () => {
    const lines = async (port: number): Promise<string[]> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return text.split('\n').filter((l) => l.startsWith('fastrec_http_requests_total') || l.startsWith('fastrec_http_request_duration_seconds_count'));
    };
    const [a, b] = await Promise.all([lines(posts.frontPort), lines(posts.refPort)]);
    expect(a.some((l) => l.includes('method="POST",route="/v1/recommendations",status="200"'))).toBe(true);
    expect(a.some((l) => l.includes('method="POST",route="/v1/recommendations",status="400"'))).toBe(true);
    expect(a.some((l) => l.includes('method="POST",route="/v1/recommendations",status="415"'))).toBe(true);
    expect(a).toEqual(b);
  });

  it('garbage right behind a valid body: the answer, then Node\'s 400 (a deliberate difference)', async () => {
    // Garbage pipelined right behind a valid body: Node's parser errors on it while Fastify still waits for
    // the body's 'end', and Fastify's 400 goes out alone. The front has answered the request by then, as Node
    // does for a GET followed by garbage (or when the garbage comes a moment later): its 200, then the same 400.
    const garbage = Buffer.from('xyz\r\n\r\n');
    const [g, h] = await both(posts, [Buffer.concat([json({ items: ['i1'] }), garbage])], { untilClose: true, waitMs: 400 });
    const [alone] = await both(posts, [json({ items: ['i1'] })], { count: 1 });
    expect(h.responses.map(status)).toEqual(['400']);
    expect(g.responses).toEqual([alone.responses[0], h.responses[0]]);
    expect([g.closed, h.closed]).toEqual([true, true]);
    const [g2, h2] = await both(posts, [plain('u1') + garbage], { untilClose: true, waitMs: 400 });
    expect(g2.raw).toBe(h2.raw);
    expect(g2.responses.map(status)).toEqual(['200', '400']);
  });

  it("a slow body: requestTimeout (not headersTimeout) as in Node, and a body that comes in time is answered", async () => {
    const p = await pair((s) => {
      s.headersTimeout = 200;
      s.requestTimeout = 600;
      (s as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = 50;
    }, indexedPath);
    try {
      const bytes = json({ items: ['i1', 'i2'], k: 3 });
      const at = bytes.indexOf('\r\n\r\n') + 8;
      const [stalled, inTime] = await Promise.all([
        both(p, [bytes.subarray(0, at)], { untilClose: true }),
        both(p, [bytes.subarray(0, at), bytes.subarray(at)], { count: 1, gapMs: 300 }),
      ]);
      const [a, b] = stalled;
      expect(a.raw).toBe(b.raw);
      expect(a.responses[0]).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect([a.closed, b.closed]).toEqual([true, true]);
      for (const x of [a, b]) {
        expect(x.ms).toBeGreaterThanOrEqual(600);
        expect(x.ms).toBeLessThan(1500);
      }
      const [c, d] = inTime;
      expect(c.responses).toHaveLength(1);
      expect(c.responses).toEqual(d.responses);
      expect(status(c.responses[0]!)).toBe('200');
      expect(p.saw.n).toBe(0); // both answered (or timed out) by the front
    } finally {
      await p.close();
    }
  });

  it("a body stalled longer than the keep-alive timer after an earlier answer: no timeout, as in Node (requestTimeout 0, Fastify's default)", async () => {
    const p = await pair((s) => {
      s.keepAliveTimeout = 300; // Node's socket timer: 1.3 s after an answer
    }, indexedPath);
    try {
      const bytes = json({ items: ['i2'], k: 2 });
      const at = bytes.indexOf('\r\n\r\n') + 6;
      const [a, b] = await both(p, [plain('u5'), bytes.subarray(0, at), bytes.subarray(at)], { count: 2, gaps: [100, 1700], waitMs: 4000 });
      expect(a.responses).toHaveLength(2);
      expect(a.responses).toEqual(b.responses);
      expect(a.responses.map(status)).toEqual(['200', '200']);
      expect(a.ms).toBeGreaterThan(1700);
      expect(p.saw.n).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('a connection closed mid-body: Node gets what came and the end, and answers as it does without the front', async () => {
    const bytes = json({ items: ['i1', 'i2'], k: 3 });
    for (const at of [bytes.indexOf('\r\n\r\n') + 4, bytes.indexOf('\r\n\r\n') + 9, bytes.length - 1]) {
      const [a, b] = await both(posts, [bytes.subarray(0, at)], { end: true, untilClose: true, waitMs: 2000 });
      expect(a.raw, `at ${at}`).toBe(b.raw);
      expect([a.closed, b.closed], `at ${at}`).toEqual([true, true]);
    }
    // Reset mid-body: nothing to answer; the service goes on.
    const s = net.connect(posts.frontPort, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((resolve) => s.once('connect', resolve));
    s.write(bytes.subarray(0, bytes.length - 3));
    await new Promise((resolve) => setTimeout(resolve, 30));
    s.resetAndDestroy();
    const [c, d] = await both(posts, [bytes], { count: 1 });
    expect(c.responses).toEqual(d.responses);
    expect(status(c.responses[0]!)).toBe('200');
  });

  it('close() while a body is on its way: the request, read before, is answered; then the connection closes', async () => {
    const p = await pair(undefined, indexedPath);
    const bytes = json({ items: ['i1', 'i4'], k: 4 });
    const run = async (app: FastifyInstance, port: number): Promise<{ text: string; closed: boolean }> => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      let closed = false;
      socket.on('data', (d) => (text += d.toString('latin1')));
      socket.on('error', () => {});
      const gone = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(bytes.subarray(0, bytes.length - 5));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const closing = app.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.write(bytes.subarray(bytes.length - 5));
      await Promise.race([gone.then(() => (closed = true)), new Promise((resolve) => setTimeout(resolve, 1000))]);
      socket.destroy(); // Node keeps its connection open for keepAliveTimeout (a deliberate difference: socketfront.ts)
      await closing;
      return { text: text.replace(/\r\nDate: [^\r]*/g, '\r\nDate: -'), closed };
    };
    const [a, b] = await Promise.all([run(p.front, p.frontPort), run(p.ref, p.refPort)]);
    expect(b.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\nConnection: keep-alive\r\n/);
    expect(a.text).toBe(b.text.replace('Connection: keep-alive\r\nKeep-Alive: timeout=72\r\n', 'Connection: close\r\n'));
    expect(a.closed).toBe(true);
    expect(p.saw.n).toBe(0);
  });

  it("uses the route's own compiled validator (Fastify's compiler gives back the function it compiled for the same schema object)", async () => {
    const schema = S.visitorBody(50);
    const app = Fastify({ logger: false, ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: false } } });
    let seen: unknown;
    app.post('/v', { schema: { body: schema } }, async (req) => {
      seen = req.getValidationFunction('body');
      return {};
    });
    await app.ready();
    try {
      await app.inject({ method: 'POST', url: '/v', payload: { items: ['a'] } });
      const mine = routeBodyValidator(app, schema, '/v');
      expect(typeof seen).toBe('function');
      expect(mine).toBe(seen);
      // And it is called as Fastify calls it: coercing in place, refusing what the schema refuses.
      expect(validateBody(mine!, { items: ['a'], k: '3' })).toEqual({ value: { items: ['a'], k: 3 } });
      expect(validateBody(mine!, { items: ['a'], k: 0 })).toBeUndefined();
      expect(validateBody(mine!, null)).toBeUndefined();
      expect(routeBodyValidator(app, S.visitorBody(50), '/v')).not.toBe(seen); // another object: compiled anew
    } finally {
      await app.close();
    }
  });

  it('parses a body as Fastify does, refusing what Fastify might read differently', () => {
    expect(parseJsonBody(Buffer.from('{"items":["i1"],"k":2}'))).toEqual({ value: { items: ['i1'], k: 2 } });
    expect(parseJsonBody(Buffer.from('\ufeff{"k":2}'))).toEqual({ value: { k: 2 } });
    expect(parseJsonBody(Buffer.from('{"a":"\u00e9"}'))).toEqual({ value: { a: '\u00e9' } });
    for (const bad of ['', '{', '{"__proto__":{}}', '{"\\u005f_proto__":{}}', '{"constructor":{"prototype":{}}}', 'undefined']) {
      expect(parseJsonBody(Buffer.from(bad)), bad).toBeUndefined();
    }
  });
});
