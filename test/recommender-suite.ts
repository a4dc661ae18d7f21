/**
 * The ONE behavioural suite every Recommender runs (test/recommenders.test.ts
 * calls it once per model): planted structure a model must recover, filters
 * that must never be violated, ids and options that must fail with typed
 * errors, and the edge cases (k above the catalog, users without history).
 */
import { describe, expect, it } from 'vitest';
import { Dataset, FeatureTable, Interactions } from '../lib/index.js';
import { AbortError, InvalidArgumentError, NotFittedError, UnknownIdError } from '../lib/errors.js';
import type { FitOptions, ModelState, Persistable, Recommendations, Recommender } from '../lib/recommender.js';

export interface SuiteCase {
  /** A fresh, unfitted model (small hyper-parameters suited to toy data). */
  make: () => Recommender & Persistable;
  /** Rebuild from toState() (persistence round trip). */
  fromState: (state: ModelState) => Recommender;
  /** Personalized models must pass the checkerboard and planted-structure checks; baselines skip them. */
  personalized: boolean;
  /** recommendForHistory(history of a training user) ranks like recommend(user) (exact fold-in). */
  foldInMatchesRecommend: boolean;
  fitOptions?: FitOptions;
}

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** User u chose every item of its parity except item u itself (the withheld diagonal). */
export async function checkerboard(n = 12): Promise<Dataset> {
  const log = new Interactions();
  for (let u = 0; u < n; u++) for (let j = 0; j < n; j++) if (j % 2 === u % 2 && j !== u) log.add(`u${u}`, `i${j}`);
  return Dataset.build(log);
}

/** Three clusters of users, each choosing about 60% of its own cluster's items plus one random item. */
export async function planted(): Promise<{ ds: Dataset; clusterOfUser: (u: string) => number; clusterOfItem: (i: string) => number }> {
  const r = rng(11);
  const log = new Interactions();
  const clusters = 3;
  const usersPer = 20;
  const itemsPer = 15;
  for (let c = 0; c < clusters; c++) {
    for (let u = 0; u < usersPer; u++) {
      for (let i = 0; i < itemsPer; i++) if (r() < 0.6) log.add(`u${c * usersPer + u}`, `i${c * itemsPer + i}`);
      log.add(`u${c * usersPer + u}`, `i${Math.floor(r() * clusters * itemsPer)}`);
    }
  }
  return {
    ds: await Dataset.build(log),
    clusterOfUser: (u) => Math.floor(Number(u.slice(1)) / usersPer),
    clusterOfItem: (i) => Math.floor(Number(i.slice(1)) / itemsPer),
  };
}

/** Random interactions, one user ('ghost') with no interactions at all (known through user features), values 1..5. */
export async function randomData(): Promise<Dataset> {
  const r = rng(5);
  const log = new Interactions();
  for (let i = 0; i < 40; i++) log.add(`u${i % 30}`, `i${i}`);
  for (let e = 0; e < 500; e++) log.add(`u${Math.floor(r() * 30)}`, `i${Math.floor(r() * 40)}`, 1 + Math.floor(r() * 5));
  const userFeatures = new FeatureTable({ segment: 'categorical' });
  userFeatures.set('ghost', { segment: 'new' });
  return Dataset.build(log, { userFeatures });
}

function seenOf(ds: Dataset, user: string): Set<string> {
  const u = ds.users.indexOrThrow(user, 'user');
  return new Set(Array.from(ds.userRow(u).items, (i) => String(ds.items.id(i))));
}

function checkWellFormed(r: Recommendations, k: number): void {
  expect(r.items.length).toBe(r.indices.length);
  expect(r.scores.length).toBe(r.indices.length);
  expect(r.items.length).toBeLessThanOrEqual(k);
  expect(new Set(r.items).size).toBe(r.items.length);
  for (let t = 1; t < r.scores.length; t++) expect(r.scores[t]!).toBeLessThanOrEqual(r.scores[t - 1]!);
}

export function recommenderSuite(name: string, c: SuiteCase): void {
  describe(`Recommender suite: ${name}`, () => {
    it('throws NotFittedError before fit', async () => {
      const m = c.make();
      expect(m.fitted).toBe(false);
      expect(() => m.recommend('u0')).toThrow(NotFittedError);
      expect(() => m.similarItems('i0')).toThrow(NotFittedError);
      expect(() => m.recommendForHistory(['i0'])).toThrow(NotFittedError);
      await expect(m.recommendMany(['u0'])).rejects.toBeInstanceOf(NotFittedError);
      expect(() => m.toState()).toThrow(NotFittedError);
    });

    if (c.personalized) {
      it('checkerboard with the diagonal withheld: user u gets item u first', async () => {
        const ds = await checkerboard();
        const m = await c.make().fit(ds, c.fitOptions);
        expect(m.fitted).toBe(true);
        for (let u = 0; u < 12; u++) expect(m.recommend(`u${u}`, { k: 3 }).items[0]).toBe(`i${u}`);
        const batch = await m.recommendMany(Array.from({ length: 12 }, (_, u) => `u${u}`), { k: 1 });
        for (let u = 0; u < 12; u++) expect(ds.items.id(batch.indices[u]!)).toBe(`i${u}`);
      });

      it('planted clusters: recommendations come from the user own cluster', async () => {
        const { ds, clusterOfUser, clusterOfItem } = await planted();
        const m = await c.make().fit(ds, c.fitOptions);
        let inCluster = 0;
        let total = 0;
        for (const user of ds.users.ids()) {
          for (const item of m.recommend(user, { k: 3 }).items) {
            total++;
            if (clusterOfItem(String(item)) === clusterOfUser(String(user))) inCluster++;
          }
        }
        expect(total).toBeGreaterThan(100);
        expect(inCluster / total).toBeGreaterThan(0.9);
        // A new visitor who chose items of cluster 1 gets cluster-1 items.
        const r = m.recommendForHistory(['i15', 'i16', 'i17', 'i18'], { k: 5 });
        expect(r.items.length).toBe(5);
        for (const item of r.items) expect(clusterOfItem(String(item))).toBe(1);
      });
    }

    it('never violates filterSeen, exclude, include or k; batch rows equal single calls', async () => {
      const ds = await randomData();
      const m = await c.make().fit(ds, c.fitOptions);
      const exclude = ['i3', 'i5', 'i7', 'not-an-item'];
      const include = Array.from({ length: 20 }, (_, i) => `i${2 * i}`);
      const users = ['u0', 'u4', 'u9', 'u17', 'u29'];
      for (const opts of [{ k: 8 }, { k: 8, exclude }, { k: 5, include }, { k: 6, include, exclude, filterSeen: false }, { k: 40, filterSeen: false }]) {
        const batch = await m.recommendMany(users, { ...opts, threads: 2 });
        expect(batch.count).toBe(users.length);
        expect(batch.k).toBe(opts.k);
        users.forEach((user, row) => {
          const r = m.recommend(user, opts);
          checkWellFormed(r, opts.k);
          const seen = seenOf(ds, user);
          for (const item of r.items) {
            if (opts.filterSeen !== false) expect(seen.has(String(item))).toBe(false);
            if (opts.exclude) expect(opts.exclude.includes(String(item))).toBe(false);
            if (opts.include) expect(opts.include.includes(String(item))).toBe(true);
          }
          const rowIdx = Array.from(batch.indices.subarray(row * opts.k, row * opts.k + r.indices.length));
          expect(rowIdx).toEqual(Array.from(r.indices));
          for (let t = r.indices.length; t < opts.k; t++) expect(batch.indices[row * opts.k + t]).toBe(-1);
        });
      }
      // Dense indices work as batch input too.
      const byIndex = await m.recommendMany(Int32Array.of(ds.users.index('u4')!), { k: 8 });
      expect(Array.from(byIndex.indices.subarray(0, m.recommend('u4', { k: 8 }).indices.length))).toEqual(Array.from(m.recommend('u4', { k: 8 }).indices));
    });

    it('an include list that names no known item returns nothing (native scoring reads an empty list as no restriction)', async () => {
      const ds = await randomData();
      const m = await c.make().fit(ds, c.fitOptions);
      for (const include of [[], ['not-an-item']]) {
        expect(m.recommend('u1', { k: 5, include }).items).toEqual([]);
        const batch = await m.recommendMany(['u1', 'u2'], { k: 5, include });
        expect(Array.from(batch.indices)).toEqual(new Array(10).fill(-1));
      }
    });

    it('k larger than the catalog returns what there is', async () => {
      const ds = await randomData();
      const m = await c.make().fit(ds, c.fitOptions);
      const r = m.recommend('u1', { k: 1000, filterSeen: false });
      checkWellFormed(r, ds.numItems);
      const s = m.similarItems('i1', 1000);
      checkWellFormed(s, ds.numItems - 1);
      expect(s.items.includes('i1')).toBe(false);
      const b = await m.recommendMany(['u1'], { k: 1000 });
      expect(b.indices.length).toBe(1000);
      expect(b.indices[999]).toBe(-1);
      expect(b.scores[999]).toBe(-Infinity);
    });

    it('handles users without history and empty or unknown histories', async () => {
      const ds = await randomData();
      const m = await c.make().fit(ds, c.fitOptions);
      checkWellFormed(m.recommend('ghost', { k: 5 }), 5);
      checkWellFormed(m.recommendForHistory([], { k: 5 }), 5);
      checkWellFormed(m.recommendForHistory(['nobody-knows-this-item'], { k: 5 }), 5);
      const r = m.recommendForHistory([{ item: 'i2', value: 3 }, 'i8'], { k: 5 });
      checkWellFormed(r, 5);
      expect(r.items.includes('i2') || r.items.includes('i8')).toBe(false);
      if (c.foldInMatchesRecommend) {
        const u = ds.users.index('u6')!;
        const row = ds.userRow(u);
        const history = Array.from(row.items, (i, n) => ({ item: ds.items.id(i), value: row.values[n]! }));
        expect(m.recommendForHistory(history, { k: 10 }).items).toEqual(m.recommend('u6', { k: 10 }).items);
      }
    });

    it('round-trips through toState/fromState', async () => {
      const ds = await randomData();
      const m = await c.make().fit(ds, c.fitOptions);
      const copy = c.fromState(m.toState());
      expect(copy.fitted).toBe(true);
      for (const user of ['u0', 'u13']) expect(copy.recommend(user, { k: 7 })).toEqual(m.recommend(user, { k: 7 }));
      expect(copy.similarItems('i4', 5)).toEqual(m.similarItems('i4', 5));
      expect(() => c.fromState({ ...m.toState(), kind: 'something-else' })).toThrow(InvalidArgumentError);
    });

    it('explains scores with contributions that add up', async () => {
      const ds = await randomData();
      const m = await c.make().fit(ds, c.fitOptions);
      if (!m.explain) return;
      const r = m.recommend('u3', { k: 3 });
      for (let t = 0; t < r.items.length; t++) {
        const e = m.explain('u3', r.items[t]!);
        expect(e.item).toBe(r.items[t]);
        expect(e.score).toBeCloseTo(r.scores[t]!, 4);
        const sum = e.contributions.reduce((a, b) => a + b.weight, 0) + (e.rest ?? 0);
        expect(sum).toBeCloseTo(e.score, 4);
      }
      expect(() => m.explain!('nobody', 'i1')).toThrow(UnknownIdError);
    });

    it('rejects unknown ids and invalid options with typed errors', async () => {
      const ds = await randomData();
      const m = await c.make().fit(ds, c.fitOptions);
      expect(() => m.recommend('nobody')).toThrow(UnknownIdError);
      expect(() => m.similarItems('no-such-item')).toThrow(UnknownIdError);
      await expect(m.recommendMany(['u1', 'nobody'])).rejects.toBeInstanceOf(UnknownIdError);
      await expect(m.recommendMany(Int32Array.of(10_000))).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(() => m.recommend('u1', { k: 0 })).toThrow(/options\.k/);
      expect(() => m.recommend('u1', { k: 2.5 })).toThrow(InvalidArgumentError);
      expect(() => m.recommend('u1', { filterSeen: 'yes' as never })).toThrow(/filterSeen/);
      expect(() => m.recommend('u1', { exclude: 'i1' as never })).toThrow(/exclude/);
      expect(() => m.recommend('u1', { topK: 3 } as never)).toThrow(InvalidArgumentError);
      expect(() => m.similarItems('i1', 0)).toThrow(InvalidArgumentError);
      expect(() => m.recommendForHistory('i1' as never)).toThrow(InvalidArgumentError);
      await expect(m.recommendMany(['u1'], { threads: -1 })).rejects.toThrow(/threads/);
      const ctl = new AbortController();
      ctl.abort();
      await expect(m.recommendMany(['u1'], { signal: ctl.signal })).rejects.toBeInstanceOf(AbortError);
      await expect(c.make().fit(ds, { threads: 'many' as never })).rejects.toThrow(/threads/);
      await expect(c.make().fit(ds, { sede: 1 } as never)).rejects.toThrow(/did you mean 'seed'/);
    });
  });
}
