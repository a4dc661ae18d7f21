/**
 * A socket-level front for the service's hot route, in front of Node's own
 * HTTP handling.
 *
 * Why: with the HNSW search at ~40 µs, Node's HTTP layer was the largest
 * remaining cost of a scored request (~40 µs of ~100 µs of server CPU:
 * parser callbacks, IncomingMessage/ServerResponse objects, header handling,
 * streams). Measured on this machine (bench/README.md, HTTP service section):
 * a trivial node:http server answering fixed bytes costs 55-61 µs of server
 * CPU per request, a net.Server that finds the end of the head and writes
 * prebuilt bytes 30-33 µs.
 *
 * How: the HTTP server stays a node:http Server (Fastify gets it from its
 * serverFactory, and everything else is Node's and Fastify's). The front
 * takes over its 'connection' event and reads each connection itself. A
 * request it is sure about: `<METHOD> <target> HTTP/1.1`, headers of plain
 * tokens and printable values ending in CRLF CRLF within a size limit, one
 * Host, no Transfer-Encoding, Expect or Upgrade, at most one Content-Length,
 * `Connection` absent, `keep-alive` or `close`. If it is a GET without a body
 * and the handler takes it (FrontHandler.accept), the front answers it: at
 * once when the answer is known (a cache hit), otherwise with the other
 * requests read in the same event-loop turn (FrontHandler.score for all of
 * them, then all the writes), in order per connection, with the headers Node
 * would write (Date, Connection, Keep-Alive). Any other such request is lent
 * to Node: its bytes go through a stream.Duplex bridge given to Node's
 * original connection listener, and once Node's answer is finished (and the
 * request fully read) the front takes the connection back; the bridge stays
 * parked with Node for the connection's next lent request. Anything the front
 * is not sure about (another HTTP version, a malformed or oversized head, a
 * chunked body, Expect, an upgrade, CONNECT), and a connection that lent four
 * requests without one answered here (a client of other routes), is Node's
 * for good: the socket itself, the bytes already read put back with
 * Readable.unshift, so Node's native parser reads it from then on (a client
 * half-closing mid request gets a bridge instead). Node then answers as it
 * always does (its own 400, 408, 431 and so on). Answers the front already
 * owes on a connection are written before Node gets any byte.
 *
 * Measured costs of the two ways to Node (bare handler, 16 connections,
 * bench/README.md): a lent request ~25 µs of server CPU more than Node alone,
 * a connection given for good the same as Node's own.
 *
 * Node's semantics kept for the connections it answers: headersTimeout and
 * requestTimeout for a head that is slow to arrive (checked every
 * server.connectionsCheckingInterval, the 408 written through the server's
 * 'clientError' event as Node does), keepAliveTimeout once a connection has
 * been answered (socket timeout + 1 s, 'timeout' event or destroy, as Node),
 * `Connection: close`, closeIdleConnections/closeAllConnections. On
 * server.close() the front answers what it has already read, the last answer
 * of each connection with `Connection: close`, and closes the connection
 * (Node would keep it open until keepAliveTimeout); connections idle or
 * never used are closed at once, and a slow head still meets the headers
 * timeout (Node stops that check on close). Servers with
 * maxRequestsPerSocket or a connection timeout (server.timeout) get no front:
 * every connection is Node's from the start. Bytes pipelined after a
 * `Connection: close` request are ignored (Node's parser calls them an
 * error, and Fastify then writes a 400 at once, dropping the answers still
 * being computed).
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** A GET the front may answer. */
export interface FrontRequest {
  /** The request target as sent (only bytes 0x21-0x7E). */
  readonly url: string;
  /** performance.now() when its head was read. */
  readonly t0: number;
  /** The answer's body, set by accept() when known at once or by score(). */
  body: string | Buffer | undefined;
  /** The handler's own note on the request (what accept() found). */
  plan: unknown;
}

export interface FrontHandler {
  /**
   * Take this GET (true) or leave it to Node (false). Set req.body for an
   * answer known now; otherwise score() is called in this turn's batch.
   */
  accept(req: FrontRequest): boolean;
  /** The body for an accepted request, or undefined to let Node answer it (the front lends it). */
  score(req: FrontRequest): string | undefined;
  /** Its answer has been written (status 200). */
  sent(req: FrontRequest): void;
}

const CRLF2 = Buffer.from('\r\n\r\n');
/** Heads longer than this go to Node (at most half of Node's own limit, so Node decides near it). */
const MAX_HEAD = 8192;
/** A connection that lent this many requests and had none answered here is given to Node for good (a client of other routes). */
const LENDS_BEFORE_NODE = 4;
/** Bytes kept while a lent request is with Node before reading stops. */
const MAX_HELD = 64 * 1024;
/** Node writes this when a head is too slow and no 'clientError' listener answers (node:_http_server). */
const REQUEST_TIMEOUT = Buffer.from('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n', 'latin1');

/** Token characters of RFC 9110 (header names, methods). */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

interface Head {
  method: string;
  url: string;
  close: boolean;
  /** Body bytes (Content-Length; 0 without one). */
  body: number;
}

/** `<token> <target> HTTP/1.1` in text[0, eol): the position of the first space, or -1. */
function requestLine(text: string, eol: number): number {
  const sp = text.indexOf(' ');
  if (sp <= 0 || sp > eol) return -1;
  for (let i = 0; i < sp; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || TCHAR[c] !== 1) return -1;
  }
  const version = eol - 9; // ' HTTP/1.1'
  if (version <= sp + 1 || !text.startsWith(' HTTP/1.1', version)) return -1;
  for (let i = sp + 1; i < version; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return -1;
  }
  return sp;
}

/**
 * Could buf[pos..] (no CRLF CRLF yet) still become a head the front reads?
 * False for bytes Node's parser rejects at once (a bare LF or CR, a control
 * or non-ASCII byte, a bad request line): Node then answers without waiting
 * for the rest. Bytes before `from` were checked with an earlier chunk.
 */
function partialHeadOk(buf: Buffer, pos: number, from: number): boolean {
  const n = buf.length;
  for (let i = Math.max(pos, from - 1); i < n; i++) {
    const c = buf[i]!;
    if (c === 10) {
      if (i === pos || buf[i - 1] !== 13) return false;
    } else if (c === 13) {
      if (i + 1 < n && buf[i + 1] !== 10) return false;
    } else if ((c < 0x20 && c !== 9) || c > 0x7e) {
      return false;
    }
  }
  const eol = buf.indexOf('\r\n', pos);
  return eol < 0 || requestLine(buf.toString('latin1', pos, eol + 2), eol - pos) >= 0;
}

/**
 * The head in buf[start, end + 4) (end: where CRLF CRLF starts), or undefined
 * for anything the front does not handle itself or lend (Node's for good).
 */
export function parseHead(buf: Buffer, start: number, end: number): Head | undefined {
  const text = buf.toString('latin1', start, end + 2); // every line ends with CRLF
  const eol = text.indexOf('\r\n');
  const sp = requestLine(text, eol);
  if (sp < 0) return undefined;
  const version = eol - 9;
  const method = text.slice(0, sp);
  if (method === 'CONNECT') return undefined;
  let close = false;
  let hosts = 0;
  let body = -1;
  for (let i = eol + 2; i < text.length; ) {
    const e = text.indexOf('\r\n', i);
    let c = i;
    for (; c < e; c++) {
      const x = text.charCodeAt(c);
      if (x > 127 || TCHAR[x] !== 1) break;
    }
    if (c === i || c === e || text.charCodeAt(c) !== 58 /* : */) return undefined;
    for (let v = c + 1; v < e; v++) {
      const x = text.charCodeAt(v);
      if ((x < 0x20 && x !== 9) || x > 0x7e) return undefined;
    }
    const n = c - i;
    if (n === 4 || n === 6 || n === 7 || n === 10 || n === 14 || n === 17) {
      const value = text.slice(c + 1, e).trim();
      switch (text.slice(i, c).toLowerCase()) {
        case 'host':
          hosts++;
          break;
        case 'connection': {
          const v = value.toLowerCase();
          if (v === 'close') close = true;
          else if (v !== 'keep-alive') return undefined;
          break;
        }
        case 'content-length':
          if (body >= 0 || !/^[0-9]{1,12}$/.test(value)) return undefined;
          body = Number(value);
          break;
        case 'transfer-encoding':
        case 'expect':
        case 'upgrade':
          return undefined;
      }
    }
    i = e + 2;
  }
  // Node answers a missing Host itself (400), and a duplicate is not ours to judge.
  if (hosts !== 1) return undefined;
  return { method, url: text.slice(sp + 1, version), close, body: Math.max(body, 0) };
}

class QueuedRequest implements FrontRequest {
  body: string | Buffer | undefined = undefined;
  plan: unknown = undefined;
  constructor(
    readonly url: string,
    readonly t0: number,
    /** Its head's bytes (lent to Node if it is not answered here). */
    readonly raw: Buffer,
    /** The client asked for `Connection: close`. */
    readonly close: boolean,
  ) {}
}

const enum Mode {
  /** The front reads the connection. */
  Front,
  /** One request is with Node; the front takes the connection back after its answer. */
  Lent,
  /** Node's for good. */
  Node,
}

/** Node's date header value, the same string for a second (as node:_http_outgoing caches it). */
let dateCache: string | undefined;
function utcDate(): string {
  if (dateCache === undefined) {
    const d = new Date();
    dateCache = d.toUTCString();
    setTimeout(() => (dateCache = undefined), 1000 - d.getMilliseconds()).unref();
  }
  return dateCache;
}

/**
 * What Node's connection listener gets instead of the socket: a Duplex whose
 * readable side carries the bytes the front passes on and whose writes go to
 * the socket. When the front takes a lent connection back, the bridge stays
 * with Node, idle between requests (parked), and carries the connection's
 * next lent request: Node's connection set-up (parser, listeners) is paid once
 * per connection, not once per lent request.
 */
class SocketBridge extends Duplex {
  constructor(readonly conn: RawConnection) {
    super({ allowHalfOpen: true });
  }
  override _read(): void {
    this.conn.bridgeReads();
  }
  override _write(chunk: Buffer | string, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    const socket = this.conn.socket;
    if (socket.write(chunk, encoding)) cb();
    else socket.once('drain', () => cb());
  }
  override _writev(chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void {
    const socket = this.conn.socket;
    socket.cork();
    let ok = true;
    for (const c of chunks) ok = socket.write(c.chunk, c.encoding);
    socket.uncork();
    if (ok) cb();
    else socket.once('drain', () => cb());
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.conn.endSocket();
    cb();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn.bridgeDestroyed(this);
    cb(err);
  }
  setTimeout(ms: number, cb?: () => void): this {
    this.conn.socket.setTimeout(ms);
    if (cb) this.once('timeout', cb);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.conn.socket.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.conn.socket.setKeepAlive(enable, delay);
    return this;
  }
  ref(): this {
    this.conn.socket.ref();
    return this;
  }
  unref(): this {
    this.conn.socket.unref();
    return this;
  }
  address(): ReturnType<Socket['address']> {
    return this.conn.socket.address();
  }
  get remoteAddress(): string | undefined {
    return this.conn.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.conn.socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.conn.socket.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.conn.socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.conn.socket.localPort;
  }
  get bytesWritten(): number {
    return this.conn.socket.bytesWritten;
  }
}

/** One client connection read by the front. */
class RawConnection {
  mode = Mode.Front;
  /** Front: the start of a head not complete yet. */
  private rest: Buffer | undefined;
  /** Bytes for Node: waiting for the queued answers to be written, or behind a lent request. */
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  /** With `held` in Front mode: bytes of the request at its start to lend (head + body), or -1: Node's for good. */
  private lendLength = -1;
  /** Requests read and not answered yet, in order. */
  readonly queue: QueuedRequest[] = [];
  /** In the front's batch for this turn. */
  batched = false;
  /** When the head being read began (performance.now()); 0: none. A new connection counts from its start, as in Node. */
  headStart: number;
  /** Any byte received (a connection never used is not idle to closeIdleConnections, as in Node, unless the server closes). */
  private received = false;
  /** Read nothing more: a `Connection: close` request was read, or the socket is ending. */
  private stop = false;
  private eof = false;
  private keepAliveSet = false;
  /** Requests answered here, and requests lent to Node. */
  private answered = 0;
  private lends = 0;
  dead = false;
  private bridge: SocketBridge | undefined;
  /** Lent: body bytes of the lent request not passed to Node yet. */
  private bodyLeft = 0;
  private pausedForBridge = false;

  constructor(
    private readonly front: SocketFront,
    readonly socket: Socket,
  ) {
    this.headStart = performance.now();
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
  }

  /** Front: idle between requests (closeIdleConnections may close it). */
  idle(closing: boolean): boolean {
    return this.mode === Mode.Front && !this.batched && this.queue.length === 0 && !this.rest && !this.held && (this.received || closing);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.dead) return;
    this.received = true;
    if (this.mode === Mode.Node) return this.toBridge(chunk);
    if (this.mode === Mode.Lent) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length);
        this.bodyLeft -= n;
        this.toBridge(n === chunk.length ? chunk : chunk.subarray(0, n));
        if (n === chunk.length) return;
        chunk = chunk.subarray(n);
      }
      return this.hold(chunk);
    }
    if (this.stop) return;
    if (this.held) return this.hold(chunk);
    this.read(chunk);
    if (!this.batched && (this.queue.length > 0 || this.held)) this.drain();
  };

  /** Parse the heads in rest + chunk: queue what the front answers, and stop at the first request for Node. */
  private read(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    const front = this.front;
    const now = performance.now();
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      const end = buf.indexOf(CRLF2, pos);
      if (end < 0) {
        if (n - pos > front.maxHead || !partialHeadOk(buf, pos, n - chunk.length)) this.holdFrom(buf, pos, -1);
        else this.rest = buf.subarray(pos);
        break;
      }
      if (end + 4 - pos > front.maxHead) {
        this.holdFrom(buf, pos, -1);
        break;
      }
      const head = parseHead(buf, pos, end);
      if (head === undefined) {
        this.holdFrom(buf, pos, -1);
        break;
      }
      const length = end + 4 - pos;
      if (head.method !== 'GET' || head.body !== 0 || front.closing) {
        this.holdFrom(buf, pos, length + head.body);
        break;
      }
      const req = new QueuedRequest(head.url, now, buf.subarray(pos, end + 4), head.close);
      if (!front.accept(req)) {
        this.holdFrom(buf, pos, length);
        break;
      }
      this.queue.push(req);
      if (req.body === undefined) front.enqueue(this);
      pos = end + 4;
      if (head.close) {
        this.stop = true; // Node would not answer what follows either
        break;
      }
    }
    if (this.rest === undefined) this.headStart = 0;
    else if (this.headStart === 0) this.headStart = now;
  }

  private holdFrom(buf: Buffer, pos: number, lendLength: number): void {
    this.held = [];
    this.heldBytes = 0;
    this.lendLength = lendLength;
    this.hold(buf.subarray(pos));
  }

  private hold(chunk: Buffer): void {
    this.held ??= [];
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    // Like Node, stop reading when the client sends far ahead of the answers.
    if (this.heldBytes > MAX_HELD && !this.socket.isPaused()) this.socket.pause();
  }

  /** Score results are in (or the answers were known): write them in order, then pass on what is Node's. */
  drain(): void {
    const q = this.queue;
    let k = 0;
    while (k < q.length && q[k]!.body !== undefined) k++;
    if (k < q.length) {
      // q[k] is Node's to answer: lend it, and hold everything read after it.
      const bytes = q.slice(k).map((r) => r.raw);
      if (this.rest) bytes.push(this.rest);
      if (this.held) bytes.push(...this.held);
      this.rest = undefined;
      this.held = bytes;
      this.heldBytes = bytes.reduce((s, b) => s + b.length, 0);
      this.lendLength = q[k]!.raw.length;
      this.stop = false;
      this.headStart = 0;
    }
    const closing = this.front.closing && !this.held && !this.rest;
    const endAfter = k > 0 && (q[k - 1]!.close || closing);
    if (k > 0) this.write(q, k, endAfter);
    q.length = 0;
    if (endAfter) return this.endSocket();
    if (this.held) this.handOver();
    else if (this.eof) this.endSocket();
  }

  private write(q: QueuedRequest[], k: number, endAfter: boolean): void {
    const socket = this.socket;
    const tails = this.front.tails();
    let out = '';
    let parts: (string | Buffer)[] | undefined;
    for (let i = 0; i < k; i++) {
      const r = q[i]!;
      const tail = r.close || (endAfter && i === k - 1) ? tails.close : tails.keepAlive;
      const body = r.body!;
      if (typeof body === 'string') {
        out += this.front.prefix + Buffer.byteLength(body) + tail + body;
      } else {
        parts ??= [];
        parts.push(out + this.front.prefix + body.length + tail, body);
        out = '';
      }
    }
    if (parts) {
      if (out) parts.push(out);
      socket.cork();
      for (const p of parts) socket.write(p);
      socket.uncork();
    } else {
      socket.write(out);
    }
    for (let i = 0; i < k; i++) this.front.sent(q[i]!);
    this.answered += k;
    if (!this.keepAliveSet) {
      // Node's keep-alive timer after an answer (its socket timeout, 1 s past the advertised one).
      this.keepAliveSet = true;
      const ka = this.front.server.keepAliveTimeout;
      if (ka) socket.setTimeout(ka + 1000);
    }
    if (socket.writableNeedDrain && !socket.isPaused()) {
      socket.pause();
      socket.once('drain', () => {
        if (this.mode === Mode.Front && !this.dead) socket.resume();
      });
    }
  }

  /** Pass `held` on: lend its first request, or give the connection to Node for good. */
  private handOver(): void {
    const held = this.held!;
    this.held = undefined;
    this.heldBytes = 0;
    if (!this.eof && (this.lendLength < 0 || (this.answered === 0 && this.lends >= LENDS_BEFORE_NODE))) return this.giveSocket(held);
    if (this.lendLength >= 0) this.lends++; // also names this lend (watch)
    // A parked bridge takes the request (Node reads it at once); a new one buffers it until Node's listener reads.
    const parked = this.bridge !== undefined && !this.bridge.destroyed && !this.bridge.writableEnded;
    const bridge = parked ? this.bridge! : new SocketBridge(this);
    this.bridge = bridge;
    // State first: pushing into a parked bridge runs Node's parser (and its request event) right away.
    let give: Buffer[];
    if (this.lendLength < 0 || this.eof) {
      this.mode = Mode.Node;
      give = held;
    } else {
      this.mode = Mode.Lent;
      const all = held.length === 1 ? held[0]! : Buffer.concat(held);
      const n = Math.min(this.lendLength, all.length);
      this.bodyLeft = this.lendLength - n;
      give = [n === all.length ? all : all.subarray(0, n)];
      if (n < all.length) this.hold(all.subarray(n));
    }
    if (this.socket.isPaused() && this.heldBytes <= MAX_HELD) this.socket.resume();
    for (const b of give) this.toBridge(b);
    if (this.mode === Mode.Node && this.eof && !bridge.destroyed) bridge.push(null);
    if (!parked) this.front.toNode(bridge);
  }

  /**
   * The connection is Node's for good, the socket itself: the bytes read
   * here are put back at the front of its read buffer (Readable.unshift), so
   * Node's parser reads them first and then consumes the socket natively, as
   * on any connection of its own (no bridge in between: a lent request costs
   * ~25 µs of server CPU more than Node alone, measured with a bare handler).
   */
  private giveSocket(held: Buffer[]): void {
    const socket = this.socket;
    this.dead = true;
    this.front.forget(this);
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('error', this.onError);
    socket.removeListener('close', this.onClose);
    socket.removeListener('timeout', this.onTimeout);
    socket.setTimeout(0); // Node sets its own timers
    const parked = this.bridge;
    this.bridge = undefined;
    parked?.destroy(); // Node frees the parser it had for lent requests
    // Paused, so that Node's resume() below starts a flow that emits these bytes before any new read.
    socket.pause();
    for (let i = held.length - 1; i >= 0; i--) socket.unshift(held[i]!);
    this.front.toNode(socket);
    socket.resume();
  }

  /** Node destroyed its side: the socket goes too, unless the bridge was parked (the front has the connection). */
  bridgeDestroyed(bridge: SocketBridge): void {
    if (bridge !== this.bridge) return;
    if (this.mode === Mode.Front) this.bridge = undefined;
    else this.socket.destroy();
  }

  private toBridge(chunk: Buffer): void {
    if (this.bridge!.destroyed) return;
    if (!this.bridge!.push(chunk)) {
      this.pausedForBridge = true;
      this.socket.pause();
    }
  }

  /** Node reads from the bridge again. */
  bridgeReads(): void {
    if (this.pausedForBridge) {
      this.pausedForBridge = false;
      if (this.heldBytes <= MAX_HELD) this.socket.resume();
    }
  }

  /** Node's request event for a lent request: take the connection back once it is answered and fully read. */
  watch(bridge: SocketBridge, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (bridge !== this.bridge || this.mode !== Mode.Lent) return;
    // The bridge carries the connection's later lent requests too: only this lend's answer takes it back.
    const lend = this.lends;
    let finished = false;
    let taken = false;
    const done = (): void => {
      if (taken || !finished || !req.complete) return;
      taken = true;
      if (lend === this.lends) this.takeBack(bridge);
    };
    res.once('finish', () => {
      finished = true;
      done();
    });
    if (!req.complete) req.once('end', done);
  }

  private takeBack(bridge: SocketBridge): void {
    // Node ends the connection after this answer (Connection: close, an error): leave it to Node.
    if (this.dead || bridge !== this.bridge || this.mode !== Mode.Lent || this.bodyLeft > 0 || bridge.writableEnded || bridge.destroyed) return;
    this.mode = Mode.Front; // the bridge stays parked with Node for the next lent request
    this.keepAliveSet = true; // Node has just set its keep-alive timer on the socket
    this.pausedForBridge = false;
    const held = this.held;
    this.held = undefined;
    this.heldBytes = 0;
    this.headStart = 0;
    if (this.socket.isPaused()) this.socket.resume();
    if (held) this.onData(held.length === 1 ? held[0]! : Buffer.concat(held));
    else if (this.front.closing) this.endSocket(); // answered during close(), and idle now
  }

  /** End the socket once written, then destroy it (Node's destroySoon). */
  endSocket(): void {
    if (this.dead) return;
    this.stop = true;
    const socket = this.socket;
    socket.end();
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  }

  private readonly onEnd = (): void => {
    if (this.dead) return;
    this.eof = true;
    if (this.mode === Mode.Node) {
      this.bridge!.push(null);
    } else if (this.mode === Mode.Lent) {
      // The client half-closed with a request at Node: the connection is Node's for good (it decides what to answer).
      this.mode = Mode.Node;
      const held = this.held;
      this.held = undefined;
      for (const b of held ?? []) this.bridge!.push(b);
      this.bridge!.push(null);
    } else if (this.held) {
      this.lendLength = -1; // with the rest of the bytes and the end, Node answers
      if (!this.batched && this.queue.length === 0) this.handOver();
    } else if (this.rest && !this.stop) {
      // An incomplete head at the end: Node's parser gives its own error.
      this.held = [this.rest];
      this.rest = undefined;
      this.lendLength = -1;
      if (!this.batched && this.queue.length === 0) this.handOver();
    } else if (!this.batched && this.queue.length === 0) {
      this.endSocket(); // Node ends its side when the client does
    }
  };

  private readonly onError = (err: Error): void => {
    if (this.bridge && !this.bridge.destroyed) this.bridge.destroy(err);
  };

  private readonly onClose = (): void => {
    this.dead = true;
    this.front.forget(this);
    if (this.bridge && !this.bridge.destroyed) this.bridge.destroy();
  };

  private readonly onTimeout = (): void => {
    if (this.mode !== Mode.Front) {
      this.bridge?.emit('timeout');
      return;
    }
    // Node's socketOnTimeout: the server's 'timeout' listeners decide, otherwise the socket goes.
    if (!this.front.server.emit('timeout', this.socket)) this.socket.destroy();
  };

  /** The head took longer than headersTimeout/requestTimeout: Node's ERR_HTTP_REQUEST_TIMEOUT. */
  timedOut(): void {
    this.stop = true;
    const socket = this.socket;
    const err = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    if (!this.front.server.emit('clientError', err, socket)) {
      if (socket.writable) socket.write(REQUEST_TIMEOUT);
      socket.destroy(err);
    }
  }
}

interface Tails {
  keepAlive: string;
  close: string;
}

/** The front of one HTTP server (see the top of this file). */
export class SocketFront {
  /** Node's own connection listener(s), given a bridge when Node answers. */
  private readonly nodeListeners: ((socket: unknown) => void)[];
  private readonly conns = new Set<RawConnection>();
  private batch: RawConnection[] = [];
  private scheduled = false;
  private checker: ReturnType<typeof setInterval> | undefined;
  /** server.close() was called. */
  closing = false;
  readonly maxHead: number;
  /** Each answer's status line, content type and the content-length name. */
  readonly prefix: string;
  private tailDate = '';
  private tailTimeout = -1;
  private tailCache: Tails = { keepAlive: '', close: '' };

  constructor(
    readonly server: http.Server,
    private readonly handler: FrontHandler,
    contentType: string,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const front = this;
    this.prefix = `HTTP/1.1 200 OK\r\ncontent-type: ${contentType}\r\ncontent-length: `;
    const node = server as http.Server & { maxHeaderSize?: number; connectionsCheckingInterval?: number };
    this.maxHead = Math.min(MAX_HEAD, (node.maxHeaderSize ?? http.maxHeaderSize) >> 1);
    this.nodeListeners = server.listeners('connection') as ((socket: unknown) => void)[];
    for (const l of this.nodeListeners) server.removeListener('connection', l);
    server.on('connection', this.onConnection);
    server.prependListener('request', this.onNodeRequest);
    // Graceful close: Node's own calls cover the bridges; these cover the connections read here.
    const nodeCloseIdle = server.closeIdleConnections;
    const nodeCloseAll = server.closeAllConnections;
    const nodeClose = server.close;
    server.closeIdleConnections = function (this: http.Server) {
      nodeCloseIdle.call(this);
      front.closeIdle();
    };
    server.closeAllConnections = function (this: http.Server) {
      nodeCloseAll.call(this);
      for (const c of front.conns) c.socket.destroy();
    };
    server.close = function (this: http.Server, cb?: (err?: Error) => void) {
      front.closing = true;
      return nodeClose.call(this, cb);
    } as typeof server.close;
    server.on('listening', () => {
      this.closing = false;
      if (this.checker) clearInterval(this.checker);
      this.checker = setInterval(this.checkHeads, node.connectionsCheckingInterval ?? 30_000).unref();
    });
    server.on('close', () => {
      if (this.checker) clearInterval(this.checker);
      this.checker = undefined;
    });
  }

  private readonly onConnection = (socket: Socket): void => {
    const server = this.server;
    if (server.maxRequestsPerSocket || server.timeout) {
      // Per-connection request counts and connection timeouts stay Node's alone.
      for (const l of this.nodeListeners) l.call(server, socket);
      return;
    }
    this.conns.add(new RawConnection(this, socket));
  };

  private readonly onNodeRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const bridge = req.socket as unknown;
    if (bridge instanceof SocketBridge) bridge.conn.watch(bridge, req, res);
  };

  toNode(bridge: SocketBridge | Socket): void {
    for (const l of this.nodeListeners) l.call(this.server, bridge);
  }

  forget(conn: RawConnection): void {
    this.conns.delete(conn);
  }

  accept(req: FrontRequest): boolean {
    try {
      return this.handler.accept(req);
    } catch {
      return false; // Node's (and Fastify's) answer instead
    }
  }

  sent(req: FrontRequest): void {
    try {
      this.handler.sent(req);
    } catch {
      // the answer is out; a failing metrics call must not break the connection
    }
  }

  enqueue(conn: RawConnection): void {
    if (conn.batched) return;
    conn.batched = true;
    this.batch.push(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /**
   * The turn's requests: all scored first, then all answers written (see
   * fastpath.ts for why). A connection's requests after one that Node must
   * answer are not scored: they are read again once Node has answered it.
   */
  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.batch;
    this.batch = [];
    for (const conn of batch) {
      if (conn.dead) continue;
      for (const r of conn.queue) {
        if (r.body !== undefined) continue;
        try {
          r.body = this.handler.score(r);
        } catch {
          r.body = undefined;
        }
        if (r.body === undefined) break;
      }
    }
    for (const conn of batch) {
      conn.batched = false;
      if (!conn.dead) conn.drain();
    }
  };

  /** The header lines after content-length, as Node writes them (Date cached per second). */
  tails(): Tails {
    const date = utcDate();
    const ka = this.server.keepAliveTimeout;
    if (date !== this.tailDate || ka !== this.tailTimeout) {
      this.tailDate = date;
      this.tailTimeout = ka;
      this.tailCache = {
        keepAlive: `\r\nDate: ${date}\r\nConnection: keep-alive\r\n${ka ? `Keep-Alive: timeout=${Math.floor(ka / 1000)}\r\n` : ''}\r\n`,
        close: `\r\nDate: ${date}\r\nConnection: close\r\n\r\n`,
      };
    }
    return this.tailCache;
  }

  private closeIdle(): void {
    for (const c of this.conns) if (c.idle(this.closing)) c.socket.destroy();
  }

  /** Node's checkConnections for the heads read here. */
  private readonly checkHeads = (): void => {
    const { headersTimeout, requestTimeout } = this.server;
    if (!headersTimeout && !requestTimeout) return;
    const now = performance.now();
    for (const c of this.conns) {
      if (c.mode !== Mode.Front || c.headStart === 0 || c.batched) continue;
      const age = now - c.headStart;
      if ((headersTimeout > 0 && age > headersTimeout) || (requestTimeout > 0 && age > requestTimeout)) c.timedOut();
    }
  };
}

/** Put a front on `server` (a node:http Server not listening yet). */
export function installSocketFront(server: http.Server, handler: FrontHandler, contentType: string): SocketFront {
  return new SocketFront(server, handler, contentType);
}
