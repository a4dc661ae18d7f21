import { describe, expect, it } from 'vitest';
import { Interactions, Dataset, IdMap, FeatureTable, csrRow } from '../lib/index.js';
import { DimensionMismatchError, InvalidArgumentError, UnknownIdError } from '../lib/errors.js';
import { callAsync } from '../lib/native.js';

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('IdMap', () => {
  it('maps ids to stable dense indices both ways', () => {
    const m = new IdMap();
    expect(m.add('a')).toBe(0);
    expect(m.add(7)).toBe(1);
    expect(m.add('a')).toBe(0);
    expect(m.add('7')).toBe(2); // "7" and 7 are different ids
    expect(m.id(1)).toBe(7);
    expect(m.index('zzz')).toBeUndefined();
    expect(() => m.indexOrThrow('zzz', 'user')).toThrow(UnknownIdError);
    expect(() => m.add(NaN)).toThrow(InvalidArgumentError);
    expect(() => m.id(99)).toThrow(InvalidArgumentError);
  });
});

describe('CSR construction', () => {
  it('matches a straightforward reference on random data with duplicates and empty rows', async () => {
    const rand = lcg(1);
    const n = 20000;
    const rows = new Int32Array(n), cols = new Int32Array(n), vals = new Float32Array(n);
    const ref = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      rows[i] = Math.floor(rand() * 300) * 2; // odd rows stay empty
      cols[i] = Math.floor(rand() * 40);
      vals[i] = Math.floor(rand() * 10);
      const key = `${rows[i]},${cols[i]}`;
      ref.set(key, Math.max(ref.get(key) ?? -Infinity, vals[i]!));
    }
    const m = await callAsync((nb) => nb.csrFromCoo(rows, cols, vals, 601, 41, 'max', false, 2));
    expect(m.rows).toBe(601);
    expect(m.cols).toBe(41);
    expect(m.indices.length).toBe(ref.size);
    let count = 0;
    for (let r = 0; r < m.rows; r++) {
      const { indices, values } = csrRow(m, r);
      for (let p = 0; p < indices.length; p++) {
        if (p > 0) expect(indices[p]!).toBeGreaterThan(indices[p - 1]!);
        expect(values[p]).toBe(ref.get(`${r},${indices[p]}`));
        count++;
      }
      if (r % 2 === 1) expect(indices.length).toBe(0);
    }
    expect(count).toBe(ref.size);
  });

  it('reads typed arrays through their byteOffset (subarray views)', async () => {
    const buf = new Int32Array([99, 99, 0, 1, 2]);
    const cols = new Int32Array([5, 0, 1, 2]);
    const m = await callAsync((nb) => nb.csrFromCoo(buf.subarray(2), cols.subarray(1), null, -1, -1, 'sum', false, 1));
    expect(m.rows).toBe(3);
    expect(Array.from(m.indices)).toEqual([0, 1, 2]);
    expect(Array.from(m.data)).toEqual([1, 1, 1]);
  });

  it('rejects bad input with typed errors', async () => {
    const r = new Int32Array([0, 1]);
    await expect(callAsync((nb) => nb.csrFromCoo(r, new Int32Array([0]), null, -1, -1, 'sum', true, 1))).rejects.toThrow(DimensionMismatchError);
    await expect(callAsync((nb) => nb.csrFromCoo(r, new Int32Array([0, 5]), null, 2, 5, 'sum', true, 1))).rejects.toThrow(/cols\[1\] is 5/);
    await expect(callAsync((nb) => nb.csrFromCoo(r, r, new Float32Array([1, NaN]), -1, -1, 'sum', true, 1))).rejects.toThrow(InvalidArgumentError);
    await expect(callAsync((nb) => nb.csrFromCoo(r, r, new Float32Array([1, -1]), -1, -1, 'sum', false, 1))).rejects.toThrow(/values\[1\]/);
  });
});

describe('Interactions and Dataset', () => {
  it('maps string ids, weights events and combines duplicates', async () => {
    const log = new Interactions({ eventWeights: { view: 1, cart: 3, purchase: 5 } });
    log.add('alice', 'shoe', 1, 'view', '2024-01-01T00:00:00Z');
    log.add('alice', 'shoe', 1, 'purchase', '2024-01-02T00:00:00Z');
    log.add('bob', 'hat', 2, 'cart');
    log.addRecord({ user: 'bob', item: 'shoe' });
    const ds = await Dataset.build(log);
    expect(ds.numUsers).toBe(2);
    expect(ds.numItems).toBe(2);
    const alice = ds.userRow(ds.users.index('alice')!);
    expect(Array.from(alice.items)).toEqual([ds.items.index('shoe')]);
    expect(Array.from(alice.values)).toEqual([6]);
    const bob = ds.userRow(ds.users.index('bob')!);
    expect(Array.from(bob.items)).toEqual([0, 1]); // shoe (index 0) once, hat (index 1) 2 x cart weight 3
    expect(Array.from(bob.values)).toEqual([1, 6]);
    expect(ds.log.timestamps[0]).toBe(Date.parse('2024-01-01T00:00:00Z'));
    expect(Number.isNaN(ds.log.timestamps[2])).toBe(true);
    const shoe = ds.itemRow(ds.items.index('shoe')!);
    expect(shoe.users.length).toBe(2);
    expect(Array.from(ds.itemCounts())).toEqual([2, 1]);
  });

  it('adds items known only from features (cold items)', async () => {
    const features = new FeatureTable({ brand: 'categorical', price: 'numeric', genres: 'multi' });
    features.set('new-item', { brand: 'acme', price: '9.5', genres: 'a|b' });
    const log = Interactions.fromColumns({ users: ['u1', 'u2'], items: ['x', 'y'] });
    const ds = await Dataset.build(log, { itemFeatures: features });
    expect(ds.numItems).toBe(3);
    expect(ds.itemRow(ds.items.index('new-item')!).users.length).toBe(0);
    expect(features.get('new-item')).toEqual({ brand: 'acme', price: 9.5, genres: ['a', 'b'] });
  });

  it('rejects bad input with clear messages', async () => {
    const log = new Interactions();
    expect(() => log.add('u', 'i', NaN)).toThrow(/Expected a finite number for value/);
    expect(() => log.add('u', 'i', 1, 'teleport')).toThrow(/one of the configured event types/);
    expect(() => Interactions.fromColumns({ users: ['a', 'b'], items: ['x'] })).toThrow(DimensionMismatchError);
    expect(() => new Interactions({ eventWeigths: {} } as never)).toThrow(/did you mean 'eventWeights'/);
    log.add('u', 'i', -2);
    await expect(Dataset.build(log)).rejects.toThrow(/allowNegative/);
    const ok = await Dataset.build(log, { allowNegative: true });
    expect(ok.matrix.data[0]).toBe(-2);
    await expect(Dataset.build(log, { combine: 'avg' as never })).rejects.toThrow(/'sum', 'max', 'last'/);
  });

  it('applies weighting schemes', async () => {
    const log = Interactions.fromColumns({ users: ['a', 'a', 'b'], items: ['x', 'y', 'x'], values: [3, 1, 1] });
    const ds = await Dataset.build(log, { weighting: { scheme: 'confidence', alpha: 2 } });
    expect(Array.from(ds.matrix.data)).toEqual([7, 3, 3]);
    const l = await Dataset.build(log, { weighting: 'log1p' });
    expect(l.matrix.data[0]).toBeCloseTo(Math.log(4), 6);
  });
});
