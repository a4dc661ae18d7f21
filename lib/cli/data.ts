/**
 * Reading the user's data files on the command line: guess the columns from
 * the header (overridable with --user-col etc.) and the item attributes'
 * kinds from a sample of rows.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { extname } from 'node:path';
import { parseCsv, fileChunks } from '../io/csv.js';
import { readFeatures, readInteractions } from '../io/readers.js';
import { Dataset } from '../data/dataset.js';
import type { FeatureKind, FeatureSchema } from '../data/features.js';
import { IoError } from '../errors.js';
import { UsageError, type Parsed } from './util.js';

export const DATA_OPTIONS = {
  'user-col': { type: 'string' },
  'item-col': { type: 'string' },
  'value-col': { type: 'string' },
  'time-col': { type: 'string' },
  'event-col': { type: 'string' },
  items: { type: 'string' },
  'item-id-col': { type: 'string' },
} as const;

export const DATA_HELP = `Data options:
  --user-col NAME --item-col NAME     id columns (default: guessed from the header, e.g. user_id, product_id)
  --value-col NAME --time-col NAME    optional weight/rating and timestamp columns (guessed when present)
  --event-col NAME                    optional event type column (view, cart, purchase...)
  --items FILE                        item attributes (CSV/TSV/JSONL) for content and hybrid models
  --item-id-col NAME                  the id column of --items (default: guessed)`;

const GUESS = {
  user: ['user', 'user_id', 'userid', 'household_id', 'customer_id', 'customerid', 'visitor_id', 'visitorid', 'uid'],
  item: ['item', 'item_id', 'itemid', 'product_id', 'productid', 'movieid', 'movie_id', 'sku', 'iid', 'article_id'],
  value: ['value', 'rating', 'quantity', 'weight', 'count', 'score'],
  time: ['timestamp', 'time', 'ts', 'datetime', 'date', 'transaction_timestamp', 'event_time', 'created_at'],
  event: ['event', 'event_type', 'type', 'action'],
} as const;

/** The header and first rows of a CSV/TSV/JSONL file. */
export async function sampleRows(path: string, n = 200): Promise<{ columns: string[]; rows: Record<string, string>[] }> {
  const ext = extname(path).toLowerCase();
  const rows: Record<string, string>[] = [];
  try {
    if (ext === '.jsonl' || ext === '.ndjson') {
      const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of rl) {
        if (line.trim() === '') continue;
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          rows.push(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v.join('|') : String(v ?? '')])));
        } catch {
          /* the reader reports bad rows with their line numbers */
        }
        if (rows.length >= n) break;
      }
      rl.close();
      return { columns: [...new Set(rows.flatMap((r) => Object.keys(r)))], rows };
    }
    let header: string[] | undefined;
    for await (const rec of parseCsv(fileChunks(path), path, ext === '.tsv' || ext === '.tab' ? '\t' : ',')) {
      if (!header) {
        header = rec.fields.map((f) => f.trim().replace(/^\uFEFF/, ''));
        continue;
      }
      rows.push(Object.fromEntries(header.map((h, c) => [h, rec.fields[c] ?? ''])));
      if (rows.length >= n) break;
    }
    return { columns: header ?? [], rows };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new IoError(`cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err });
  }
}

function guess(columns: string[], role: keyof typeof GUESS): string | undefined {
  const lower = columns.map((c) => c.toLowerCase());
  for (const g of GUESS[role]) {
    const i = lower.indexOf(g);
    if (i >= 0) return columns[i];
  }
  return undefined;
}

function pick(values: Parsed['values'], flag: string, columns: string[], role: keyof typeof GUESS, required: boolean, file: string, usage: string): string | undefined {
  const given = values[flag] as string | undefined;
  if (given !== undefined) {
    if (!columns.includes(given)) throw new UsageError(`${file} has no column "${given}" (--${flag}); its columns are: ${columns.join(', ')}`, usage);
    return given;
  }
  const g = guess(columns, role);
  if (!g && required) throw new UsageError(`cannot tell which column of ${file} holds the ${role} ids (columns: ${columns.join(', ')}); name it with --${flag}`, usage);
  return g;
}

/** Guess each attribute column's kind from sample values. */
export function inferSchema(columns: string[], rows: Record<string, string>[], idColumn: string): FeatureSchema {
  const schema: FeatureSchema = {};
  for (const c of columns) {
    if (c === idColumn) continue;
    const vals = rows.map((r) => r[c] ?? '').filter((v) => v !== '');
    if (vals.length === 0) continue;
    let kind: FeatureKind = 'categorical';
    if (vals.every((v) => Number.isFinite(Number(v)) && !/^0\d/.test(v))) kind = 'numeric';
    else if (vals.some((v) => v.includes('|'))) kind = 'multi';
    else if (vals.reduce((s, v) => s + v.split(/\s+/).length, 0) / vals.length > 3) kind = 'text';
    schema[c] = kind;
  }
  return schema;
}

export interface LoadedData {
  dataset: Dataset;
  columns: { user: string; item: string; value?: string | undefined; time?: string | undefined; event?: string | undefined };
  rows: number;
  skipped: number;
}

/** Read the interactions (and item attributes) named on the command line into a Dataset. */
export async function loadDataset(path: string, values: Parsed['values'], usage: string, threads = 0): Promise<LoadedData> {
  const { columns, rows } = await sampleRows(path);
  if (columns.length === 0) throw new UsageError(`${path} is empty or has no header row`, usage);
  const user = pick(values, 'user-col', columns, 'user', true, path, usage)!;
  const item = pick(values, 'item-col', columns, 'item', true, path, usage)!;
  const value = pick(values, 'value-col', columns, 'value', false, path, usage);
  const time = pick(values, 'time-col', columns, 'time', false, path, usage);
  const event = pick(values, 'event-col', columns, 'event', false, path, usage);
  const timeIsNumeric = time !== undefined && rows.every((r) => r[time] === '' || Number.isFinite(Number(r[time])));
  // Numeric timestamps: seconds unless they look like milliseconds (after 2001 in ms is > 1e12).
  const unitMs = timeIsNumeric && rows.some((r) => Number(r[time!]) > 1e11);
  const read = await readInteractions(path, {
    columns: { user, item, ...(value ? { value } : {}), ...(time ? { timestamp: time } : {}), ...(event ? { event } : {}) },
    ...(unitMs ? { timestampUnit: 'ms' as const } : {}),
  });
  let itemFeatures;
  const itemsPath = values.items as string | undefined;
  if (itemsPath) {
    const s = await sampleRows(itemsPath, 500);
    const id = pick(values, 'item-id-col', s.columns, 'item', true, itemsPath, usage)!;
    itemFeatures = (await readFeatures(itemsPath, { id, schema: inferSchema(s.columns, s.rows, id) })).value;
  }
  const dataset = await Dataset.build(read.value, { ...(itemFeatures ? { itemFeatures } : {}), threads, ...(value ? { allowNegative: false } : {}) });
  return { dataset, columns: { user, item, value, time, event }, rows: read.rows, skipped: read.skipped };
}
