/**
 * Readers for interaction logs and feature tables: CSV, TSV and JSON Lines,
 * streamed, with a column mapping. A bad row throws a ParseError naming the
 * file, line and column, or is skipped and counted with { onBadRow: 'skip' }.
 */
import { createInterface } from 'node:readline';
import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { Interactions, toEpochMs, type InteractionsOptions } from '../data/interactions.js';
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

/** Rows of a file as objects keyed by column name, with their line numbers. */
async function* rowsOf(path: string, format: FileFormat): AsyncGenerator<{ line: number; row: Record<string, unknown> }> {
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
        } catch {
          yield { line, row: { [BAD_JSON]: true } };
          continue;
        }
        yield { line, row: (typeof row === 'object' && row !== null ? row : { [BAD_JSON]: true }) as Record<string, unknown> };
      }
      return;
    }
    let header: string[] | undefined;
    for await (const rec of parseCsv(fileChunks(path), path, format === 'tsv' ? '\t' : ',')) {
      if (!header) {
        header = rec.fields.map((f) => f.trim().replace(/^\uFEFF/, ''));
        continue;
      }
      const row: Record<string, unknown> = {};
      if (rec.fields.length !== header.length) row[BAD_WIDTH] = `${rec.fields.length} fields where the header has ${header.length}`;
      for (let c = 0; c < header.length; c++) row[header[c]!] = rec.fields[c];
      yield { line: rec.line, row };
    }
  } catch (err) {
    if (err instanceof FastrecError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new IoError(`cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err });
  }
}
const BAD_JSON = '\u0000bad json';
const BAD_WIDTH = '\u0000bad width';

function checkRow(path: string, line: number, row: Record<string, unknown>): void {
  if (row[BAD_JSON]) throw new ParseError(path, line, undefined, 'not a JSON object');
  if (row[BAD_WIDTH]) throw new ParseError(path, line, undefined, String(row[BAD_WIDTH]));
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
  let checkedHeader = false;
  for await (const { line, row } of rowsOf(path, formatOf(path, options.format))) {
    try {
      if (!checkedHeader && !row[BAD_JSON]) {
        checkedHeader = true;
        for (const [role, name] of Object.entries(cols)) {
          if (name !== undefined && !(name in row)) {
            throw new ParseError(path, line, name, `no column "${name}" (mapped as ${role}); columns are: ${Object.keys(row).join(', ')}`);
          }
        }
      }
      checkRow(path, line, row);
      const user = field(path, line, row, cols.user);
      const item = field(path, line, row, cols.item);
      let value = 1;
      if (cols.value) {
        value = Number(row[cols.value]);
        if (!Number.isFinite(value) || row[cols.value] === '') throw new ParseError(path, line, cols.value, `expected a number but found ${JSON.stringify(row[cols.value])}`);
      }
      if (options.filter && !options.filter({ user, item, value })) continue;
      let ts: number | undefined;
      if (cols.timestamp) {
        const raw = row[cols.timestamp];
        const num = typeof raw === 'number' ? raw : raw !== '' && /^-?\d+(\.\d+)?$/.test(String(raw)) ? Number(raw) : undefined;
        ts = num !== undefined ? num * unitMs : toEpochMs(String(raw ?? ''));
        if (Number.isNaN(ts) && raw !== '' && raw !== undefined) throw new ParseError(path, line, cols.timestamp, `expected a timestamp but found ${JSON.stringify(raw)}`);
      }
      const event = cols.event ? String(row[cols.event] ?? '') : undefined;
      try {
        log.add(user, item, value, event, ts);
      } catch (err) {
        throw new ParseError(path, line, cols.event, err instanceof Error ? err.message : String(err));
      }
      result.rows++;
    } catch (err) {
      if (!(err instanceof ParseError) || onBad === 'throw') throw err;
      result.skipped++;
      if (result.errors.length < 10) result.errors.push(err);
    }
  }
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
  for await (const { line, row } of rowsOf(path, formatOf(path, options.format))) {
    try {
      checkRow(path, line, row);
      const id = field(path, line, row, options.id);
      const picked: Record<string, unknown> = {};
      for (const c of columns) picked[c] = row[c];
      try {
        table.set(id, picked);
      } catch (err) {
        throw new ParseError(path, line, undefined, err instanceof Error ? err.message : String(err));
      }
      result.rows++;
    } catch (err) {
      if (!(err instanceof ParseError) || onBad === 'throw') throw err;
      result.skipped++;
      if (result.errors.length < 10) result.errors.push(err);
    }
  }
  return result;
}
