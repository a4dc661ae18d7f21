import { describe, expect, it } from 'vitest';
import { Dataset, Interactions } from '../lib/index.js';
import { FactorScorer } from '../lib/models/factor.js';
import { resolveBatchOptions, resolveRecommendOptions, trainingDataOf } from '../lib/models/common.js';
import { AbortError, DimensionMismatchError, InvalidArgumentError } from '../lib/errors.js';

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function setup(nUsers = 50, nItems = 80, dim = 6) {
  const r = rng(3);
  const log = new Interactions();
  for (let i = 0; i < nItems; i++) log.add(`u${i % nUsers}`, `i${i}`);
  for (let n = 0; n < 300; n++) log.add(`u${Math.floor(r() * nUsers)}`, `i${Math.floor(r() * nItems)}`);
  const ds = await Dataset.build(log);
  const users = Float32Array.from({ length: ds.numUsers * dim }, () => r() - 0.5);
  const items = Float32Array.from({ length: ds.numItems * dim }, () => r() - 0.5);
  return { ds, users, items, dim, scorer: new FactorScorer(trainingDataOf(ds), items, dim) };
}

function brute(ds: Dataset, users: Float32Array, items: Float32Array, dim: number, u: number, k: number, skip: Set<number>) {
  const scored: [number, number][] = [];
  for (let i = 0; i < ds.numItems; i++) {
    if (skip.has(i)) continue;
    let s = 0;
    for (let d = 0; d < dim; d++) s += users[u * dim + d]! * items[i * dim + d]!;
    scored.push([Math.fround(s), i]);
  }
  scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return scored.slice(0, k);
}

describe('FactorScorer', () => {
  it('single and batch top-k agree with brute force and respect filters', async () => {
    const { ds, users, items, dim, scorer } = await setup();
    const exclude = ['i1', 'i2', 'i3', 'not-an-item'];
    const opts = resolveRecommendOptions({ k: 7, exclude }, ds.items);
    const batch = await scorer.recommendMany(users, Int32Array.from({ length: ds.numUsers }, (_, u) => u), resolveBatchOptions({ k: 7, exclude }, ds.items));
    for (let u = 0; u < ds.numUsers; u++) {
      const seen = scorer.seenOf(u);
      const skip = new Set<number>([...seen, ...['i1', 'i2', 'i3'].map((id) => ds.items.index(id)!)]);
      const ref = brute(ds, users, items, dim, u, 7, skip);
      const one = scorer.recommend(users.subarray(u * dim, (u + 1) * dim), seen, opts);
      expect(Array.from(one.indices)).toEqual(ref.map((x) => x[1]));
      expect(Array.from(batch.indices.subarray(u * 7, u * 7 + 7))).toEqual(ref.map((x) => x[1]));
      expect(one.items).toEqual(ref.map((x) => ds.items.id(x[1])));
    }
  });

  it('include restricts results; k larger than what is left pads the batch', async () => {
    const { ds, users, scorer } = await setup();
    const include = ['i5', 'i6', 'i7'];
    const one = scorer.recommend(users.subarray(0, 6), null, resolveRecommendOptions({ k: 10, include, filterSeen: false }, ds.items));
    expect(new Set(one.items)).toEqual(new Set(include));
    const batch = await scorer.recommendMany(users, Int32Array.of(0, 1), resolveBatchOptions({ k: 10, include, filterSeen: false }, ds.items));
    expect(Array.from(batch.indices.subarray(3, 10))).toEqual(new Array(7).fill(-1));
    expect(batch.scores[9]).toBe(-Infinity);
  });

  it('similarItems uses cosine and excludes the item itself', async () => {
    const { ds, items, dim, scorer } = await setup();
    const sim = scorer.similarItems(0, 5);
    expect(sim.indices).not.toContain(0);
    const norm = (i: number) => Math.hypot(...items.subarray(i * dim, (i + 1) * dim));
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += items[d]! * items[sim.indices[0]! * dim + d]!;
    expect(sim.scores[0]).toBeCloseTo(dot / (norm(0) * norm(sim.indices[0]!)), 5);
    expect(ds.numItems).toBe(80);
  });

  it('reports progress and honours an AbortSignal', async () => {
    const { ds, users, scorer } = await setup();
    const rows = Int32Array.from({ length: 20000 }, (_, r) => r % ds.numUsers);
    const seen: number[] = [];
    await scorer.recommendMany(users, rows, resolveBatchOptions({ k: 3, onProgress: (f) => seen.push(f) }, ds.items));
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBeCloseTo(1, 6);
    const ac = new AbortController();
    ac.abort();
    await expect(scorer.recommendMany(users, rows, resolveBatchOptions({ k: 3, signal: ac.signal }, ds.items))).rejects.toThrow(AbortError);
    const ac2 = new AbortController();
    const p = scorer.recommendMany(users, Int32Array.from({ length: 400000 }, (_, r) => r % ds.numUsers), resolveBatchOptions({ k: 3, signal: ac2.signal }, ds.items));
    ac2.abort();
    await expect(p).rejects.toThrow(AbortError);
  });

  it('rejects bad input', async () => {
    const { ds, items, scorer } = await setup();
    expect(() => new FactorScorer(trainingDataOf(ds), items.subarray(1), 6)).toThrow(DimensionMismatchError);
    expect(() => scorer.recommend(new Float32Array(5), null, resolveRecommendOptions({}, ds.items))).toThrow(DimensionMismatchError);
    expect(() => resolveRecommendOptions({ k: 0 }, ds.items)).toThrow(InvalidArgumentError);
    expect(() => resolveRecommendOptions({ k: 2.5 }, ds.items)).toThrow(/integer/);
    expect(() => resolveRecommendOptions({ kk: 2 } as never, ds.items)).toThrow(/did you mean 'k'/);
    expect(() => resolveRecommendOptions({ exclude: 'i1' } as never, ds.items)).toThrow(/array of item ids/);
  });
});
