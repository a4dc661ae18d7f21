/**
 * What Node's connection listener gets instead of the socket when the socket
 * front lends it a request: a Duplex whose readable side carries the bytes
 * the front passes on and whose writes go to the socket. When the front takes
 * the connection back, the bridge stays with Node, idle between requests
 * (parked), and carries the connection's next lent request: Node's connection
 * set-up (parser, listeners) is paid once per connection, not once per lend.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** The connection a bridge belongs to (raw-connection.ts). */
export interface BridgedConnection {
  readonly socket: Socket;
  /** Node wants more bytes: resume a socket paused because the bridge was full. */
  bridgeWantsData(): void;
  /** Node ended its side. */
  endSocket(): void;
  /** Node destroyed its side. */
  bridgeDestroyed(bridge: SocketBridge): void;
}

export class SocketBridge extends Duplex {
  constructor(readonly conn: BridgedConnection) {
    super({ allowHalfOpen: true });
  }
  override _read(): void {
    this.conn.bridgeWantsData();
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

  // The net.Socket methods and properties Node's HTTP server uses on a connection.
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
