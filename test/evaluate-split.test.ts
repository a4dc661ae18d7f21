import { describe, expect, it } from 'vitest';
import { Dataset, Interactions, randomSplit, leaveLastKSplit, timeSplit, kFoldSplits, csrRow, InvalidArgumentError, type Split } from '../lib/index.js';
import { randomDataset } from './evaluate-helpers.js';

function pairsOf(d: Dataset): Set<string> {
  const out = new Set<string>();
  for (let u = 0; u < d.numUsers; u++) for (const i of csrRow(d.matrix, u).indices) out.add(`${u},${i}`);
  return out;
}

/** Every event is on exactly one side, and each side's dataset is built from exactly its events. */
function expectPartition(split: Split, log: Dataset['log']): void {
  const all = [...split.events.train, ...split.events.test].sort((a, b) => a - b);
  expect(all).toEqual([...Array(log.users.length).keys()]);
  expect(split.train.log.users.length).toBe(split.events.train.length);
  expect(split.test.log.users.length).toBe(split.events.test.length);
  split.events.test.forEach((e, j) => {
    expect(split.test.log.users[j]).toBe(log.users[e]);
    expect(split.test.log.items[j]).toBe(log.items[e]);
    expect(split.test.log.timestamps[j]).toBe(log.timestamps[e]);
  });
}

describe('randomSplit', () => {
  it('is reproducible by seed and differs across seeds', async () => {
    const d = await randomDataset(1);
    const a = await randomSplit(d, { seed: 5 });
    const b = await randomSplit(d, { seed: 5 });
    const c = await randomSplit(d, { seed: 6 });
    expect([...a.events.test]).toEqual([...b.events.test]);
    expect([...a.events.test]).not.toEqual([...c.events.test]);
  });

  it('holds out whole (user, item) pairs: no test pair is in training', async () => {
    const d = await randomDataset(2);
    const s = await randomSplit(d, { fraction: 0.3, seed: 1 });
    expectPartition(s, d.log);
    const train = pairsOf(s.train);
    for (const p of pairsOf(s.test)) expect(train.has(p)).toBe(false);
    expect(s.train.users).toBe(d.users); // same id maps
    expect(s.test.items).toBe(d.items);
  });

  it('holds out round(fraction * pairs) per user, keeping minTrain, or an exact count', async () => {
    const d = await randomDataset(3);
    const s = await randomSplit(d, { fraction: 0.25, seed: 2, minTrain: 2 });
    const c = await randomSplit(d, { count: 2, seed: 2 });
    const pairs = d.userCounts();
    const tr = s.train.userCounts(), te = s.test.userCounts();
    const ctr = c.train.userCounts(), cte = c.test.userCounts();
    for (let u = 0; u < d.numUsers; u++) {
      const want = Math.max(0, Math.min(Math.round(0.25 * pairs[u]!), pairs[u]! - 2));
      expect(te[u]).toBe(want);
      expect(tr[u]).toBe(pairs[u]! - want);
      expect(cte[u]).toBe(Math.max(0, Math.min(2, pairs[u]! - 1)));
      expect(ctr[u]! + cte[u]!).toBe(pairs[u]);
    }
  });

  it('keeps the dataset build options on both sides', async () => {
    const d = await randomDataset(4, 30, 20, 8, { combine: 'max', weighting: 'log1p' });
    const s = await randomSplit(d, { seed: 3 });
    expect(s.train.options).toEqual(d.options);
    expect(s.test.options).toEqual(d.options);
    // Combined like the source: a train pair's value is the log1p of the max of its events.
    const u = [...Array(d.numUsers).keys()].find((x) => s.train.userRow(x).items.length > 0)!;
    const row = s.train.userRow(u);
    expect(row.values[0]).toBeCloseTo(d.userRow(u).values[d.userRow(u).items.indexOf(row.items[0]!)]!, 6);
  });

  it('carves a validation split from training only', async () => {
    const d = await randomDataset(5);
    const s = await randomSplit(d, { seed: 4, validation: { fraction: 0.2 } });
    const v = s.validation!;
    expectPartition(v, s.train.log);
    const test = pairsOf(s.test);
    for (const p of pairsOf(v.train)) expect(test.has(p)).toBe(false);
    for (const p of pairsOf(v.test)) expect(test.has(p)).toBe(false);
    expect(v.train.nnz + v.test.nnz).toBe(s.train.nnz);
  });
});

describe('temporal splits', () => {
  it('leaveLastKSplit: no training event of a user is later than the user\'s earliest test event', async () => {
    const d = await randomDataset(6);
    for (const k of [1, 3]) {
      const s = await leaveLastKSplit(d, { k });
      expectPartition(s, d.log);
      const lastTrain = new Map<number, number>();
      const firstTest = new Map<number, number>();
      const nTest = new Map<number, number>();
      const nAll = new Map<number, number>();
      for (const e of s.events.train) lastTrain.set(d.log.users[e]!, Math.max(lastTrain.get(d.log.users[e]!) ?? -Infinity, d.log.timestamps[e]!));
      for (const e of s.events.test) {
        const u = d.log.users[e]!;
        firstTest.set(u, Math.min(firstTest.get(u) ?? Infinity, d.log.timestamps[e]!));
        nTest.set(u, (nTest.get(u) ?? 0) + 1);
      }
      for (let e = 0; e < d.log.users.length; e++) nAll.set(d.log.users[e]!, (nAll.get(d.log.users[e]!) ?? 0) + 1);
      for (const [u, t] of firstTest) expect(lastTrain.get(u) ?? -Infinity).toBeLessThanOrEqual(t);
      for (const [u, n] of nAll) expect(nTest.get(u) ?? 0).toBe(Math.max(0, Math.min(k, n - 1)));
    }
  });

  it('timeSplit: training strictly before the cut-off, test at or after; by date or by fraction', async () => {
    const d = await randomDataset(7);
    const sorted = Float64Array.from(d.log.timestamps).sort();
    const cutoff = sorted[Math.floor(sorted.length * 0.7)]!;
    for (const s of [await timeSplit(d, { cutoff: new Date(cutoff) }), await timeSplit(d, { fraction: 0.3 })]) {
      expectPartition(s, d.log);
      expect(s.info.cutoff).toBe(cutoff);
      for (const e of s.events.train) expect(d.log.timestamps[e]!).toBeLessThan(cutoff);
      for (const e of s.events.test) expect(d.log.timestamps[e]!).toBeGreaterThanOrEqual(cutoff);
    }
  });

  it('counts cold users and items, excludes them by default and includes them on request', async () => {
    const log = new Interactions();
    log.add('a', 'x', 1, undefined, 1000);
    log.add('a', 'y', 1, undefined, 3000); // y and z are cold items
    log.add('b', 'x', 1, undefined, 1500);
    log.add('c', 'z', 1, undefined, 4000); // cold user with a cold item
    log.add('b', 'z', 1, undefined, 5000);
    const d = await Dataset.build(log);
    const s = await timeSplit(d, { cutoff: 2000 });
    expect(s.info).toMatchObject({ trainEvents: 2, testEvents: 3, testUsers: 3, coldUsers: 1, coldUserEvents: 1, coldItems: 2, coldItemEvents: 3 });
    expect([...s.users].map((u) => d.users.id(u))).toEqual(['a', 'b']);
    const inc = await timeSplit(d, { cutoff: 2000, coldStart: 'include' });
    expect([...inc.users].map((u) => d.users.id(u))).toEqual(['a', 'b', 'c']);
  });

  it('rejects events without timestamps', async () => {
    const log = new Interactions();
    log.add('a', 'x');
    log.add('a', 'y');
    const d = await Dataset.build(log);
    await expect(leaveLastKSplit(d)).rejects.toThrow(/needs a timestamp on every event, but 2 of 2/);
    await expect(timeSplit(d, { fraction: 0.5 })).rejects.toThrow(InvalidArgumentError);
  });
});

describe('kFoldSplits', () => {
  it('partitions every pair into exactly one test fold, reproducibly', async () => {
    const d = await randomDataset(8);
    const folds = await kFoldSplits(d, { folds: 4, seed: 9 });
    const again = await kFoldSplits(d, { folds: 4, seed: 9 });
    expect(folds.length).toBe(4);
    const seen = new Map<string, number>();
    folds.forEach((s, f) => {
      expectPartition(s, d.log);
      expect(s.info.fold).toBe(f);
      expect([...s.events.test]).toEqual([...again[f]!.events.test]);
      const train = pairsOf(s.train);
      for (const p of pairsOf(s.test)) {
        expect(train.has(p)).toBe(false);
        seen.set(p, (seen.get(p) ?? 0) + 1);
      }
    });
    expect(seen.size).toBe(d.nnz);
    for (const c of seen.values()) expect(c).toBe(1);
    // Each user's pairs are spread evenly: fold sizes per user differ by at most one.
    for (let u = 0; u < d.numUsers; u++) {
      const sizes = folds.map((s) => s.test.userRow(u).items.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });
});

describe('validation splits of every strategy', () => {
  it('leaveLastK validation holds out the last events of training; k-fold validation carves each fold', async () => {
    const d = await randomDataset(10);
    const s = await leaveLastKSplit(d, { k: 2, validation: { count: 1 } });
    const v = s.validation!;
    expectPartition(v, s.train.log);
    const log = s.train.log;
    const lastTrain = new Map<number, number>();
    for (const e of v.events.train) lastTrain.set(log.users[e]!, Math.max(lastTrain.get(log.users[e]!) ?? -Infinity, log.timestamps[e]!));
    for (const e of v.events.test) expect(lastTrain.get(log.users[e]!) ?? -Infinity).toBeLessThanOrEqual(log.timestamps[e]!);
    const count = (users: Int32Array, idx: ArrayLike<number>) => {
      const c = new Int32Array(d.numUsers);
      for (let j = 0; j < idx.length; j++) c[users[idx[j]!]!]!++;
      return c;
    };
    const valEvents = count(log.users, v.events.test);
    const trainEvents = count(log.users, [...log.users.keys()]);
    // one validation event per user that keeps at least one training event
    for (let u = 0; u < d.numUsers; u++) expect(valEvents[u]).toBe(trainEvents[u]! >= 2 ? 1 : 0);

    const folds = await kFoldSplits(d, { folds: 3, seed: 2, validation: { fraction: 0.3 } });
    for (const f of folds) {
      expectPartition(f.validation!, f.train.log);
      const test = pairsOf(f.test);
      for (const p of pairsOf(f.validation!.test)) expect(test.has(p)).toBe(false);
    }
    const t = await timeSplit(d, { fraction: 0.2, validation: { fraction: 0.25 } });
    expect(t.validation!.info.cutoff!).toBeLessThanOrEqual(t.info.cutoff!);
    for (const e of t.validation!.events.train) expect(t.train.log.timestamps[e]!).toBeLessThan(t.validation!.info.cutoff!);
  });
});

describe('split argument checks', () => {
  it('names the argument, the expectation and what was received', async () => {
    const d = await randomDataset(9, 10, 10, 4);
    await expect(randomSplit(d, { fraction: 1.5 })).rejects.toThrow(/options.fraction/);
    await expect(randomSplit(d, { fraction: 0.2, count: 2 })).rejects.toThrow(/either fraction or count/);
    await expect(randomSplit(d, { seed: -1 })).rejects.toThrow(/options.seed/);
    await expect(randomSplit(d, { fracton: 0.2 } as never)).rejects.toThrow(/did you mean 'fraction'/);
    await expect(randomSplit({} as never)).rejects.toThrow(/Expected a Dataset .* for dataset but received an object/);
    await expect(leaveLastKSplit(d, { k: 0 })).rejects.toThrow(/options.k/);
    await expect(timeSplit(d, {} as never)).rejects.toThrow(/exactly one of/);
    await expect(kFoldSplits(d, { folds: 1 })).rejects.toThrow(/options.folds/);
    await expect(randomSplit(d, { coldStart: 'drop' as never })).rejects.toThrow(/options.coldStart/);
    await expect(randomSplit(d, { validation: { fractio: 0.1 } as never })).rejects.toThrow(/options.validation/);
  });
});
