/**
 * A socket-level front for the service's hot route, ahead of Node's own HTTP
 * handling.
 *
 * Why: with the HNSW search at ~40 µs, Node's HTTP layer was the largest
 * remaining cost of a scored request (parser callbacks, IncomingMessage and
 * ServerResponse objects, header handling, streams). Measured on this machine
 * (bench/README.md, HTTP service section): a trivial node:http server
 * answering fixed bytes costs 55-61 µs of server CPU per request, a
 * net.Server that finds the end of the head and writes prebuilt bytes 30-33 µs.
 *
 * How: the server stays a node:http Server (Fastify gets it from its
 * serverFactory); the front takes over its 'connection' event and reads each
 * connection itself (raw-connection.ts). A plain GET the handler accepts
 * (http-head.ts says which heads are plain) is answered here, at once when
 * the answer is known (a cache hit), otherwise scored with the other requests
 * read in the same event-loop turn, in order per connection, with the headers
 * Node would write (Date, Connection, Keep-Alive). So is a POST with a plain
 * head and a Content-Length body (no Transfer-Encoding, no Expect) when the
 * handler wants its body (wantsBody(): its route, content type and size):
 * the front waits for the whole body (up to 16 KiB, the handler asks for
 * less), then the handler parses and validates it in accept() as its route
 * would. Any other plain request is lent to Node through a bridge
 * (node-bridge.ts), head and body as received, and the connection taken back
 * after Node's answer; anything else (and a connection that keeps lending
 * without ever being answered here) is Node's for good, so Node answers it as
 * it always does (its own 400, 408, 431 and so on).
 *
 * Node's semantics kept for the connections read here: headersTimeout and
 * requestTimeout for a slow head, requestTimeout alone for a slow body once
 * its head is in (the 408 through 'clientError'), keepAliveTimeout after an
 * answer (stopped while a request is on its way, as Node's resetSocketTimeout
 * does), `Connection: close`, a body cut by the client's end (Node gets the
 * bytes and the end), closeIdleConnections/closeAllConnections. Deliberate
 * differences: on server.close() the front answers what it has read (a POST
 * whose head came before the close too, its body after), the last answer of
 * each connection with `Connection: close`, and closes the connection (Node
 * would wait for keepAliveTimeout); bytes pipelined after a `Connection:
 * close` request are ignored (Node calls them an error and Fastify writes a
 * 400 at once, dropping the answers still being computed); bytes Node's
 * parser rejects right behind a POST answered here get that answer first,
 * then Node's 400 (Node, still waiting for the body's 'end' in Fastify, would
 * send the 400 alone; it answers a GET first, as here). Servers with
 * maxRequestsPerSocket or a connection timeout get no front.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { RawConnection, watchLentRequest, type AnswerTails, type ConnectionFront } from './raw-connection.js';
import type { SocketBridge } from './node-bridge.js';

/** A GET, or a POST with its body read, that the front may answer. */
export interface FrontRequest {
  /** 'GET' (no body) or 'POST' (a body the handler asked for with wantsBody()). */
  readonly method: string;
  /** The request target as sent (only bytes 0x21-0x7E). */
  readonly url: string;
  /** performance.now() when its head was read. */
  readonly t0: number;
  /** A POST's body as received (its Content-Length bytes); undefined for a GET. */
  readonly payload: Buffer | undefined;
  /**
   * A POST whose head wantsBody() took before its body had all come: if the
   * server began to close meanwhile, accept() should still take it (Node and
   * Fastify would have had its request from its head on, before the close).
   */
  readonly admitted: boolean;
  /** The answer's body, set by accept() when known at once or by score(). */
  body: string | Buffer | undefined;
  /** The handler's own note on the request (what accept() found). */
  plan: unknown;
}

export interface FrontHandler {
  /**
   * A POST head to `url` with this Content-Type (undefined: none) and a body
   * of `length` bytes (1 or more): read its body here (true, then accept()
   * sees it) or lend the request to Node at once (false).
   */
  wantsBody(url: string, contentType: string | undefined, length: number): boolean;
  /**
   * Take this request (true) or leave it to Node (false). Set req.body for an
   * answer known now; otherwise score() is called in this turn's batch.
   */
  accept(req: FrontRequest): boolean;
  /** The body for an accepted request, or undefined to let Node answer it (the front lends it). */
  score(req: FrontRequest): string | undefined;
  /** Its answer has been written (status 200). */
  sent(req: FrontRequest): void;
}

/** Heads longer than this go to Node (at most half of Node's own limit, so Node decides near it). */
const MAX_HEAD = 8192;

/** Node's Date header value, the same string for a second (as node:_http_outgoing caches it). */
let dateCache: string | undefined;
function utcDate(): string {
  if (dateCache === undefined) {
    const d = new Date();
    dateCache = d.toUTCString();
    setTimeout(() => (dateCache = undefined), 1000 - d.getMilliseconds()).unref();
  }
  return dateCache;
}

/** The front of one HTTP server (see the top of this file). */
export class SocketFront implements ConnectionFront {
  /** Node's own connection listener(s), given a bridge or the socket when Node answers. */
  private readonly nodeListeners: ((socket: unknown) => void)[];
  private readonly conns = new Set<RawConnection>();
  /** Connections with requests to score in this turn. */
  private batch: RawConnection[] = [];
  private scheduled = false;
  private headChecker: ReturnType<typeof setInterval> | undefined;
  closing = false;
  readonly maxHead: number;
  readonly answerPrefix: string;
  private tailsDate = '';
  private tailsKeepAlive = -1;
  private tails: AnswerTails = { keepAlive: '', close: '' };

  constructor(
    readonly server: http.Server,
    private readonly handler: FrontHandler,
    contentType: string,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const front = this;
    this.answerPrefix = `HTTP/1.1 200 OK\r\ncontent-type: ${contentType}\r\ncontent-length: `;
    const node = server as http.Server & { maxHeaderSize?: number; connectionsCheckingInterval?: number };
    this.maxHead = Math.min(MAX_HEAD, (node.maxHeaderSize ?? http.maxHeaderSize) >> 1);
    this.nodeListeners = server.listeners('connection') as ((socket: unknown) => void)[];
    for (const l of this.nodeListeners) server.removeListener('connection', l);
    server.on('connection', this.onConnection);
    server.prependListener('request', watchLentRequest);
    // Graceful close: Node's own calls cover the bridges and its own sockets; these add the connections read here.
    const nodeCloseIdle = server.closeIdleConnections;
    const nodeCloseAll = server.closeAllConnections;
    const nodeClose = server.close;
    server.closeIdleConnections = function (this: http.Server) {
      nodeCloseIdle.call(this);
      for (const c of front.conns) if (c.idle(front.closing)) c.socket.destroy();
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
      if (this.headChecker) clearInterval(this.headChecker);
      this.headChecker = setInterval(this.checkHeads, node.connectionsCheckingInterval ?? 30_000).unref();
    });
    server.on('close', () => {
      if (this.headChecker) clearInterval(this.headChecker);
      this.headChecker = undefined;
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

  giveToNode(connection: SocketBridge | Socket): void {
    for (const l of this.nodeListeners) l.call(this.server, connection);
  }

  forget(conn: RawConnection): void {
    this.conns.delete(conn);
  }

  wantsBody(url: string, contentType: string | undefined, length: number): boolean {
    try {
      return this.handler.wantsBody(url, contentType, length);
    } catch {
      return false;
    }
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

  scheduleScoring(conn: RawConnection): void {
    if (conn.batched) return;
    conn.batched = true;
    this.batch.push(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.scoreBatch);
    }
  }

  /**
   * The turn's requests: all scored first, then all answers written (see
   * PlainRoutesFront in fastpath.ts for why). A connection's requests after one
   * that Node must answer are not scored: they are read again once Node has
   * answered it.
   */
  private readonly scoreBatch = (): void => {
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
      if (!conn.dead) conn.answerQueued();
    }
  };

  /** The header lines after content-length, as Node writes them (rebuilt when the Date second or keepAliveTimeout changes). */
  answerTails(): AnswerTails {
    const date = utcDate();
    const ka = this.server.keepAliveTimeout;
    if (date !== this.tailsDate || ka !== this.tailsKeepAlive) {
      this.tailsDate = date;
      this.tailsKeepAlive = ka;
      this.tails = {
        keepAlive: `\r\nDate: ${date}\r\nConnection: keep-alive\r\n${ka ? `Keep-Alive: timeout=${Math.floor(ka / 1000)}\r\n` : ''}\r\n`,
        close: `\r\nDate: ${date}\r\nConnection: close\r\n\r\n`,
      };
    }
    return this.tails;
  }

  /** Node's checkConnections for the heads read here (Node's own check does not see them). */
  private readonly checkHeads = (): void => {
    const { headersTimeout, requestTimeout } = this.server;
    if (!headersTimeout && !requestTimeout) return;
    const now = performance.now();
    for (const c of this.conns) c.checkHeadTimeout(now, headersTimeout, requestTimeout);
  };
}

/** Put a front on `server` (a node:http Server not listening yet). */
export function installSocketFront(server: http.Server, handler: FrontHandler, contentType: string): SocketFront {
  return new SocketFront(server, handler, contentType);
}
