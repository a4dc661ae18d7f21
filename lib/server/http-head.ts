/**
 * The request heads the socket front reads itself (socketfront.ts): a strict
 * subset of HTTP/1.1, so that anything unusual is left to Node's parser and
 * answered as Node answers it.
 */

/** Where a head ends. */
export const HEAD_END = Buffer.from('\r\n\r\n');

/** Token characters of RFC 9110 (header names, methods). */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

const VERSION = ' HTTP/1.1';

export interface RequestHead {
  method: string;
  url: string;
  /** `Connection: close`. */
  close: boolean;
  /** Body bytes (Content-Length; 0 without one). */
  contentLength: number;
  /** The Content-Type value (trimmed; undefined without one, '' when there were several). */
  contentType: string | undefined;
}

/** `<token> <target> HTTP/1.1` in text[0, eol): the position of the first space, or -1. */
function requestLine(text: string, eol: number): number {
  const sp = text.indexOf(' ');
  if (sp <= 0 || sp > eol) return -1;
  for (let i = 0; i < sp; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || TCHAR[c] !== 1) return -1;
  }
  const version = eol - VERSION.length;
  if (version <= sp + 1 || !text.startsWith(VERSION, version)) return -1;
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
export function partialHeadOk(buf: Buffer, pos: number, from: number): boolean {
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
 * for anything the front neither answers nor lends (Node's for good): another
 * version, a header that is not `token: printable`, CONNECT, Transfer-Encoding,
 * Expect, Upgrade, an unusual Connection, a bad or repeated Content-Length,
 * and not exactly one Host.
 */
export function parseHead(buf: Buffer, start: number, end: number): RequestHead | undefined {
  const text = buf.toString('latin1', start, end + 2); // every line ends with CRLF
  const eol = text.indexOf('\r\n');
  const sp = requestLine(text, eol);
  if (sp < 0) return undefined;
  const method = text.slice(0, sp);
  if (method === 'CONNECT') return undefined;
  let close = false;
  let hosts = 0;
  let contentLength = -1;
  let contentType: string | undefined;
  for (let i = eol + 2; i < text.length; ) {
    const e = text.indexOf('\r\n', i);
    let colon = i;
    for (; colon < e; colon++) {
      const x = text.charCodeAt(colon);
      if (x > 127 || TCHAR[x] !== 1) break;
    }
    if (colon === i || colon === e || text.charCodeAt(colon) !== 58 /* : */) return undefined;
    for (let v = colon + 1; v < e; v++) {
      const x = text.charCodeAt(v);
      if ((x < 0x20 && x !== 9) || x > 0x7e) return undefined;
    }
    // Only the lengths of the names below are worth lower-casing and comparing.
    const n = colon - i;
    if (n === 4 || n === 6 || n === 7 || n === 10 || n === 12 || n === 14 || n === 17) {
      const value = text.slice(colon + 1, e).trim();
      switch (text.slice(i, colon).toLowerCase()) {
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
          if (contentLength >= 0 || !/^[0-9]{1,12}$/.test(value)) return undefined;
          contentLength = Number(value);
          break;
        case 'content-type':
          contentType = contentType === undefined ? value : ''; // Node keeps the first of several: not ours to judge
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
  return { method, url: text.slice(sp + 1, eol - VERSION.length), close, contentLength: Math.max(contentLength, 0), contentType };
}
