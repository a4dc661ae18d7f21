/**
 * The META section of a saved HNSW index (native/core/ann/hnsw_io.cpp stores
 * it opaquely and checksums it): the items' ids and the search defaults, so
 * one file (or one byte array) is the whole index.
 *
 * Layout: a UTF-8 JSON header, one '\n', then the ids payload:
 *   { format: 'fastrec-hnsw-meta', version: 1, dim, metric, ef, exactThreshold,
 *     ids: { encoding, count, bytes } }
 * encodings: 'range' (the ids are the numbers 0..count-1: no payload),
 * 'f64' (numbers, little-endian float64), 'lines' (strings without a line
 * break, UTF-8 joined by '\n': one split to decode), 'json' (anything else).
 */
import { IdMap, type Id } from './data/idmap.js';
import { CorruptFileError } from './errors.js';

export interface IndexMeta {
  dim: number;
  metric: string;
  ef: number;
  exactThreshold: number;
  ids: readonly Id[];
}

const FORMAT = 'fastrec-hnsw-meta';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function encodeIds(ids: readonly Id[]): { encoding: string; payload: Uint8Array } {
  let range = true;
  let numbers = true;
  let lines = true;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id !== i) range = false;
    if (typeof id === 'number') lines = false;
    else {
      numbers = false;
      if ((id as string).includes('\n')) lines = false;
    }
  }
  if (range) return { encoding: 'range', payload: new Uint8Array(0) };
  if (numbers) {
    const f = Float64Array.from(ids as number[]);
    if (!LITTLE_ENDIAN) {
      const view = new DataView(f.buffer);
      for (let i = 0; i < f.length; i++) view.setFloat64(i * 8, (ids as number[])[i]!, true);
    }
    return { encoding: 'f64', payload: new Uint8Array(f.buffer) };
  }
  if (lines) return { encoding: 'lines', payload: new TextEncoder().encode((ids as string[]).join('\n')) };
  return { encoding: 'json', payload: new TextEncoder().encode(JSON.stringify(ids)) };
}

export function encodeIndexMeta(meta: IndexMeta): Uint8Array {
  const { encoding, payload } = encodeIds(meta.ids);
  const header = new TextEncoder().encode(
    JSON.stringify({ format: FORMAT, version: 1, dim: meta.dim, metric: meta.metric, ef: meta.ef, exactThreshold: meta.exactThreshold, ids: { encoding, count: meta.ids.length, bytes: payload.length } }) + '\n',
  );
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}

/** Decode a META section; `source` names the file or byte array in errors. */
export function decodeIndexMeta(bytes: Uint8Array, source: string, expect: { dim: number; metric: string }): IndexMeta & { idMap: IdMap } {
  const bad = (why: string) => new CorruptFileError(`corrupt ${source}: ${why}`);
  const nl = bytes.indexOf(0x0a);
  if (nl < 0) throw bad('the ids section has no header');
  let h: { format?: unknown; version?: unknown; dim?: unknown; metric?: unknown; ef?: unknown; exactThreshold?: unknown; ids?: { encoding?: unknown; count?: unknown; bytes?: unknown } };
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, nl))) as typeof h;
  } catch (cause) {
    throw bad(`the ids section header is not valid JSON (${(cause as Error).message})`);
  }
  if (h === null || typeof h !== 'object' || h.format !== FORMAT || h.version !== 1) throw bad('the ids section is not a fastrec index header');
  if (h.dim !== expect.dim || h.metric !== expect.metric) throw bad('the ids section does not match the graph (dimension or metric differ)');
  const ef = h.ef;
  const exact = h.exactThreshold;
  if (typeof ef !== 'number' || !Number.isInteger(ef) || ef < 1 || typeof exact !== 'number' || !(exact >= 0 && exact <= 1)) throw bad('invalid search defaults');
  const count = h.ids?.count;
  const encoding = h.ids?.encoding;
  const payload = bytes.subarray(nl + 1);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || h.ids?.bytes !== payload.length) throw bad('the ids section has a wrong size');
  let ids: Id[];
  if (encoding === 'range') {
    if (payload.length !== 0) throw bad('the ids section has a wrong size');
    ids = Array.from({ length: count }, (_, i) => i);
  } else if (encoding === 'f64') {
    if (payload.length !== count * 8) throw bad('the ids section has a wrong size');
    const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
    ids = new Array<Id>(count);
    for (let i = 0; i < count; i++) ids[i] = view.getFloat64(i * 8, true);
  } else if (encoding === 'lines') {
    ids = count === 0 ? [] : new TextDecoder().decode(payload).split('\n');
  } else if (encoding === 'json') {
    try {
      ids = JSON.parse(new TextDecoder().decode(payload)) as Id[];
    } catch (cause) {
      throw bad(`the ids are not valid JSON (${(cause as Error).message})`);
    }
    if (!Array.isArray(ids)) throw bad('the ids are not a list');
  } else {
    throw bad(`unknown id encoding ${JSON.stringify(encoding)}`);
  }
  if (ids.length !== count) throw bad(`the ids section does not hold ${count} ids`);
  for (const id of ids) if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) throw bad('the ids section holds a value that is not an id');
  const idMap = IdMap.from(ids);
  if (idMap.size !== count) throw bad('the ids section holds an id twice');
  return { dim: expect.dim, metric: expect.metric, ef, exactThreshold: exact, ids, idMap };
}
