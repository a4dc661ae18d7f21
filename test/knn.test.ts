import { describe, expect, it } from 'vitest';
import { applyWeighting, Dataset, FeatureTable, Interactions, ItemKnnModel, PopularModel, RandomModel, UserKnnModel, type CsrArrays } from '../lib/index.js';
import { AbortError, InvalidArgumentError } from '../lib/errors.js';
import type { KnnOptions } from '../lib/models/neighbourhood.js';

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function randomDataset(users: number, items: number, events: number, seed: number): Promise<Dataset> {
  const r = rng(seed);
  const log = new Interactions();
  for (let e = 0; e < events; e++) log.add(`u${Math.floor(r() * users)}`, `i${Math.floor(r() * items)}`, 1 + Math.floor(r() * 4), undefined, 1.7e12 + Math.floor(r() * 1e9));
  return Dataset.build(log);
}

function denseRows(m: CsrArrays): Float64Array[] {
  return Array.from({ length: m.rows }, (_, r) => {
    const row = new Float64Array(m.cols);
    for (let p = Number(m.indptr[r]); p < Number(m.indptr[r + 1]); p++) row[m.indices[p]!] = m.data[p]!;
    return row;
  });
}

/**
 * Brute force: all pairs by the documented formulas, with the weighting done
 * by lib/data/weighting.ts (an independent implementation of tfidf and bm25).
 */
function bruteNeighbours(m: CsrArrays, o: Required<KnnOptions>): { ids: number[]; scores: number[] }[] {
  const copy: CsrArrays = { ...m, data: m.data.slice() };
  if (o.similarity === 'tfidf') applyWeighting(copy, 'tfidf');
  if (o.similarity === 'bm25') applyWeighting(copy, { scheme: 'bm25', k1: o.k1, b: o.b });
  const rows = denseRows(copy);
  const sq = rows.map((r) => r.reduce((a, v) => a + v * v, 0));
  return rows.map((xi, i) => {
    const all: [number, number][] = [];
    rows.forEach((xj, j) => {
      if (j === i) return;
      let dot = 0;
      for (let c = 0; c < xi.length; c++) dot += xi[c]! * xj[c]!;
      if (dot === 0) return;
      let s = dot;
      if (o.similarity === 'cosine' || o.similarity === 'tfidf') s = dot / (Math.sqrt(sq[i]! * sq[j]!) + o.shrink);
      if (o.similarity === 'asymmetric') s = dot / (Math.pow(sq[i]!, o.alpha) * Math.pow(sq[j]!, 1 - o.alpha) + o.shrink);
      if (Math.fround(s) > 0) all.push([Math.fround(s), j]);
    });
    all.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const top = all.slice(0, o.neighbours);
    return { ids: top.map((t) => t[1]), scores: top.map((t) => t[0]) };
  });
}

function expectListsEqual(nb: CsrArrays, ref: { ids: number[]; scores: number[] }[]): void {
  expect(nb.rows).toBe(ref.length);
  ref.forEach((r, i) => {
    const lo = Number(nb.indptr[i]);
    const hi = Number(nb.indptr[i + 1]);
    const scores = Array.from(nb.data.subarray(lo, hi));
    expect(scores.length).toBe(r.ids.length);
    // Scores agree to float rounding; ids agree except where two scores tie within rounding.
    scores.forEach((s, t) => expect(s).toBeCloseTo(r.scores[t]!, 5));
    const ids = Array.from(nb.indices.subarray(lo, hi));
    ids.forEach((id, t) => {
      if (id !== r.ids[t]) expect(Math.abs(scores[t]! - r.scores[t]!)).toBeLessThan(1e-5);
    });
  });
}

describe('item-kNN neighbours equal a brute-force reference on random data', () => {
  const cases: KnnOptions[] = [
    { neighbours: 8 },
    { neighbours: 5, shrink: 3 },
    { neighbours: 10, similarity: 'asymmetric', alpha: 0.25 },
    { neighbours: 6, similarity: 'dot' },
    { neighbours: 7, similarity: 'tfidf' },
    { neighbours: 9, similarity: 'bm25', k1: 1.2, b: 0.75 },
  ];
  for (const opts of cases) {
    it(JSON.stringify(opts), async () => {
      const ds = await randomDataset(60, 45, 600, 17);
      const model = await new ItemKnnModel(opts).fit(ds, { threads: 2 });
      expectListsEqual(model.neighbours, bruteNeighbours(ds.itemMatrix, model.options));
    });
  }

  it('user-kNN neighbours too (cosine with shrink)', async () => {
    const ds = await randomDataset(50, 30, 400, 23);
    const model = await new UserKnnModel({ neighbours: 6, shrink: 2 }).fit(ds);
    expectListsEqual(model.neighbours, bruteNeighbours(ds.matrix, model.options));
  });

  it('recommend sums neighbour similarities over the history (reference scoring)', async () => {
    const ds = await randomDataset(40, 35, 400, 29);
    const model = await new ItemKnnModel({ neighbours: 6 }).fit(ds);
    const nb = model.neighbours;
    for (const u of [0, 7, 13]) {
      const row = ds.userRow(u);
      const score = new Float64Array(ds.numItems);
      row.items.forEach((i, n) => {
        for (let p = Number(nb.indptr[i]); p < Number(nb.indptr[i + 1]); p++) score[nb.indices[p]!]! += row.values[n]! * nb.data[p]!;
      });
      const seen = new Set(row.items);
      const ref = Array.from(score, (s, j) => [s, j] as [number, number])
        .filter(([s, j]) => s > 0 && !seen.has(j))
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, 10);
      const r = model.recommend(ds.users.id(u), { k: 10 });
      expect(Array.from(r.scores)).toEqual(ref.map(([s]) => expect.closeTo(s, 5)));
    }
  });

  it('reports progress, can be aborted, and rejects bad options', async () => {
    const ds = await randomDataset(60, 45, 600, 31);
    const seen: number[] = [];
    await new ItemKnnModel({ neighbours: 5 }).fit(ds, { onProgress: (p) => seen.push(p.iteration) });
    await new Promise((r) => setTimeout(r, 20));
    expect(seen[seen.length - 1]).toBe(ds.numItems);
    const ctl = new AbortController();
    ctl.abort();
    await expect(new ItemKnnModel().fit(ds, { signal: ctl.signal })).rejects.toBeInstanceOf(AbortError);
    expect(() => new ItemKnnModel({ neighbours: 0 })).toThrow(/options\.neighbours/);
    expect(() => new ItemKnnModel({ similarity: 'jaccard' as never })).toThrow(/options\.similarity/);
    expect(() => new ItemKnnModel({ alpha: 1.5 })).toThrow(/options\.alpha/);
    expect(() => new UserKnnModel({ shrink: -1 })).toThrow(/options\.shrink/);
    expect(() => new ItemKnnModel({ neighbors: 5 } as never)).toThrow(/did you mean 'neighbours'/);
  });
});

describe('most-popular and random baselines', () => {
  it('counts users per item, sums values, and decays by time for trending', async () => {
    const log = new Interactions();
    const day = 86_400_000;
    const now = Date.UTC(2026, 0, 31);
    log.add('a', 'old', 1, undefined, now - 30 * day);
    log.add('b', 'old', 1, undefined, now - 30 * day);
    log.add('c', 'old', 1, undefined, now - 30 * day);
    log.add('a', 'new', 1, undefined, now);
    log.add('b', 'new', 5, undefined, now - 7 * day);
    const ds = await Dataset.build(log);
    const count = await new PopularModel().fit(ds);
    expect(count.recommendForHistory([], { k: 2 }).items).toEqual(['old', 'new']);
    expect(Array.from(count.scores)).toEqual([3, 2]);
    const sum = await new PopularModel({ mode: 'sum' }).fit(ds);
    expect(sum.recommendForHistory([], { k: 2 }).items).toEqual(['new', 'old']);
    const trending = await new PopularModel({ mode: 'trending', halfLifeDays: 7 }).fit(ds);
    // old: 3 * 2^-30/7, new: 1 + 5 * 2^-1
    expect(trending.scores[0]).toBeCloseTo(3 * Math.pow(2, -30 / 7), 5);
    expect(trending.scores[1]).toBeCloseTo(1 + 5 / 2, 5);
    expect(trending.recommend('c', { k: 1 }).items).toEqual(['new']);
    expect(trending.recommend('a', { k: 5 }).items).toEqual([]); // a has seen both
  });

  it('ranks within a category from item features', async () => {
    const features = new FeatureTable({ genre: 'multi' });
    features.set('m1', { genre: ['Comedy', 'Drama'] });
    features.set('m2', { genre: ['Drama'] });
    features.set('m3', { genre: ['Comedy'] });
    const log = new Interactions();
    for (const [u, i] of [['a', 'm1'], ['b', 'm1'], ['c', 'm1'], ['a', 'm2'], ['b', 'm2'], ['a', 'm3']] as const) log.add(u, i);
    const ds = await Dataset.build(log, { itemFeatures: features });
    const m = await new PopularModel({ category: 'genre' }).fit(ds);
    expect(m.recommendInCategory('Drama', { k: 5 }).items).toEqual(['m1', 'm2']);
    expect(m.recommendInCategory('Comedy', { k: 5, exclude: ['m1'] }).items).toEqual(['m3']);
    expect(m.recommendInCategory('Western').items).toEqual([]);
    const copy = PopularModel.fromState(m.toState());
    expect(copy.recommendInCategory('Comedy').items).toEqual(['m1', 'm3']);
    await expect(new PopularModel({ category: 'price' }).fit(ds)).rejects.toThrow(/options\.category/);
    await expect(new PopularModel().fit(ds).then((p) => p.recommendInCategory('Drama'))).rejects.toThrow(InvalidArgumentError);
    const noTime = await Dataset.build(log);
    await expect(new PopularModel({ mode: 'trending' }).fit(noTime)).rejects.toThrow(/timestamps/);
    expect(() => new PopularModel({ mode: 'hot' as never })).toThrow(/options\.mode/);
    expect(() => new PopularModel({ halfLifeDays: 0 })).toThrow(/halfLifeDays/);
  });

  it('random is seeded: same seed same lists, different users differ', async () => {
    const ds = await randomDataset(20, 50, 200, 3);
    const a = await new RandomModel({ seed: 5 }).fit(ds);
    const b = await new RandomModel({ seed: 5 }).fit(ds);
    const c = await new RandomModel().fit(ds, { seed: 6 });
    expect(a.recommend('u1', { k: 10 }).items).toEqual(b.recommend('u1', { k: 10 }).items);
    expect(a.recommend('u1', { k: 10 }).items).not.toEqual(c.recommend('u1', { k: 10 }).items);
    expect(a.recommend('u1', { k: 10 }).items).not.toEqual(a.recommend('u2', { k: 10 }).items);
    expect(() => new RandomModel({ seed: -1 })).toThrow(/options\.seed/);
  });
});
