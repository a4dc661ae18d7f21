/**
 * Shared pieces of the command line: argument parsing with usage errors,
 * output as human tables or JSON, and id lookups.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FastrecError, UnknownIdError, InvalidArgumentError } from '../errors.js';
import type { Id } from '../data/idmap.js';

/** Wrong command-line usage: exit code 2 and the command's usage text. */
export class UsageError extends Error {
  constructor(message: string, readonly usage = '') {
    super(message);
    this.name = 'UsageError';
  }
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** The options every command accepts. */
export const COMMON: Options = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parse `args` strictly; unknown options and missing values become UsageErrors. */
export function parse(args: string[], options: Options, usage: string): Parsed {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), usage);
  }
}

/** A numeric option: an integer in [min, max]. */
export function intOption(values: Parsed['values'], name: string, fallback: number, min: number, max: number, usage: string): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`, usage);
  return n;
}

export function numOption(values: Parsed['values'], name: string, usage: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(raw)}`, usage);
  return n;
}

export function listOption(values: Parsed['values'], name: string): string[] | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const parts = (Array.isArray(raw) ? raw : [String(raw)]).flatMap((s) => s.split(','));
  return parts.map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Ids on the command line and in URLs are strings; models trained on numeric
 * ids know them as numbers. Try the string first, then the number.
 */
export function withId<T>(raw: string, fn: (id: Id) => T): T {
  try {
    return fn(raw);
  } catch (err) {
    const asNumber = Number(raw);
    if (err instanceof UnknownIdError && raw.trim() !== '' && Number.isFinite(asNumber)) {
      try {
        return fn(asNumber);
      } catch (err2) {
        if (err2 instanceof UnknownIdError) throw err;
        throw err2;
      }
    }
    throw err;
  }
}

/** Ids given as strings: numeric strings are also tried as numbers by `known`. */
export function resolveIds(raw: readonly (string | number)[], known: (id: Id) => boolean): Id[] {
  return raw.map((r) => {
    if (known(r)) return r;
    if (typeof r === 'string' && r.trim() !== '' && Number.isFinite(Number(r)) && known(Number(r))) return Number(r);
    if (typeof r === 'number' && known(String(r))) return String(r);
    return r;
  });
}

/** Format a table with aligned columns (numbers right-aligned). */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown): string =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(4)) : v === undefined || v === null ? '' : String(v);
  const cells = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = cols.map((c, j) => Math.max(c.length, ...cells.map((r) => r[j]!.length)));
  const numeric = cols.map((c) => rows.every((r) => typeof r[c] === 'number' || r[c] === undefined));
  const line = (vals: string[]): string => vals.map((v, j) => (numeric[j] ? v.padStart(widths[j]!) : v.padEnd(widths[j]!))).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v), 2) + '\n');
}

/** The exit code and message for an error: 2 for usage and argument errors, 1 otherwise. */
export function describeFailure(err: unknown): { code: number; message: string } {
  if (err instanceof UsageError) return { code: 2, message: `${err.message}${err.usage ? `\n\n${err.usage}` : ''}` };
  if (err instanceof InvalidArgumentError) return { code: 2, message: `${err.code}: ${err.message}` };
  if (err instanceof FastrecError) return { code: 1, message: `${err.code}: ${err.message}` };
  return { code: 1, message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}
