/**
 * One client connection read by the socket front (socketfront.ts): its heads
 * are parsed here, the requests the front's handler accepts are queued and
 * answered in order, and the rest goes to Node, either lent one request at a
 * time through a SocketBridge or, for good, as the socket itself (then Node's
 * parser reads it natively and it costs what Node's own connections cost).
 * Answers the front already owes are written before Node gets any byte.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import { HEAD_END, parseHead, partialHeadOk } from './http-head.js';
import { SocketBridge, type BridgedConnection } from './node-bridge.js';

/** A connection that lent this many requests and had none answered here is given to Node for good (a client of other routes). */
const LENDS_BEFORE_NODE = 4;
/** Bytes kept while a lent request is with Node before reading stops. */
const MAX_HELD = 64 * 1024;
/** Largest request body the front reads itself (a handler may ask for less); longer ones are lent at once. */
const MAX_BODY = 16 * 1024;
/** Node writes this when a head is too slow and no 'clientError' listener answers (node:_http_server). */
const REQUEST_TIMEOUT = Buffer.from('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n', 'latin1');

/** The header lines after an answer's content-length value, by connection fate. */
export interface AnswerTails {
  keepAlive: string;
  close: string;
}

/** What a connection needs from the front that reads it (SocketFront). */
export interface ConnectionFront {
  readonly server: http.Server;
  /** server.close() was called. */
  readonly closing: boolean;
  /** Heads longer than this go to Node. */
  readonly maxHead: number;
  /** Each answer's status line, content type and `content-length: `. */
  readonly answerPrefix: string;
  answerTails(): AnswerTails;
  /** The handler wants this POST's body read here (else the request is lent at once). */
  wantsBody(url: string, contentType: string | undefined, length: number): boolean;
  /** The handler takes this request (its answer's body may be set at once). */
  accept(req: QueuedRequest): boolean;
  /** Score this connection's queued requests with the rest of the turn, then call its answerQueued(). */
  scheduleScoring(conn: RawConnection): void;
  /** An answer was written. */
  sent(req: QueuedRequest): void;
  /** Run Node's connection listener on this stream. */
  giveToNode(connection: SocketBridge | Socket): void;
  /** The front no longer reads this connection. */
  forget(conn: RawConnection): void;
}

/** A request the front's handler accepted (a FrontRequest of socketfront.ts). */
export class QueuedRequest {
  body: string | Buffer | undefined = undefined;
  plan: unknown = undefined;
  constructor(
    readonly method: string,
    readonly url: string,
    readonly t0: number,
    /** Its bytes, head and body (lent to Node if it is not answered here). */
    readonly raw: Buffer,
    /** The client asked for `Connection: close`. */
    readonly close: boolean,
    /** A POST's body (the end of raw); undefined for a GET. */
    readonly payload: Buffer | undefined,
    /** A POST whose head was read and wanted before its body came: answered even if the server began to close meanwhile. */
    readonly admitted: boolean,
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

export class RawConnection implements BridgedConnection {
  private mode = Mode.Front;
  /** Front: the start of a request not complete yet (a head, or a POST's head and the start of its body). */
  private partialHead: Buffer | undefined;
  /**
   * partialHead holds a complete head whose body is still coming: when that
   * head was read (performance.now()), else 0. Only requestTimeout applies
   * now, as in Node; and the request is answered here even if the server
   * begins to close meanwhile (Node would have its request already).
   */
  private bodyPendingSince = 0;
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
  private headStart: number;
  /** Any byte received (a connection never used is not idle to closeIdleConnections, as in Node, unless the server closes). */
  private received = false;
  /** Read no more requests: a `Connection: close` request was read, or the socket is ending. */
  private ignoreInput = false;
  private clientEnded = false;
  private keepAliveTimerSet = false;
  /** Requests answered here, and requests lent to Node. */
  private answered = 0;
  private lends = 0;
  /** Closed, or given to Node for good: the front no longer reads it. */
  dead = false;
  private bridge: SocketBridge | undefined;
  /** Lent: body bytes of the lent request not passed to Node yet. */
  private lentBodyLeft = 0;
  private pausedForBridge = false;

  constructor(
    private readonly front: ConnectionFront,
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
    return this.mode === Mode.Front && !this.batched && this.queue.length === 0 && !this.partialHead && !this.held && (this.received || closing);
  }

  /** Node's checkConnections for a head read here: ERR_HTTP_REQUEST_TIMEOUT once it is too old. */
  checkHeadTimeout(now: number, headersTimeout: number, requestTimeout: number): void {
    if (this.mode !== Mode.Front || this.headStart === 0 || this.batched) return;
    const age = now - this.headStart;
    if ((headersTimeout > 0 && this.bodyPendingSince === 0 && age > headersTimeout) || (requestTimeout > 0 && age > requestTimeout)) this.headTimedOut();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.dead) return;
    this.received = true;
    if (this.mode === Mode.Node) return this.pushToBridge(chunk);
    if (this.mode === Mode.Lent) {
      if (this.lentBodyLeft > 0) {
        const n = Math.min(this.lentBodyLeft, chunk.length);
        this.lentBodyLeft -= n;
        this.pushToBridge(n === chunk.length ? chunk : chunk.subarray(0, n));
        if (n === chunk.length) return;
        chunk = chunk.subarray(n);
      }
      return this.hold(chunk);
    }
    if (this.ignoreInput) return;
    if (this.held) return this.hold(chunk);
    this.readHeads(chunk);
    if (!this.batched && (this.queue.length > 0 || this.held)) this.answerQueued();
  };

  /**
   * Parse the requests in partialHead + chunk: queue what the front answers,
   * and stop at the first request for Node. A POST whose body the handler
   * wants is kept whole in partialHead until its last byte arrives (then
   * parsed again: such bodies are small and rarely split).
   */
  private readHeads(chunk: Buffer): void {
    const buf = this.partialHead ? Buffer.concat([this.partialHead, chunk]) : chunk;
    this.partialHead = undefined;
    /** buf starts with a POST whose head was read and taken earlier. */
    const pendingSince = this.bodyPendingSince;
    this.bodyPendingSince = 0;
    const front = this.front;
    const now = performance.now();
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      const end = buf.indexOf(HEAD_END, pos);
      if (end < 0) {
        if (n - pos > front.maxHead || !partialHeadOk(buf, pos, n - chunk.length)) this.holdFrom(buf, pos, -1);
        else this.partialHead = buf.subarray(pos);
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
      const length = end + 4 - pos + head.contentLength;
      const get = head.method === 'GET' && head.contentLength === 0;
      const admitted = pos === 0 && pendingSince > 0;
      if (!admitted && (front.closing || !(get || (head.method === 'POST' && head.contentLength > 0 && head.contentLength <= MAX_BODY && front.wantsBody(head.url, head.contentType, head.contentLength))))) {
        this.holdFrom(buf, pos, length);
        break;
      }
      if (pos + length > n) {
        // A POST's body still on its way.
        this.partialHead = buf.subarray(pos);
        this.bodyPendingSince = admitted ? pendingSince : now;
        break;
      }
      const req = new QueuedRequest(head.method, head.url, admitted ? pendingSince : now, buf.subarray(pos, pos + length), head.close, get ? undefined : buf.subarray(end + 4, pos + length), admitted);
      if (!front.accept(req)) {
        this.holdFrom(buf, pos, length);
        break;
      }
      this.queue.push(req);
      if (req.body === undefined) front.scheduleScoring(this);
      pos += length;
      if (head.close) {
        this.ignoreInput = true; // Node would not answer what follows either
        break;
      }
    }
    if (this.partialHead === undefined) {
      this.headStart = 0;
    } else {
      if (this.headStart === 0) this.headStart = now;
      if (this.keepAliveTimerSet) {
        // Node's resetSocketTimeout: a request on its way is no longer idle time (its answer sets the timer again).
        this.keepAliveTimerSet = false;
        this.socket.setTimeout(0);
      }
    }
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
  answerQueued(): void {
    const q = this.queue;
    let k = 0;
    while (k < q.length && q[k]!.body !== undefined) k++;
    if (k < q.length) {
      // q[k] is Node's to answer: lend it, and hold everything read after it.
      const bytes = q.slice(k).map((r) => r.raw);
      if (this.partialHead) bytes.push(this.partialHead);
      if (this.held) bytes.push(...this.held);
      this.partialHead = undefined;
      this.bodyPendingSince = 0;
      this.held = bytes;
      this.heldBytes = bytes.reduce((s, b) => s + b.length, 0);
      this.lendLength = q[k]!.raw.length;
      this.ignoreInput = false;
      this.headStart = 0;
    }
    const closing = this.front.closing && !this.held && !this.partialHead;
    const endAfter = k > 0 && (q[k - 1]!.close || closing);
    if (k > 0) this.writeAnswers(q, k, endAfter);
    q.length = 0;
    if (endAfter) return this.endSocket();
    if (this.held) this.passHeldToNode();
    else if (this.clientEnded) this.endSocket();
  }

  /** q[0, k) in one write (a cork where a body is a Buffer); the last says `Connection: close` if endAfter. */
  private writeAnswers(q: QueuedRequest[], k: number, endAfter: boolean): void {
    const socket = this.socket;
    const front = this.front;
    const tails = front.answerTails();
    let out = '';
    let parts: (string | Buffer)[] | undefined;
    for (let i = 0; i < k; i++) {
      const r = q[i]!;
      const tail = r.close || (endAfter && i === k - 1) ? tails.close : tails.keepAlive;
      const body = r.body!;
      if (typeof body === 'string') {
        out += front.answerPrefix + Buffer.byteLength(body) + tail + body;
      } else {
        parts ??= [];
        parts.push(out + front.answerPrefix + body.length + tail, body);
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
    for (let i = 0; i < k; i++) front.sent(q[i]!);
    this.answered += k;
    if (!this.keepAliveTimerSet) {
      // Node's keep-alive timer after an answer (its socket timeout, 1 s past the advertised one).
      this.keepAliveTimerSet = true;
      const ka = front.server.keepAliveTimeout;
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
  private passHeldToNode(): void {
    const held = this.held!;
    this.held = undefined;
    this.heldBytes = 0;
    if (!this.clientEnded && (this.lendLength < 0 || (this.answered === 0 && this.lends >= LENDS_BEFORE_NODE))) return this.giveSocketToNode(held);
    if (this.lendLength >= 0) this.lends++; // also identifies this lend (watchLentRequest)
    // A parked bridge takes the request (Node reads it at once); a new one buffers it until Node's listener reads.
    const parked = this.bridge !== undefined && !this.bridge.destroyed && !this.bridge.writableEnded;
    const bridge = parked ? this.bridge! : new SocketBridge(this);
    this.bridge = bridge;
    // State first: pushing into a parked bridge runs Node's parser (and its request event) right away.
    let give: Buffer[];
    if (this.lendLength < 0 || this.clientEnded) {
      this.mode = Mode.Node;
      give = held;
    } else {
      this.mode = Mode.Lent;
      const all = held.length === 1 ? held[0]! : Buffer.concat(held);
      const n = Math.min(this.lendLength, all.length);
      this.lentBodyLeft = this.lendLength - n;
      give = [n === all.length ? all : all.subarray(0, n)];
      if (n < all.length) this.hold(all.subarray(n));
    }
    if (this.socket.isPaused() && this.heldBytes <= MAX_HELD) this.socket.resume();
    for (const b of give) this.pushToBridge(b);
    if (this.mode === Mode.Node && this.clientEnded && !bridge.destroyed) bridge.push(null);
    if (!parked) this.front.giveToNode(bridge);
  }

  /**
   * The connection is Node's for good, the socket itself: the bytes read
   * here are put back at the front of its read buffer (Readable.unshift), so
   * Node's parser reads them first and then consumes the socket natively, as
   * on any connection of its own (no bridge in between: a lent request costs
   * ~25 µs of server CPU more than Node alone, measured with a bare handler).
   */
  private giveSocketToNode(held: Buffer[]): void {
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
    this.front.giveToNode(socket);
    socket.resume();
  }

  /** Node destroyed its side: the socket goes too, unless the bridge was parked (the front has the connection). */
  bridgeDestroyed(bridge: SocketBridge): void {
    if (bridge !== this.bridge) return;
    if (this.mode === Mode.Front) this.bridge = undefined;
    else this.socket.destroy();
  }

  private pushToBridge(chunk: Buffer): void {
    if (this.bridge!.destroyed) return;
    if (!this.bridge!.push(chunk)) {
      this.pausedForBridge = true;
      this.socket.pause();
    }
  }

  bridgeWantsData(): void {
    if (this.pausedForBridge) {
      this.pausedForBridge = false;
      if (this.heldBytes <= MAX_HELD) this.socket.resume();
    }
  }

  /** Node's request event for a lent request: take the connection back once it is answered and fully read. */
  watchLentRequest(bridge: SocketBridge, req: http.IncomingMessage, res: http.ServerResponse): void {
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
    if (this.dead || bridge !== this.bridge || this.mode !== Mode.Lent || this.lentBodyLeft > 0 || bridge.writableEnded || bridge.destroyed) return;
    this.mode = Mode.Front; // the bridge stays parked with Node for the next lent request
    this.keepAliveTimerSet = true; // Node has just set its keep-alive timer on the socket
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
    this.ignoreInput = true;
    const socket = this.socket;
    socket.end();
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  }

  private readonly onEnd = (): void => {
    if (this.dead) return;
    this.clientEnded = true;
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
      if (!this.batched && this.queue.length === 0) this.passHeldToNode();
    } else if (this.partialHead && !this.ignoreInput) {
      // An incomplete head or body at the end: Node's parser gives its own error.
      this.held = [this.partialHead];
      this.partialHead = undefined;
      this.bodyPendingSince = 0;
      this.lendLength = -1;
      if (!this.batched && this.queue.length === 0) this.passHeldToNode();
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
  private headTimedOut(): void {
    this.ignoreInput = true;
    const socket = this.socket;
    const err = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    if (!this.front.server.emit('clientError', err, socket)) {
      if (socket.writable) socket.write(REQUEST_TIMEOUT);
      socket.destroy(err);
    }
  }
}

/** Node's request event: a request lent through a bridge brings its connection back to the front once answered. */
export function watchLentRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const bridge = req.socket as unknown;
  if (bridge instanceof SocketBridge && bridge.conn instanceof RawConnection) bridge.conn.watchLentRequest(bridge, req, res);
}
