// Bad input through the public data API: every case gives the typed error
// whose message names the argument, and nothing is half-applied.
import { describe, expect, it } from 'vitest';
import { Interactions, Dataset, IdMap } from '../lib/index.js';
import { DimensionMismatchError, InvalidArgumentError } from '../lib/errors.js';

const emptyLog = () => ({ users: new Int32Array(0), items: new Int32Array(0), weights: new Float32Array(0), timestamps: new Float64Array(0) });

describe('IdMap.addAll: the native bulk path numbers ids exactly like add()', () => {
  it('agrees with one add() per id across batches, single adds, number ids and clones', () => {
    let seed = 5;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const idOf = (r: number) => (r % 101 === 0 ? '' : r % 53 === 0 ? `é-中-${r}` : `id-${r}`);
    const bulk = new IdMap();
    const oneByOne = new IdMap();
    const check = (ids: Array<string | number>) => {
      const out = new Int32Array(ids.length + 3).fill(-7);
      bulk.addAll(ids, out, 3);
      expect(Array.from(out.subarray(0, 3))).toEqual([-7, -7, -7]); // nothing written before offset
      expect(Array.from(out.subarray(3))).toEqual(ids.map((id) => oneByOne.add(id)));
    };
    for (let round = 0; round < 3; round++) {
      check(Array.from({ length: 30_000 }, () => idOf(Math.floor(rand() * 40_000)))); // native path (all strings)
      for (const id of ['single-' + round, 17 + round, idOf(round * 7)]) expect(bulk.add(id)).toBe(oneByOne.add(id)); // Map path between batches
    }
    check(Array.from({ length: 25_000 }, (_, k) => (k % 1000 === 0 ? k : idOf(k)))); // mixed: falls back to the Map path
    check(Array.from({ length: 25_000 }, (_, k) => idOf(k + 50_000)));
    expect(bulk.ids()).toEqual(oneByOne.ids());
    for (const id of oneByOne.ids()) expect(bulk.index(id)).toBe(oneByOne.index(id));
    const copy = bulk.clone();
    check(Array.from({ length: 21_000 }, (_, k) => idOf(k * 3)));
    const out = new Int32Array(21_000);
    copy.addAll(Array.from({ length: 21_000 }, (_, k) => idOf(k * 3)), out);
    expect(Array.from(out)).toEqual(Array.from({ length: 21_000 }, (_, k) => oneByOne.index(idOf(k * 3))));
  });
});

describe('Interactions.addColumns', () => {
  it('maps string and number ids in bulk, like add() one by one', () => {
    const users = ['a', 'a', 'b', 7, 7, 'a', '7'];
    const items = ['x', 'y', 'x', 'x', 'x', 'z', 'y'];
    const bulk = Interactions.fromColumns({ users, items });
    const single = new Interactions();
    users.forEach((u, k) => single.add(u, items[k]!));
    expect(Array.from(bulk.columns().users)).toEqual([0, 0, 1, 2, 2, 0, 3]);
    expect(Array.from(bulk.columns().users)).toEqual(Array.from(single.columns().users));
    expect(Array.from(bulk.columns().items)).toEqual(Array.from(single.columns().items));
    expect(bulk.users.ids()).toEqual(['a', 'b', 7, '7']);
    // Typed arrays of numeric ids work too, and appending continues the maps.
    bulk.addColumns({ users: new Int32Array([7, 8]), items: ['y', 'w'], values: new Float32Array([2, 3]), timestamps: [1000, 2000] });
    expect(Array.from(bulk.columns().users.subarray(7))).toEqual([2, 4]);
    expect(Array.from(bulk.columns().items.subarray(7))).toEqual([1, 3]);
    expect(Array.from(bulk.columns().timestamps.subarray(7))).toEqual([1000, 2000]);
    expect(bulk.length).toBe(9);
  });

  it('rejects mismatched lengths with DimensionMismatchError naming the column', () => {
    const log = new Interactions();
    for (const key of ['items', 'values', 'events', 'timestamps'] as const) {
      const cols = { users: ['a', 'b'], items: ['x', 'y'], [key]: key === 'events' ? ['view'] : [1] };
      expect(() => log.addColumns(cols as never)).toThrow(DimensionMismatchError);
      expect(() => log.addColumns(cols as never)).toThrow(new RegExp(`columns\\.${key} has length 1 but columns\\.users has length 2`));
    }
    expect(log.length).toBe(0);
  });

  it('rejects NaN, infinite and non-numeric values, naming the row, and adds nothing', () => {
    const log = new Interactions();
    log.add('keep', 'me');
    for (const bad of [NaN, Infinity, -Infinity, '3', null]) {
      const err = (() => {
        try {
          log.addColumns({ users: ['a', 'b', 'c'], items: ['x', 'y', 'z'], values: [1, bad as number, 2] });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(/Expected a finite number for columns\.values\[1\] but received/);
    }
    expect(log.length).toBe(1);
    expect(log.users.ids()).toEqual(['keep']);
  });

  it('rejects bad ids, events and timestamps', () => {
    const log = new Interactions();
    for (const bad of [undefined, null, NaN, Infinity, {}, true]) {
      expect(() => log.addColumns({ users: ['a', bad as never], items: ['x', 'y'] })).toThrow(/Expected a string or a finite number for id/);
      expect(() => log.add(bad as never, 'x')).toThrow(InvalidArgumentError);
    }
    expect(() => log.addColumns({ users: ['a'], items: ['x'], events: ['teleport'] })).toThrow(/columns\.events\[0\].*teleport/);
    expect(() => log.addColumns({ users: ['a', 'b'], items: ['x', 'y'], timestamps: [1, NaN] })).toThrow(/columns\.timestamps\[1\]/);
    expect(() => log.add('a', 'x', 1, undefined, 'not a date')).toThrow(/a valid date for timestamp/);
    expect(() => log.addColumns(null as never)).toThrow(/Expected an object/);
    expect(() => log.addColumns({ users: ['a'] } as never)).toThrow(/columns\.items/);
    expect(log.length).toBe(0);
  });
});

describe('Dataset.fromLog: ids out of range, lengths, NaN and negative weights', () => {
  const users = IdMap.from(['u0', 'u1']);
  const items = IdMap.from(['i0', 'i1', 'i2']);
  const log = (u: number[], i: number[], w: number[]) => ({
    users: Int32Array.from(u),
    items: Int32Array.from(i),
    weights: Float32Array.from(w),
    timestamps: new Float64Array(u.length).fill(NaN),
  });

  it('builds from indices in range (the reference case)', async () => {
    const ds = await Dataset.fromLog(log([0, 1, 1, 1], [2, 0, 0, 1], [1, 2, 3, 4]), users, items);
    expect([ds.numUsers, ds.numItems, ds.nnz]).toEqual([2, 3, 3]);
    expect(Array.from(ds.userRow(1).items)).toEqual([0, 1]);
    expect(Array.from(ds.userRow(1).values)).toEqual([5, 4]);
    expect(Array.from(ds.itemRow(0).users)).toEqual([1]);
  });

  it('rejects user and item indices out of range, naming the entry', async () => {
    await expect(Dataset.fromLog(log([0, 2], [0, 0], [1, 1]), users, items)).rejects.toThrow(/rows\[1\] is 2/);
    await expect(Dataset.fromLog(log([0, -1], [0, 0], [1, 1]), users, items)).rejects.toThrow(InvalidArgumentError);
    await expect(Dataset.fromLog(log([0, 1], [3, 0], [1, 1]), users, items)).rejects.toThrow(/cols\[0\] is 3/);
    await expect(Dataset.fromLog(log([0, 1], [0, -5], [1, 1]), users, items)).rejects.toThrow(/expected an index in \[0, 3\)/);
  });

  it('rejects NaN and infinite weights always, negative ones unless allowed', async () => {
    await expect(Dataset.fromLog(log([0, 1], [0, 1], [1, NaN]), users, items, { allowNegative: true })).rejects.toThrow(/values\[1\] is nan/);
    await expect(Dataset.fromLog(log([0, 1], [0, 1], [Infinity, 1]), users, items)).rejects.toThrow(InvalidArgumentError);
    await expect(Dataset.fromLog(log([0, 1], [0, 1], [1, -1]), users, items)).rejects.toThrow(/non-negative.*allowNegative/);
    const ok = await Dataset.fromLog(log([0, 1], [0, 1], [1, -1]), users, items, { allowNegative: true });
    expect(Array.from(ok.matrix.data)).toEqual([1, -1]);
  });

  it('rejects columns of different lengths or of the wrong type', async () => {
    const bad = { ...log([0, 1], [0, 1], [1, 1]), weights: new Float32Array(1) };
    await expect(Dataset.fromLog(bad, users, items)).rejects.toThrow(DimensionMismatchError);
    await expect(Dataset.fromLog(bad, users, items)).rejects.toThrow(/have 2, 2, 1 and 2/);
    await expect(Dataset.fromLog({ ...emptyLog(), users: [0] as never }, users, items)).rejects.toThrow(/Expected a typed array of type Int32Array for log\.users but received an array/);
    await expect(Dataset.fromLog(null as never, users, items)).rejects.toThrow(/log\.users/);
  });

  it('row accessors reject indices out of range instead of returning nothing', async () => {
    const ds = await Dataset.fromLog(log([0], [0], [1]), users, items);
    expect(() => ds.userRow(2)).toThrow(/Expected an integer in \[0, 1\] for user index but received 2/);
    expect(() => ds.itemRow(-1)).toThrow(InvalidArgumentError);
    expect(() => ds.itemRow(0.5)).toThrow(InvalidArgumentError);
    expect(ds.itemRow(2).users.length).toBe(0); // an empty column is a valid, empty row
  });
});

describe('seededRandom', () => {
  it('is mulberry32: reproducible per seed, in [0, 1), roughly uniform', async () => {
    const { seededRandom } = await import('../lib/index.js');
    const a = seededRandom(42);
    expect(a()).toBe(0.6011037519201636); // fixed: saved seeds, splits and bench inputs depend on this exact sequence
    expect(a()).toBe(0.44829055899754167);
    const b = seededRandom(42), c = seededRandom(43);
    const xs = Array.from({ length: 10_000 }, () => b());
    expect(xs.slice(0, 2)).toEqual([0.6011037519201636, 0.44829055899754167]);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(Math.abs(xs.reduce((s, x) => s + x, 0) / xs.length - 0.5)).toBeLessThan(0.01);
    expect(c()).not.toBe(0.6011037519201636);
  });
});
