/**
 * The model file container: one file holds a whole ModelState (configuration,
 * id maps, factors, neighbour lists, graphs...).
 *
 * Layout (all integers little-endian):
 *
 *   offset  size  field
 *   0       8     magic 0x89 'F' 'R' 'E' 'C' '\r' '\n' 0x1A (PNG-style: catches
 *                 text-mode transfers and truncation to a few bytes)
 *   8       4     format version (see "Versions" below)
 *   12      4     flags: written 0, ignored by readers (readers before version 2
 *                 never looked at them, so an incompatible change raises the
 *                 version instead, which every reader checks)
 *   16      8     total file length in bytes (catches truncation)
 *   24      8     offset of the section table
 *   32      8     byte length of the section table
 *   40      4     CRC-32 of the section table
 *   44      4     CRC-32 of bytes 0..44 (the header itself)
 *   48      16    reserved (zero)
 *   64...         sections, each starting at a multiple of 64 bytes (so typed
 *                 array views over the loaded buffer are aligned for any element
 *                 type and for SIMD loads), then the section table.
 *
 * The section table is UTF-8 JSON: { kind, version, config, metadata, sections:
 * [{ name, dtype, offset, byteLength, length, crc32 }] }. Typed arrays are
 * stored raw (dtype f32, f64, i32, u32, u8, i64); id lists are stored as JSON
 * arrays (dtype 'json'), as UTF-8 lines when every id is a string without a
 * line break ('ids-lines': decoding is one split, several times faster than
 * JSON.parse for 100,000 ids), or as f64 when every id is a number ('ids-f64').
 * Prebuilt search indexes (an HNSW graph in its own saved form, with its own
 * checks) are opaque byte sections named 'index:<name>' (dtype u8): the service
 * uses them in place from the mapped file instead of rebuilding them.
 *
 * Versions, and what a reader does with what it does not know:
 *   1  'array:' and 'ids:' sections.
 *   2  adds 'index:<name>' sections and the section flag "optional": true.
 * A reader refuses a file whose version is above the newest it knows with
 * UnsupportedVersionError ("upgrade fastrec"), never a corrupt-file error. A
 * writer stamps the LOWEST version whose readers can use the file: a model
 * saved without indexes is version 1, still readable by fastrec releases that
 * predate indexes (those raise CorruptFileError on a section they do not know,
 * hence the bump for files that carry indexes). From version 2 on, a section
 * marked optional (something a reader can do without: a prebuilt index can be
 * rebuilt from the factors) whose group or dtype the reader does not know is
 * skipped, so new kinds of optional sections need no version bump; a section
 * not marked optional that the reader does not know is damage (CorruptFileError),
 * because any new required kind of section comes with a new version.
 *
 * Loading maps the file into memory (native mmap, native/napi/mmap_binding.cpp)
 * or, where that is unavailable, reads it into one buffer, and returns
 * typed-array VIEWS into it: no per-array copy.
 *
 * Saving writes `<name>.tmp-<pid>-<random>` in the same directory, fsyncs it,
 * renames it over the target and fsyncs the directory: a crash at any moment
 * leaves either the old file or the new one, never a torn file.
 */
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CorruptFileError, FastrecError, IoError, UnsupportedVersionError, InvalidArgumentError } from '../errors.js';
import { callSync, native } from '../native.js';
import type { ModelState, StateArray } from '../recommender.js';
import { crc32 } from './crc32.js';

export const MAGIC = Uint8Array.from([0x89, 0x46, 0x52, 0x45, 0x43, 0x0d, 0x0a, 0x1a]);
/** The newest format version this code reads (and writes, for files that need it: see "Versions"). */
export const FORMAT_VERSION = 2;
/** The version of files without index sections (readable by every fastrec). */
const BASE_VERSION = 1;
const HEADER_BYTES = 64;
const ALIGN = 64;

export type SectionDtype = 'f32' | 'f64' | 'i32' | 'u32' | 'u8' | 'i64' | 'json' | 'ids-f64' | 'ids-lines';

export interface SectionInfo {
  /** 'array:<name>' for state.arrays, 'ids:<name>' for state.ids, 'index:<name>' for prebuilt indexes. */
  name: string;
  dtype: SectionDtype;
  offset: number;
  byteLength: number;
  /** Number of elements. */
  length: number;
  crc32: number;
  /** A reader that does not know this section's group or dtype skips it (version 2 and later). */
  optional?: boolean;
}

/** What the section table holds besides the sections. */
export interface ModelFileInfo {
  formatVersion: number;
  fileBytes: number;
  kind: string;
  version: number;
  config: Record<string, unknown>;
  /** Free-form information stored with the model (created time, fastrec version, training summary...). */
  metadata: Record<string, unknown>;
  sections: SectionInfo[];
  /** Set by readModelFile: whether the arrays are views of a memory-mapped file. */
  mapped?: boolean;
}

export interface LoadedModelFile {
  state: ModelState;
  info: ModelFileInfo;
  /** Prebuilt index sections by name (views into the file's buffer; empty when the file has none). */
  indexes: Record<string, Uint8Array>;
}

const DTYPES: Record<Exclude<SectionDtype, 'json' | 'ids-f64' | 'ids-lines'>, { ctor: new (b: ArrayBufferLike, o: number, n: number) => StateArray; bytes: number }> = {
  f32: { ctor: Float32Array, bytes: 4 },
  f64: { ctor: Float64Array, bytes: 8 },
  i32: { ctor: Int32Array, bytes: 4 },
  u32: { ctor: Uint32Array, bytes: 4 },
  u8: { ctor: Uint8Array, bytes: 1 },
  i64: { ctor: BigInt64Array as unknown as new (b: ArrayBufferLike, o: number, n: number) => StateArray, bytes: 8 },
};

function dtypeOf(name: string, a: unknown): keyof typeof DTYPES {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Uint32Array) return 'u32';
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof BigInt64Array) return 'i64';
  throw new InvalidArgumentError(`Expected a Float32Array, Float64Array, Int32Array, Uint32Array, Uint8Array or BigInt64Array for state.arrays.${name} but received ${a === null ? 'null' : typeof a === 'object' ? (a as object).constructor?.name : typeof a}`);
}

const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Encode an id list: numbers-only lists as f64 (compact, exact), anything else as JSON. */
function encodeIds(name: string, ids: readonly (string | number)[]): { dtype: SectionDtype; bytes: Uint8Array } {
  if (!Array.isArray(ids)) throw new InvalidArgumentError(`Expected an array of ids for state.ids.${name}`);
  for (let i = 0; i < ids.length; i++) {
    const x = ids[i];
    if (typeof x !== 'string' && !(typeof x === 'number' && Number.isFinite(x))) {
      throw new InvalidArgumentError(`Expected a string or finite number for state.ids.${name}[${i}] but received ${String(x)}`);
    }
  }
  if (ids.length > 0 && ids.every((x) => typeof x === 'number')) {
    return { dtype: 'ids-f64', bytes: bytesOf(Float64Array.from(ids as number[])) };
  }
  if (ids.length > 0 && ids.every((x) => typeof x === 'string' && !x.includes('\n'))) {
    return { dtype: 'ids-lines', bytes: new TextEncoder().encode((ids as string[]).join('\n')) };
  }
  return { dtype: 'json', bytes: new TextEncoder().encode(JSON.stringify(ids)) };
}

function checkState(state: ModelState): void {
  if (typeof state !== 'object' || state === null) throw new InvalidArgumentError('Expected a ModelState object for state');
  if (typeof state.kind !== 'string' || state.kind === '') throw new InvalidArgumentError(`Expected a non-empty string for state.kind but received ${String(state.kind)}`);
  if (!Number.isInteger(state.version)) throw new InvalidArgumentError(`Expected an integer for state.version but received ${String(state.version)}`);
}

/** Serialize the JSON parts once up front, so a bad config fails before any file is touched. */
function planSections(state: ModelState, indexes: Record<string, Uint8Array>): { sections: SectionInfo[]; payloads: Uint8Array[]; end: number } {
  const sections: SectionInfo[] = [];
  const payloads: Uint8Array[] = [];
  let offset = HEADER_BYTES;
  const push = (name: string, dtype: SectionDtype, bytes: Uint8Array, length: number, optional = false): void => {
    sections.push({ name, dtype, offset, byteLength: bytes.byteLength, length, crc32: crc32(bytes), ...(optional ? { optional } : {}) });
    payloads.push(bytes);
    offset = align(offset + bytes.byteLength);
  };
  for (const [name, arr] of Object.entries(state.arrays ?? {})) {
    const dtype = dtypeOf(name, arr);
    push(`array:${name}`, dtype, bytesOf(arr), arr.length);
  }
  for (const [name, ids] of Object.entries(state.ids ?? {})) {
    const { dtype, bytes } = encodeIds(name, ids);
    push(`ids:${name}`, dtype, bytes, ids.length);
  }
  for (const [name, bytes] of Object.entries(indexes)) {
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`Expected a Uint8Array for indexes.${name} but received ${bytes === null ? 'null' : typeof bytes}`);
    // Optional: the model works without it (the service builds the index at start-up instead).
    push(`index:${name}`, 'u8', bytes, bytes.byteLength, true);
  }
  return { sections, payloads, end: offset };
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  // writeSync may write less than asked (large buffers); loop until all is out.
  while (done < bytes.byteLength) {
    done += fs.writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30), position + done);
  }
}

/**
 * Write `state` to `path` atomically (temporary file, fsync, rename, fsync of
 * the directory).
 * @throws InvalidArgumentError for a malformed state; IoError when the file cannot be written.
 */
export function writeModelFile(path: string, state: ModelState, metadata: Record<string, unknown> = {}, indexes: Record<string, Uint8Array> = {}): void {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(`Expected a file path for path but received ${String(path)}`);
  checkState(state);
  if (typeof indexes !== 'object' || indexes === null) throw new InvalidArgumentError(`Expected an object of Uint8Arrays for indexes but received ${String(indexes)}`);
  const { sections, payloads, end } = planSections(state, indexes);
  const table = new TextEncoder().encode(
    JSON.stringify({ kind: state.kind, version: state.version, config: state.config ?? {}, metadata, sections }),
  );
  const tableOffset = end;
  const fileBytes = tableOffset + table.byteLength;
  const header = new Uint8Array(HEADER_BYTES);
  const dv = new DataView(header.buffer);
  header.set(MAGIC, 0);
  // Index sections exist from version 2 on; without them the file stays readable by version-1 readers.
  dv.setUint32(8, Object.keys(indexes).length > 0 ? 2 : BASE_VERSION, true);
  dv.setUint32(12, 0, true);
  dv.setBigUint64(16, BigInt(fileBytes), true);
  dv.setBigUint64(24, BigInt(tableOffset), true);
  dv.setBigUint64(32, BigInt(table.byteLength), true);
  dv.setUint32(40, crc32(table), true);
  dv.setUint32(44, crc32(header.subarray(0, 44)), true);

  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    sections.forEach((s, i) => writeAll(fd!, payloads[i]!, s.offset));
    writeAll(fd, table, tableOffset);
    // The header goes last: a file whose header is valid had all its sections written.
    writeAll(fd, header, 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (cause) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    const code = (cause as NodeJS.ErrnoException).code ?? '';
    throw new IoError(`cannot write model file ${path}: ${code || (cause as Error).message}${code === 'ENOENT' ? ` (does the directory ${dir} exist?)` : ''}`, { cause });
  }
  // Make the rename itself durable; some file systems refuse fsync on a directory, which is harmless.
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* not supported here */
  }
}

function corrupt(path: string, what: string): CorruptFileError {
  return new CorruptFileError(`${path} is not a valid fastrec model file: ${what}. Re-create it with \`fastrec train\` or restore it from a backup.`);
}

/** Parse and check the fixed header; returns the table's place. */
function parseHeader(path: string, header: Uint8Array, fileBytes: number): { tableOffset: number; tableBytes: number; tableCrc: number; formatVersion: number } {
  if (header.byteLength < HEADER_BYTES) throw corrupt(path, `the file has only ${fileBytes} bytes, less than the ${HEADER_BYTES}-byte header`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (header[i] !== MAGIC[i]) throw corrupt(path, 'it does not start with the fastrec magic number');
  }
  const dv = new DataView(header.buffer, header.byteOffset, HEADER_BYTES);
  if (dv.getUint32(44, true) !== crc32(header.subarray(0, 44))) throw corrupt(path, 'the header checksum does not match');
  const formatVersion = dv.getUint32(8, true);
  if (formatVersion > FORMAT_VERSION || formatVersion === 0) {
    throw new UnsupportedVersionError(`${path} has model file format version ${formatVersion}; this fastrec reads versions 1 to ${FORMAT_VERSION}. Upgrade fastrec (npm install fastrec@latest) to load it.`);
  }
  const declared = Number(dv.getBigUint64(16, true));
  if (declared !== fileBytes) {
    throw corrupt(path, declared > fileBytes ? `it is truncated (${fileBytes} of ${declared} bytes)` : `it has ${fileBytes - declared} unexpected trailing bytes`);
  }
  const tableOffset = Number(dv.getBigUint64(24, true));
  const tableBytes = Number(dv.getBigUint64(32, true));
  if (tableOffset < HEADER_BYTES || tableOffset + tableBytes > fileBytes) throw corrupt(path, 'the section table lies outside the file');
  return { tableOffset, tableBytes, tableCrc: dv.getUint32(40, true), formatVersion };
}

function parseTable(path: string, bytes: Uint8Array, crc: number, formatVersion: number, fileBytes: number): ModelFileInfo {
  if (crc32(bytes) !== crc) throw corrupt(path, 'the section table checksum does not match');
  let t: Record<string, unknown>;
  try {
    t = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {
    throw corrupt(path, 'the section table is not valid JSON');
  }
  const sections = t.sections;
  if (typeof t.kind !== 'string' || !Number.isInteger(t.version) || !Array.isArray(sections)) throw corrupt(path, 'the section table lacks kind, version or sections');
  for (const s of sections as SectionInfo[]) {
    const ok =
      typeof s?.name === 'string' &&
      Number.isSafeInteger(s.offset) && Number.isSafeInteger(s.byteLength) && Number.isSafeInteger(s.length) &&
      s.offset >= HEADER_BYTES && s.offset % ALIGN === 0 && s.byteLength >= 0 && s.offset + s.byteLength <= fileBytes &&
      (s.dtype in DTYPES
        ? s.byteLength === s.length * DTYPES[s.dtype as keyof typeof DTYPES].bytes
        : s.dtype === 'json' || s.dtype === 'ids-lines' || (s.dtype === 'ids-f64' && s.byteLength === s.length * 8) || (s.optional === true && typeof s.dtype === 'string'));
    if (!ok) throw corrupt(path, `section ${JSON.stringify(s?.name)} has an invalid place or type`);
  }
  return {
    formatVersion,
    fileBytes,
    kind: t.kind,
    version: t.version as number,
    config: (t.config ?? {}) as Record<string, unknown>,
    metadata: (t.metadata ?? {}) as Record<string, unknown>,
    sections: sections as SectionInfo[],
  };
}

function readFileBytes(path: string, mmap: boolean): { bytes: Uint8Array; mapped: boolean } {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(`Expected a file path for path but received ${String(path)}`);
  try {
    if (mmap && fs.statSync(path).size > 0) {
      const mapped = mapFile(path);
      if (mapped) return { bytes: new Uint8Array(mapped), mapped: true };
    }
    const buf = fs.readFileSync(path);
    // Small files come from Node's shared pool at arbitrary offsets: copy so views are 64-byte aligned.
    return { bytes: buf.byteOffset % ALIGN === 0 ? buf : new Uint8Array(buf), mapped: false };
  } catch (cause) {
    if (cause instanceof FastrecError && cause.code !== 'IO_ERROR') throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    throw new IoError(`cannot read model file ${path}: ${code === 'ENOENT' ? 'no such file (check the path, or train a model with `fastrec train ... --out ' + path + '`)' : code ?? (cause as Error).message}`, { cause });
  }
}

/** The native mmap, when the addon loads (plain reads otherwise). */
function mapFile(path: string): ArrayBuffer | null {
  let binding;
  try {
    binding = native();
  } catch {
    return null;
  }
  if (typeof binding.mapFile !== 'function') return null;
  return callSync((nb) => nb.mapFile(path));
}

/** Read only the header and section table (no large sections): for `fastrec info`. */
export function inspectModelFile(path: string): ModelFileInfo {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new IoError(`cannot read model file ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? String(cause)}`, { cause });
  }
  try {
    const fileBytes = fs.fstatSync(fd).size;
    const header = new Uint8Array(Math.min(HEADER_BYTES, fileBytes));
    fs.readSync(fd, header, 0, header.byteLength, 0);
    const h = parseHeader(path, header, fileBytes);
    const table = new Uint8Array(h.tableBytes);
    fs.readSync(fd, table, 0, h.tableBytes, h.tableOffset);
    return parseTable(path, table, h.tableCrc, h.formatVersion, fileBytes);
  } finally {
    fs.closeSync(fd);
  }
}

export interface ReadModelFileOptions {
  /** Check every section's CRC-32 (default true; the header and table are always checked). */
  verify?: boolean;
  /**
   * Map the file into memory instead of reading it (default true where the
   * native addon provides mmap): arrays are views of the page cache, shared
   * between processes, paged in on first use. With verify: false, loading
   * touches only the header and table, so start-up is milliseconds whatever
   * the model's size.
   */
  mmap?: boolean;
}

/**
 * Read a model file: typed arrays are zero-copy views into one buffer.
 * @throws CorruptFileError (truncated, damaged, not a model file), UnsupportedVersionError (newer format), IoError.
 */
export function readModelFile(path: string, options: ReadModelFileOptions = {}): LoadedModelFile {
  const { bytes, mapped } = readFileBytes(path, options.mmap ?? true);
  const loaded = decodeModelFile(bytes, path, options);
  loaded.info.mapped = mapped;
  return loaded;
}

/** Decode a model file already in memory (`path` only names it in errors). */
export function decodeModelFile(bytes: Uint8Array, path = '<buffer>', options: ReadModelFileOptions = {}): LoadedModelFile {
  const verify = options.verify ?? true;
  const h = parseHeader(path, bytes.subarray(0, HEADER_BYTES), bytes.byteLength);
  const info = parseTable(path, bytes.subarray(h.tableOffset, h.tableOffset + h.tableBytes), h.tableCrc, h.formatVersion, bytes.byteLength);
  const state: ModelState = { kind: info.kind, version: info.version, config: info.config, arrays: {}, ids: {} };
  const indexes: Record<string, Uint8Array> = {};
  for (const s of info.sections) {
    const raw = bytes.subarray(s.offset, s.offset + s.byteLength);
    if (verify && crc32(raw) !== s.crc32) throw corrupt(path, `section ${s.name} fails its checksum`);
    const sep = s.name.indexOf(':');
    const group = s.name.slice(0, sep);
    const name = s.name.slice(sep + 1);
    if (group === 'array' && s.dtype in DTYPES) {
      const d = DTYPES[s.dtype as keyof typeof DTYPES];
      state.arrays[name] = new d.ctor(bytes.buffer, bytes.byteOffset + s.offset, s.length);
    } else if (group === 'index' && s.dtype === 'u8') {
      indexes[name] = raw;
    } else if (s.optional === true) {
      // A kind of optional section from a newer fastrec: the model loads without it.
      continue;
    } else if (group === 'ids' && s.dtype === 'ids-f64') {
      state.ids[name] = Array.from(new Float64Array(bytes.buffer, bytes.byteOffset + s.offset, s.length));
    } else if (group === 'ids' && s.dtype === 'ids-lines') {
      const ids = s.length === 0 ? [] : new TextDecoder().decode(raw).split('\n');
      if (ids.length !== s.length) throw corrupt(path, `section ${s.name} does not hold ${s.length} ids`);
      state.ids[name] = ids;
    } else if (group === 'ids' && s.dtype === 'json') {
      let ids: unknown;
      try {
        ids = JSON.parse(new TextDecoder().decode(raw));
      } catch {
        throw corrupt(path, `section ${s.name} is not valid JSON`);
      }
      if (!Array.isArray(ids) || ids.length !== s.length) throw corrupt(path, `section ${s.name} does not hold ${s.length} ids`);
      state.ids[name] = ids as (string | number)[];
    } else {
      throw corrupt(path, `section ${JSON.stringify(s.name)} has an unknown kind`);
    }
  }
  return { state, info, indexes };
}
