/**
 * Streaming CSV/TSV parsing (RFC 4180: quoted fields, doubled quotes, LF or
 * CRLF line ends, newlines inside quotes). Reads the file in chunks, never as
 * one string. A carriage return outside quotes is dropped.
 */
import { createReadStream } from 'node:fs';
import { ParseError } from '../errors.js';

export interface CsvRecord {
  /** 1-based line number where the record starts. */
  line: number;
  fields: string[];
  /**
   * Set only with { recover: true }: what was malformed (a stray or unclosed
   * quote). `fields` then holds what was read before the fault, and `field`
   * is the 0-based index of the field where it was found.
   */
  error?: string;
  field?: number;
}

export interface ParseCsvOptions {
  /** Field separator (one character): ',' (default) or '\t'. */
  delimiter?: string;
  /**
   * false (default): a malformed record throws a ParseError. true: it is
   * yielded with `error` set and parsing resumes at the next line, so a
   * caller can skip and count it.
   */
  recover?: boolean;
}

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteSeen, // a quote inside a quoted field: either the closing quote or the first of a doubled pair
  SkipLine, // after a fault in recover mode: drop the rest of the line
}

/** Split a stream of text chunks into records; blank lines are skipped. */
export async function* parseCsv(chunks: AsyncIterable<string>, file: string, options: ParseCsvOptions | string = {}): AsyncGenerator<CsvRecord> {
  const opts = typeof options === 'string' ? { delimiter: options } : options;
  const delim = (opts.delimiter ?? ',').charCodeAt(0);
  const recover = opts.recover ?? false;
  let state = State.FieldStart;
  let field = '';
  let fields: string[] = [];
  let quoted = false; // the record has a quoted field (so a lone "" is not a blank line)
  let fault: { error: string; field: number } | undefined;
  let line = 1;
  let recordLine = 1;
  // A fault throws, or (recover) is noted and the rest of the line dropped: returns the next state.
  const fail = (problem: string): State => {
    if (!recover) throw new ParseError(file, line, `field ${fields.length + 1}`, problem);
    fault = { error: problem, field: fields.length };
    return State.SkipLine;
  };
  for await (const chunk of chunks) {
    const records: CsvRecord[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk.charCodeAt(i);
      if (state === State.Quoted) {
        if (ch === 34 /* " */) {
          field += chunk.slice(start, i);
          state = State.QuoteSeen;
        } else if (ch === 10) line++;
        continue;
      }
      if (state === State.SkipLine && ch !== 10) continue;
      if (state === State.QuoteSeen) {
        if (ch === 34) {
          field += '"';
          state = State.Quoted;
          start = i + 1;
          continue;
        }
        state = State.Unquoted; // the quote closed the field; only a delimiter or line end may follow
        start = i;
        if (ch !== delim && ch !== 10 && ch !== 13) {
          state = fail(`unexpected character ${JSON.stringify(chunk[i])} after a closing quote`);
          continue;
        }
      }
      if (ch === 34 && state !== State.SkipLine) {
        if (state === State.FieldStart) {
          state = State.Quoted;
          quoted = true;
          start = i + 1;
          continue;
        }
        state = fail('a quote inside an unquoted field: quote the whole field and double inner quotes ("")');
        continue;
      }
      if (ch === 13) {
        field += chunk.slice(start, i);
        start = i + 1;
        continue;
      }
      if (ch === delim || ch === 10) {
        if (state !== State.SkipLine) fields.push(field + chunk.slice(start, i));
        field = '';
        start = i + 1;
        state = State.FieldStart;
        if (ch === 10) {
          if (fault) records.push({ line: recordLine, fields, ...fault });
          else if (quoted || !(fields.length === 1 && fields[0] === '')) records.push({ line: recordLine, fields });
          fields = [];
          quoted = false;
          fault = undefined;
          line++;
          recordLine = line;
        }
        continue;
      }
      if (state === State.FieldStart) state = State.Unquoted;
    }
    if (state !== State.QuoteSeen && state !== State.SkipLine) field += chunk.slice(start);
    for (const r of records) yield r;
  }
  if (state === State.Quoted) {
    const problem = 'the file ends inside a quoted field (a missing closing quote)';
    if (!recover) throw new ParseError(file, recordLine, `field ${fields.length + 1}`, problem);
    yield { line: recordLine, fields, error: problem, field: fields.length };
    return;
  }
  if (fault) yield { line: recordLine, fields, ...fault };
  else if (field !== '' || fields.length > 0 || quoted) {
    fields.push(field);
    yield { line: recordLine, fields };
  }
}

/** Stream a file's text in chunks of about 1 MiB. */
export function fileChunks(path: string): AsyncIterable<string> {
  return createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
}
