/**
 * Readers for interaction logs and feature tables: CSV, TSV and JSON Lines,
 * streamed, with a column mapping. A bad row throws a ParseError naming the
 * file, line and column, or is skipped and counted with { onBadRow: 'skip' }.
 */
import { createInterface } from 'node:readline';
import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { Interactions, type InteractionsOptions } from '../data/interactions.js';
import { FeatureTable, type FeatureSchema } from '../data/features.js';
import { ParseError, FastrecError, IoError } from '../errors.js';
import { invalid, knownOptions, oneOf } from '../validate.js';
import { fileChunks, parseCsv } from './csv.js';

export type FileFormat = 'csv' | 'tsv' | 'jsonl';

export interface InteractionColumnMap {
  user: string;
  item: string;
  /** Numeric value column (default: every row counts 1). */
  value?: string;
  /** Event type column (weights from eventWeights). */
  event?: string;
  /** Timestamp column: epoch seconds or milliseconds (see timestampUnit), or ISO-8601 text. */
  timestamp?: string;
}

export interface ReadOptions {
  format?: FileFormat;
  /** 'throw' (default) stops at the first bad row; 'skip' counts it and goes on. */
  onBadRow?: 'throw' | 'skip';
}

export interface ReadInteractionsOptions extends ReadOptions, InteractionsOptions {
  columns: InteractionColumnMap;
  /** Unit of numeric timestamps: 's' (default, as in MovieLens) or 'ms'. */
  timestampUnit?: 's' | 'ms';
  /** Keep only rows for which this returns true (after parsing), e.g. ratings >= 4. */
  filter?: (row: { user: string; item: string; value: number }) => boolean;
}

export interface ReadResult<T> {
  value: T;
  rows: number;
  skipped: number;
  /** The first few skipped rows' errors, for reporting. */
  errors: ParseError[];
}

function formatOf(path: string, format: FileFormat | undefined): FileFormat {
  if (format) return oneOf('options.format', format, ['csv', 'tsv', 'jsonl'] as const);
  const ext = extname(path).toLowerCase();
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return 'csv';
}

interface FileRow {
  line: number;
  row: Record<string, unknown>;
  /** Set when the row itself is malformed (bad JSON, stray quote, wrong field count). */
  error?: ParseError;
}

/**
 * Rows of a file as objects keyed by column name, with their line numbers.
 * `onHeader` sees a CSV/TSV header first (a bad header fails the whole read,
 * whatever onBadRow says: no row could be read correctly).
 */
async function* rowsOf(path: string, format: FileFormat, onHeader: (header: string[], line: number) => void): AsyncGenerator<FileRow> {
  try {
    if (format === 'jsonl') {
      const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
      let line = 0;
      for await (const text of rl) {
        line++;
        if (text.trim() === '') continue;
        let row: unknown;
        try {
          row = JSON.parse(text);
        } catch (err) {
          // V8 says where: "... in JSON at position 12"; report it as a 1-based character column.
          const at = /position (\d+)/.exec(String((err as Error).message));
          const column = at ? `character ${Number(at[1]) + 1}` : undefined;
          yield { line, row: {}, error: new ParseError(path, line, column, `not valid JSON (${(err as Error).message})`) };
          continue;
        }
        if (typeof row !== 'object' || row === null || Array.isArray(row)) {
          yield { line, row: {}, error: new ParseError(path, line, undefined, `expected a JSON object but found ${JSON.stringify(row)}`) };
          continue;
        }
        yield { line, row: row as Record<string, unknown> };
      }
      return;
    }
    let header: string[] | undefined;
    for await (const rec of parseCsv(fileChunks(path), path, { delimiter: format === 'tsv' ? '\t' : ',', recover: true })) {
      if (!header) {
        if (rec.error) throw new ParseError(path, rec.line, `field ${rec.field! + 1}`, `bad header: ${rec.error}`);
        header = rec.fields.map((f) => f.trim().replace(/^\uFEFF/, ''));
        onHeader(header, rec.line);
        continue;
      }
      const row: Record<string, unknown> = {};
      for (let c = 0; c < header.length; c++) row[header[c]!] = rec.fields[c];
      if (rec.error) {
        yield { line: rec.line, row, error: new ParseError(path, rec.line, header[rec.field!] ?? `field ${rec.field! + 1}`, rec.error) };
      } else if (rec.fields.length !== header.length) {
        const n = rec.fields.length;
        const column = n < header.length ? header[n]! : `field ${header.length + 1}`;
        const problem = `${n} field${n === 1 ? '' : 's'} where the header has ${header.length} (${n < header.length ? `no value for "${column}" and after` : 'an extra field'})`;
        yield { line: rec.line, row, error: new ParseError(path, rec.line, column, problem) };
      } else yield { line: rec.line, row };
    }
  } catch (err) {
    if (err instanceof FastrecError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new IoError(`cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err });
  }
}

/** Run `read` per row: a ParseError throws or, with onBadRow 'skip', is counted and kept (the first 10). */
async function eachRow<T>(rows: AsyncIterable<FileRow>, onBad: 'throw' | 'skip', result: ReadResult<T>, read: (r: FileRow) => void): Promise<void> {
  for await (const r of rows) {
    try {
      if (r.error) throw r.error;
      read(r);
    } catch (err) {
      if (!(err instanceof ParseError) || onBad === 'throw') throw err;
      result.skipped++;
      if (result.errors.length < 10) result.errors.push(err);
    }
  }
}

/** Parse a timestamp cell: epoch seconds/milliseconds as numbers, or date text. null when empty; undefined when unreadable. */
function timestampOf(raw: unknown, unitMs: number): number | null | undefined {
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw * unitMs : undefined;
  const text = String(raw).trim();
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text) * unitMs;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Read interactions from a CSV/TSV/JSONL file.
 * @example
 * const { value: log } = await readInteractions('ratings.csv', { columns: { user: 'userId', item: 'movieId', value: 'rating', timestamp: 'timestamp' } });
 */
export async function readInteractions(path: string, options: ReadInteractionsOptions): Promise<ReadResult<Interactions>> {
  knownOptions('options', options, ['format', 'onBadRow', 'columns', 'timestampUnit', 'filter', 'eventWeights', 'users', 'items']);
  const cols = options?.columns;
  if (!cols || typeof cols.user !== 'string' || typeof cols.item !== 'string') {
    throw invalid('options.columns', '{ user: string, item: string, value?, event?, timestamp? }', cols);
  }
  knownOptions('options.columns', cols, ['user', 'item', 'value', 'event', 'timestamp']);
  const onBad = oneOf('options.onBadRow', options.onBadRow ?? 'throw', ['throw', 'skip'] as const);
  const unitMs = (options.timestampUnit ?? 's') === 's' ? 1000 : 1;
  const log = new Interactions({ eventWeights: options.eventWeights, users: options.users, items: options.items });
  const result: ReadResult<Interactions> = { value: log, rows: 0, skipped: 0, errors: [] };
  const checkHeader = (header: string[], line: number): void => {
    for (const [role, name] of Object.entries(cols)) {
      if (name !== undefined && !header.includes(name)) {
        throw new ParseError(path, line, name, `no column "${name}" (mapped as ${role}); the header has: ${header.join(', ')}`);
      }
    }
  };
  await eachRow(rowsOf(path, formatOf(path, options.format), checkHeader), onBad, result, ({ line, row }) => {
    const user = field(path, line, row, cols.user);
    const item = field(path, line, row, cols.item);
    let value = 1;
    if (cols.value) {
      const raw = row[cols.value];
      value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(value)) throw new ParseError(path, line, cols.value, `expected a number but found ${JSON.stringify(raw ?? null)}`);
    }
    if (options.filter && !options.filter({ user, item, value })) return;
    let ts: number | undefined;
    if (cols.timestamp) {
      const raw = row[cols.timestamp];
      const parsed = timestampOf(raw, unitMs);
      if (parsed !== null) ts = parsed;
      if (parsed === undefined) throw new ParseError(path, line, cols.timestamp, `expected a timestamp (epoch ${options.timestampUnit ?? 's'} or ISO-8601 text) but found ${JSON.stringify(raw)}`);
    }
    let event: string | undefined;
    if (cols.event) {
      const raw = row[cols.event] ?? '';
      event = String(raw);
      if (event !== '' && !(event in log.eventWeights)) {
        throw new ParseError(path, line, cols.event, `unknown event type ${JSON.stringify(event)}: expected one of ${log.eventNames.join(', ')} (add it to options.eventWeights)`);
      }
    }
    log.add(user, item, value, event, ts);
    result.rows++;
  });
  return result;
}

function field(path: string, line: number, row: Record<string, unknown>, name: string): string {
  const v = row[name];
  if (v === undefined || v === null || v === '') throw new ParseError(path, line, name, 'empty id');
  return String(v);
}

export interface ReadFeaturesOptions extends ReadOptions {
  /** The id column. */
  id: string;
  /** Which columns to keep, and their kinds. */
  schema: FeatureSchema;
}

/**
 * Read a feature table (item or user attributes) from a CSV/TSV/JSONL file.
 * Ids are read as strings (like the interaction readers).
 */
export async function readFeatures(path: string, options: ReadFeaturesOptions): Promise<ReadResult<FeatureTable>> {
  knownOptions('options', options, ['format', 'onBadRow', 'id', 'schema']);
  if (typeof options?.id !== 'string') throw invalid('options.id', 'the name of the id column', options?.id);
  const onBad = oneOf('options.onBadRow', options.onBadRow ?? 'throw', ['throw', 'skip'] as const);
  const table = new FeatureTable(options.schema);
  const result: ReadResult<FeatureTable> = { value: table, rows: 0, skipped: 0, errors: [] };
  const columns = Object.keys(options.schema);
  const checkHeader = (header: string[], line: number): void => {
    for (const name of [options.id, ...columns]) {
      if (!header.includes(name)) throw new ParseError(path, line, name, `no column "${name}"; the header has: ${header.join(', ')}`);
    }
  };
  await eachRow(rowsOf(path, formatOf(path, options.format), checkHeader), onBad, result, ({ line, row }) => {
    const id = field(path, line, row, options.id);
    const picked: Record<string, unknown> = {};
    for (const c of columns) picked[c] = row[c];
    try {
      table.set(id, picked);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new ParseError(path, line, columns.find((c) => message.includes(c)), message);
    }
    result.rows++;
  });
  return result;
}
