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
}

const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteSeen, // a quote inside a quoted field: either the closing quote or the first of a doubled pair
}

/** Split a stream of text chunks into records; blank lines are skipped. */
export async function* parseCsv(chunks: AsyncIterable<string>, file: string, delimiter = ','): AsyncGenerator<CsvRecord> {
  let state = State.FieldStart;
  let field = '';
  let fields: string[] = [];
  let line = 1;
  let recordLine = 1;
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
      if (state === State.QuoteSeen) {
        if (ch === 34) {
          field += '"';
          state = State.Quoted;
          start = i + 1;
          continue;
        }
        state = State.Unquoted; // the quote closed the field; only a delimiter or line end may follow
        start = i;
        if (ch !== delimiter.charCodeAt(0) && ch !== 10 && ch !== 13) {
          throw new ParseError(file, line, undefined, `unexpected character ${JSON.stringify(chunk[i])} after a closing quote`);
        }
      }
      if (ch === 34) {
        if (state === State.FieldStart) {
          state = State.Quoted;
          start = i + 1;
          continue;
        }
        throw new ParseError(file, line, undefined, 'a quote inside an unquoted field: quote the whole field and double inner quotes ("")');
      }
      if (ch === 13) {
        field += chunk.slice(start, i);
        start = i + 1;
        continue;
      }
      if (ch === delimiter.charCodeAt(0) || ch === 10) {
        fields.push(field + chunk.slice(start, i));
        field = '';
        start = i + 1;
        state = State.FieldStart;
        if (ch === 10) {
          if (!(fields.length === 1 && fields[0] === '')) records.push({ line: recordLine, fields });
          fields = [];
          line++;
          recordLine = line;
        }
        continue;
      }
      if (state === State.FieldStart) state = State.Unquoted;
    }
    if (state !== State.QuoteSeen) field += chunk.slice(start);
    for (const r of records) yield r;
  }
  if (state === State.Quoted) throw new ParseError(file, recordLine, undefined, 'the file ends inside a quoted field (a missing closing quote)');
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    yield { line: recordLine, fields };
  }
}

/** Stream a file's text in chunks of about 1 MiB. */
export function fileChunks(path: string): AsyncIterable<string> {
  return createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
}
