import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInteractions, readFeatures, parseCsv, FeatureTable } from '../lib/index.js';
import { IoError, InvalidArgumentError, ParseError } from '../lib/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fastrec-readers-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const columns = { user: 'user', item: 'item', value: 'rating', timestamp: 'ts' };

/** The ParseError a read throws (fails the test when it resolves). */
async function parseErrorOf(read: Promise<unknown>): Promise<ParseError> {
  const err = await read.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ParseError);
  return err as ParseError;
}

describe('readInteractions: good files', () => {
  it('reads CSV with quotes, CRLF, ISO and epoch timestamps, and a BOM', async () => {
    const path = file('good.csv', '\uFEFFuser,item,rating,ts\r\n"u,1",i1,4.5,1700000000\r\nu2,"say ""hi""",1,2024-01-02T00:00:00Z\r\n\r\nu2,i1,2,\r\n');
    const { value: log, rows, skipped } = await readInteractions(path, { columns });
    expect([rows, skipped]).toEqual([3, 0]);
    expect(log.users.ids()).toEqual(['u,1', 'u2']);
    expect(log.items.ids()).toEqual(['i1', 'say "hi"']);
    const c = log.columns();
    expect(Array.from(c.values)).toEqual([4.5, 1, 2]);
    expect(c.timestamps[0]).toBe(1700000000 * 1000);
    expect(c.timestamps[1]).toBe(Date.parse('2024-01-02T00:00:00Z'));
    expect(Number.isNaN(c.timestamps[2])).toBe(true);
  });

  it('reads TSV and JSON Lines with the same column mapping', async () => {
    const tsv = file('good.tsv', 'user\titem\trating\tts\nu1\ti1\t3\t10\n');
    const jsonl = file('good.jsonl', '{"user":"u1","item":"i1","rating":3,"ts":10}\n\n{"user":"u2","item":"i2","rating":"2","ts":"11"}\n');
    const a = await readInteractions(tsv, { columns, timestampUnit: 'ms' });
    expect(a.rows).toBe(1);
    expect(a.value.columns().timestamps[0]).toBe(10);
    const b = await readInteractions(jsonl, { columns, timestampUnit: 'ms' });
    expect(b.rows).toBe(2);
    expect(Array.from(b.value.columns().values)).toEqual([3, 2]);
    expect(Array.from(b.value.columns().timestamps)).toEqual([10, 11]);
  });
});

describe('readInteractions: malformed rows name file, line and column', () => {
  const header = 'user,item,rating,ts\n';
  const cases: Array<{ name: string; text: string; line: number; column: string; message: RegExp }> = [
    { name: 'a quote inside an unquoted field', text: header + 'u1,i1,4,1\nu2,i"2,3,1\n', line: 3, column: 'item', message: /quote inside an unquoted field/ },
    { name: 'text after a closing quote', text: header + 'u1,"i1"x,4,1\n', line: 2, column: 'item', message: /after a closing quote/ },
    { name: 'an unclosed quote at the end of the file', text: header + 'u1,i1,4,1\nu2,i2,"3,1\n', line: 3, column: 'rating', message: /missing closing quote/ },
    { name: 'too few fields', text: header + 'u1,i1\n', line: 2, column: 'rating', message: /2 fields where the header has 4/ },
    { name: 'too many fields', text: header + 'u1,i1,4,1,extra\n', line: 2, column: 'field 5', message: /5 fields where the header has 4/ },
    { name: 'a non-numeric value', text: header + 'u1,i1,4,1\nu1,i2,four,1\n', line: 3, column: 'rating', message: /expected a number but found "four"/ },
    { name: 'NaN as a value', text: header + 'u1,i1,NaN,1\n', line: 2, column: 'rating', message: /expected a number but found "NaN"/ },
    { name: 'an empty value', text: header + 'u1,i1,,1\n', line: 2, column: 'rating', message: /expected a number but found ""/ },
    { name: 'a bad timestamp', text: header + 'u1,i1,4,yesterday\n', line: 2, column: 'ts', message: /expected a timestamp .* found "yesterday"/ },
    { name: 'an empty id', text: header + ',i1,4,1\n', line: 2, column: 'user', message: /empty id/ },
  ];
  for (const c of cases) {
    it(`CSV: ${c.name}`, async () => {
      const path = file(`bad-${c.name.replace(/\W+/g, '-')}.csv`, c.text);
      const err = await parseErrorOf(readInteractions(path, { columns }));
      expect(err.code).toBe('PARSE_ERROR');
      expect(err.file).toBe(path);
      expect(err.line).toBe(c.line);
      expect(err.column).toBe(c.column);
      expect(err.message).toMatch(c.message);
      expect(err.message.startsWith(`${path}:${c.line} column "${c.column}"`)).toBe(true);
    });
  }

  it('a missing column fails the whole read, even with onBadRow: skip', async () => {
    const path = file('missing-col.csv', 'user,item,score\nu1,i1,3\n');
    for (const onBadRow of ['throw', 'skip'] as const) {
      const err = await parseErrorOf(readInteractions(path, { columns: { user: 'user', item: 'item', value: 'rating' }, onBadRow }));
      expect([err.line, err.column]).toEqual([1, 'rating']);
      expect(err.message).toMatch(/no column "rating" \(mapped as value\); the header has: user, item, score/);
    }
  });

  it('a bad quote in the header fails the whole read', async () => {
    const path = file('bad-header.csv', 'user,it"em\nu1,i1\n');
    const err = await parseErrorOf(readInteractions(path, { columns: { user: 'user', item: 'item' }, onBadRow: 'skip' }));
    expect([err.line, err.column]).toEqual([1, 'field 2']);
  });

  it('TSV: wrong field count names the column', async () => {
    const path = file('bad.tsv', 'user\titem\trating\tts\nu1\ti1\t4\n');
    const err = await parseErrorOf(readInteractions(path, { columns }));
    expect([err.line, err.column]).toEqual([2, 'ts']);
  });

  it('JSON Lines: bad JSON, non-objects, missing fields and bad values', async () => {
    const rows = [
      '{"user":"u1","item":"i1","rating":4,"ts":1}', // line 1: good
      '{"user":"u2","item":"i2","rating":4,"ts":1', // line 2: truncated JSON
      '[1,2,3]', // line 3: not an object
      '{"user":"u3","rating":4,"ts":1}', // line 4: no item
      '{"user":"u4","item":"i4","rating":"x","ts":1}', // line 5: bad value
      '{"user":"u5","item":"i5","rating":4,"ts":"soon"}', // line 6: bad timestamp
      '{"user":"u6","item":"i6","rating":null,"ts":1}', // line 7: null value
      '{"user":"u7","item":"i7","rating":2,"ts":2}', // line 8: good
    ];
    const path = file('bad.jsonl', rows.join('\n') + '\n');
    const first = await parseErrorOf(readInteractions(path, { columns }));
    expect(first.line).toBe(2);
    expect(first.column).toMatch(/^character \d+$/);
    expect(first.message).toMatch(/not valid JSON/);
    const r = await readInteractions(path, { columns, onBadRow: 'skip' });
    expect([r.rows, r.skipped]).toEqual([2, 6]);
    expect(r.value.users.ids()).toEqual(['u1', 'u7']);
    expect(r.errors.map((e) => [e.line, e.column])).toEqual([
      [2, first.column],
      [3, undefined],
      [4, 'item'],
      [5, 'rating'],
      [6, 'ts'],
      [7, 'rating'],
    ]);
  });

  it("onBadRow: 'skip' skips and counts every kind of bad CSV row and keeps the good ones", async () => {
    const text =
      'user,item,rating,ts\n' +
      'u1,i1,4,1\n' + // 2 good
      'u2,i"2,3,1\n' + // 3 stray quote
      'u3,i3\n' + // 4 too few
      'u4,i4,x,1\n' + // 5 non-numeric
      'u5,"i5\n5",5,1\n' + // 6-7 good: a newline inside quotes
      'u6,i6,1,never\n' + // 8 bad timestamp
      'u7,"i7"!,1,1\n' + // 9 text after closing quote
      'u8,i8,2,3\n'; // 10 good
    const path = file('mixed.csv', text);
    const r = await readInteractions(path, { columns, onBadRow: 'skip' });
    expect([r.rows, r.skipped]).toEqual([3, 5]);
    expect(r.value.items.ids()).toEqual(['i1', 'i5\n5', 'i8']);
    expect(r.errors.map((e) => [e.line, e.column])).toEqual([
      [3, 'item'],
      [4, 'rating'],
      [5, 'rating'],
      [8, 'ts'],
      [9, 'item'],
    ]);
    // Only the first 10 errors are kept, but every bad row is counted.
    const many = file('many-bad.csv', 'user,item,rating\n' + 'u,i,x\n'.repeat(25) + 'u,i,1\n');
    const m = await readInteractions(many, { columns: { user: 'user', item: 'item', value: 'rating' }, onBadRow: 'skip' });
    expect([m.rows, m.skipped, m.errors.length]).toEqual([1, 25, 10]);
  });

  it('unknown event types are bad rows; known ones are weighted', async () => {
    const path = file('events.csv', 'user,item,event\nu1,i1,view\nu1,i2,teleport\nu2,i1,purchase\n');
    const err = await parseErrorOf(readInteractions(path, { columns: { user: 'user', item: 'item', event: 'event' } }));
    expect([err.line, err.column]).toEqual([3, 'event']);
    expect(err.message).toMatch(/unknown event type "teleport"/);
    const r = await readInteractions(path, { columns: { user: 'user', item: 'item', event: 'event' }, onBadRow: 'skip' });
    expect([r.rows, r.skipped]).toEqual([2, 1]);
    expect(Array.from(r.value.weights())).toEqual([1, 5]);
  });
});

describe('readFeatures', () => {
  it('reads a feature table and reports bad rows by line and column', async () => {
    const path = file('items.csv', 'id,brand,price\nsku1,acme,9.5\nsku2,zeta\nsku3,acme,cheap\n');
    const schema = { brand: 'categorical', price: 'numeric' } as const;
    const err = await parseErrorOf(readFeatures(path, { id: 'id', schema }));
    expect([err.line, err.column]).toEqual([3, 'price']);
    const r = await readFeatures(path, { id: 'id', schema, onBadRow: 'skip' });
    expect(r.value).toBeInstanceOf(FeatureTable);
    expect(r.rows).toBe(1);
    expect(r.skipped).toBe(2);
    expect(r.value.get('sku1')).toEqual({ brand: 'acme', price: 9.5 });
    expect(r.errors[1]!.line).toBe(4);
  });
});

// ---- the CSV parser against a reference, fed in tiny chunks ----

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** RFC 4180 writer: quote a field when it holds a delimiter, quote, CR or LF. */
function toCsv(records: string[][], eol: string): string {
  const quote = (f: string) => (/[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f);
  return records.map((r) => r.map(quote).join(',')).join(eol) + eol;
}

async function* chunksOf(text: string, sizes: () => number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; ) {
    const n = sizes();
    yield text.slice(i, i + n);
    i += n;
  }
}

async function collect(gen: AsyncIterable<{ fields: string[]; line: number }>) {
  const out: Array<{ fields: string[]; line: number }> = [];
  for await (const r of gen) out.push({ fields: r.fields, line: r.line });
  return out;
}

describe('parseCsv', () => {
  it('matches the records it was written from, in chunks of 1 to 5 characters', async () => {
    const rand = lcg(11);
    const alphabet = ['a', 'b', ',', '"', '\n', '\r\n', ' ', 'é', '""', 'x,y'];
    for (let round = 0; round < 40; round++) {
      const records: string[][] = [];
      const nRecords = 1 + Math.floor(rand() * 12);
      for (let r = 0; r < nRecords; r++) {
        const nFields = 2 + Math.floor(rand() * 4);
        const rec: string[] = [];
        for (let f = 0; f < nFields; f++) {
          let s = '';
          const len = Math.floor(rand() * 6);
          for (let k = 0; k < len; k++) s += alphabet[Math.floor(rand() * alphabet.length)];
          // A CR outside quotes is dropped by design, so only write CR inside fields that get quoted.
          rec.push(s);
        }
        records.push(rec);
      }
      const eol = rand() < 0.5 ? '\n' : '\r\n';
      const text = toCsv(records, eol);
      // Reference line numbers: each record starts after the newlines of all earlier ones.
      const lines: number[] = [];
      let line = 1;
      for (const rec of records) {
        lines.push(line);
        line += (toCsv([rec], eol).match(/\n/g) ?? []).length;
      }
      const got = await collect(parseCsv(chunksOf(text, () => 1 + Math.floor(rand() * 5)), 'mem.csv'));
      expect(got.map((r) => r.fields)).toEqual(records);
      expect(got.map((r) => r.line)).toEqual(lines);
    }
  });

  it('gives the same records for every split of a tricky text into two chunks', async () => {
    const text = 'a,"b,""c""\nd",e\r\n"",x\n\n"q""",""""\nlast,"no newline at end"';
    const expected = [
      { fields: ['a', 'b,"c"\nd', 'e'], line: 1 },
      { fields: ['', 'x'], line: 3 },
      { fields: ['q"', '"'], line: 5 },
      { fields: ['last', 'no newline at end'], line: 6 },
    ];
    for (let cut = 0; cut <= text.length; cut++) {
      const two = (async function* () {
        yield text.slice(0, cut);
        yield text.slice(cut);
      })();
      expect(await collect(parseCsv(two, 'mem.csv'))).toEqual(expected);
    }
  });

  it('keeps a record of one quoted empty field, and skips truly blank lines', async () => {
    const got = await collect(parseCsv(chunksOf('h\n""\n\n\nz\n', () => 1), 'mem.csv'));
    expect(got).toEqual([
      { fields: ['h'], line: 1 },
      { fields: [''], line: 2 },
      { fields: ['z'], line: 5 },
    ]);
  });

  it('throws a ParseError on a stray quote, or recovers at the next line', async () => {
    const text = 'a,b\nc,d"e,f\ng,h\n';
    const err = await collect(parseCsv(chunksOf(text, () => 2), 'mem.csv')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParseError);
    expect((err as ParseError).line).toBe(2);
    expect((err as ParseError).column).toBe('field 2');
    const records: Array<{ fields: string[]; error?: string; field?: number }> = [];
    for await (const r of parseCsv(chunksOf(text, () => 2), 'mem.csv', { recover: true })) records.push(r);
    expect(records.map((r) => [r.fields, r.error !== undefined, r.field])).toEqual([
      [['a', 'b'], false, undefined],
      [['c'], true, 1],
      [['g', 'h'], false, undefined],
    ]);
  });
});

describe('readers: invalid arguments', () => {
  it('rejects bad options and missing files with typed errors', async () => {
    const path = file('ok.csv', 'user,item\nu,i\n');
    await expect(readInteractions(path, { columns: { user: 'user' } } as never)).rejects.toThrow(InvalidArgumentError);
    await expect(readInteractions(path, { columns: { user: 'user', item: 'item' }, onBadRow: 'ignore' } as never)).rejects.toThrow(/'throw', 'skip'/);
    await expect(readInteractions(path, { columns: { user: 'user', item: 'item' }, formt: 'csv' } as never)).rejects.toThrow(/did you mean 'format'/);
    await expect(readInteractions(join(dir, 'nope.csv'), { columns: { user: 'user', item: 'item' } })).rejects.toThrow(IoError);
    await expect(readInteractions(join(dir, 'nope.csv'), { columns: { user: 'user', item: 'item' } })).rejects.toThrow(/no such file/);
  });
});
