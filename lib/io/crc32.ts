/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, the one zip and PNG
 * use). Node >= 20.15 has a SIMD-accelerated zlib.crc32; older Node 20 builds
 * fall back to the table-driven version below ("slicing by 1").
 */
import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** Table-driven CRC-32 in plain JS; `crc` continues a previous value. */
export function crc32Js(bytes: Uint8Array, crc = 0): number {
  table ??= makeTable();
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `bytes` (continuing `crc`), using zlib's when available. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return native ? native(bytes, crc) >>> 0 : crc32Js(bytes, crc);
}
