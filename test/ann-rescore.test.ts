/**
 * AnnScorer.recommend runs as one native call (native/core/ann/rescored_topk.hpp).
 * Its answers must be exactly those of the algorithm it replaced, written
 * here in plain TypeScript from the public index API: search (unfiltered for
 * fetch + |deny| and deny dropped after, or a filtered walk), exact re-scoring
 * in double, best first with ties to the smaller item.
 */
import { describe, it, expect } from 'vitest';
import { AnnScorer, HnswIndex, dropDenied, sortCandidates } from '../lib/ann.js';
import { seededRandom as rng } from '../lib/random.js';
import { InvalidArgumentError } from '../lib/errors.js';

const dim = 6;
const n = 400;
const r = rng(3);
const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
const factors = Float32Array.from({ length: n * dim }, gauss);
const bias = Float32Array.from({ length: n }, () => 0.2 * gauss());
const usersVec = Array.from({ length: 12 }, () => Float32Array.from({ length: dim }, gauss));

/** The replaced algorithm. `labelOf(item)` / `itemOf(label)`: the index's labels. */
function reference(index: HnswIndex, b: Float32Array | null, user: Float32Array, k: number, seen: number[], exclude: number[], include: number[] | null, labelOf: (i: number) => number, itemOf: (l: number) => number) {
  const q = new Float32Array(index.dim);
  q.set(user);
  if (b) q[dim] = 1;
  const deny = Int32Array.from([...seen, ...exclude].map(labelOf));
  const allow = include ? Int32Array.from(include.map(labelOf)) : null;
  const fetch = Math.max(k, Math.ceil(k * 2));
  let cand: Int32Array;
  if (!allow && deny.length > 0 && deny.length <= 64) {
    const res = index.searchLabels(q, fetch + deny.length, index.ef, null, null);
    deny.sort();
    cand = dropDenied(res.labels, deny, fetch);
  } else {
    cand = index.searchLabels(q, fetch, index.ef, allow, deny.length ? deny : null).labels.slice();
  }
  const scores = new Float32Array(cand.length);
  for (let c = 0; c < cand.length; c++) {
    const i = itemOf(cand[c]!);
    let s = b ? b[i]! : 0;
    for (let j = 0; j < dim; j++) s += user[j]! * factors[i * dim + j]!;
    scores[c] = s;
    cand[c] = i;
  }
  sortCandidates(cand, scores);
  const m = Math.min(k, cand.length);
  return { indices: Array.from(cand.subarray(0, m)), scores: Array.from(scores.subarray(0, m)) };
}

const filterCases = (u: number) => {
  const seenShort = Array.from({ length: 15 }, (_, j) => (u * 37 + j * 11) % n);
  const seenLong = Array.from({ length: 90 }, (_, j) => (u * 13 + j * 4) % n);
  return [
    { seen: [] as number[], exclude: [] as number[], include: null as number[] | null },
    { seen: seenShort, exclude: [], include: null },
    { seen: seenShort, exclude: [1, 2, 3], include: null },
    { seen: seenLong, exclude: [], include: null },
    { seen: seenShort, exclude: [], include: Array.from({ length: 60 }, (_, j) => (j * 7 + u) % n) },
  ];
};

describe('AnnScorer.recommend in one native call', () => {
  it('answers exactly as the search + JS re-scoring it replaced (bias, filters, k)', async () => {
    // The graph path alone (the exact scan tried first by default has its own test below).
    const scorer = await AnnScorer.build(factors, dim, { itemBias: bias, ef: 80, M: 8, efConstruction: 64, normScan: false });
    // ef 1: the beam is the candidates searched for, so the answer depends on how many are fetched.
    for (const ef of [80, 1]) {
      scorer.index.ef = ef;
      for (let u = 0; u < usersVec.length; u++) {
        for (const f of filterCases(u)) {
          for (const k of [1, 5, 10]) {
          const got = scorer.recommend(usersVec[u]!, k, { seen: Int32Array.from(f.seen), exclude: f.exclude, ...(f.include ? { include: f.include } : {}) });
          const want = reference(scorer.index, bias, usersVec[u]!, k, f.seen, f.exclude, f.include, (i) => i, (l) => l);
            expect({ indices: Array.from(got.indices), scores: Array.from(got.scores) }, `ef ${ef} user ${u} k ${k} ${JSON.stringify(f).slice(0, 60)}`).toEqual(want);
          }
        }
      }
    }
    // recommendInto leaves the same answer in the scorer's own arrays.
    const count = scorer.recommendInto(usersVec[0]!, 7, { seen: [4, 5] });
    const again = scorer.recommend(usersVec[0]!, 7, { seen: [4, 5] });
    expect(Array.from(scorer.outItems.subarray(0, count))).toEqual(Array.from(again.indices));
    expect(Array.from(scorer.outScores.subarray(0, count))).toEqual(Array.from(again.scores));
    // An empty include list allows nothing.
    expect(scorer.recommend(usersVec[0]!, 5, { include: [] }).indices.length).toBe(0);
  });

  it('maps labels to items for an index whose ids are the items in another order', async () => {
    const perm = Array.from({ length: n }, (_, i) => (i * 7 + 3) % n); // row p holds item perm[p]
    const rows = new Float32Array(n * dim);
    perm.forEach((item, p) => rows.set(factors.subarray(item * dim, (item + 1) * dim), p * dim));
    const index = await HnswIndex.build(rows, { dim, metric: 'ip', M: 8, efConstruction: 64, ef: 80, ids: perm });
    const scorer = AnnScorer.fromIndex(index, factors, dim);
    const labelOf = (item: number) => index.idMap.index(item)!;
    const itemOf = (label: number) => index.idMap.id(label) as number;
    for (let u = 0; u < 6; u++) {
      index.ef = u % 2 ? 1 : 80;
      for (const f of filterCases(u)) {
        const got = scorer.recommend(usersVec[u]!, 10, { seen: f.seen, exclude: f.exclude, ...(f.include ? { include: f.include } : {}) });
        expect({ indices: Array.from(got.indices), scores: Array.from(got.scores) }).toEqual(reference(index, null, usersVec[u]!, 10, f.seen, f.exclude, f.include, labelOf, itemOf));
      }
    }
  });

  it('the exact scan by decreasing norm (the default) answers as a brute-force scan of every item', async () => {
    // Norms spread like trained factors' (popular items long): a few items 30x longer than most.
    const spread = Float32Array.from(factors, (x, e) => x * (Math.floor(e / dim) % 50 === 0 ? 30 : 1));
    // Ties: item 7 a copy of item 5, so they tie on every user's score (the smaller item ranks first).
    spread.copyWithin(7 * dim, 5 * dim, 6 * dim);
    const b = Float32Array.from(bias);
    b[7] = b[5]!;
    for (const itemBias of [b, undefined]) {
      const scorer = await AnnScorer.build(spread, dim, { ...(itemBias ? { itemBias } : {}), ef: 1, M: 8, efConstruction: 16 });
      const graphOnly = await AnnScorer.build(spread, dim, { ...(itemBias ? { itemBias } : {}), ef: 1, M: 8, efConstruction: 16, normScan: false });
      let differs = 0;
      for (let u = 0; u < usersVec.length; u++) {
        for (const f of filterCases(u)) {
          if (f.include) continue; // an include list goes to the graph (the first test)
          for (const k of [1, 5, 10, 40]) {
            const denied = new Set([...f.seen, ...f.exclude]);
            const all: { i: number; s: number }[] = [];
            for (let i = 0; i < n; i++) {
              if (denied.has(i)) continue;
              let s = itemBias ? itemBias[i]! : 0;
              for (let j = 0; j < dim; j++) s += usersVec[u]![j]! * spread[i * dim + j]!;
              all.push({ i, s: Math.fround(s) });
            }
            all.sort((x, y) => y.s - x.s || x.i - y.i);
            const got = scorer.recommend(usersVec[u]!, k, { seen: Int32Array.from(f.seen), exclude: f.exclude });
            expect({ indices: Array.from(got.indices), scores: Array.from(got.scores) }, `user ${u} k ${k}`).toEqual({
              indices: all.slice(0, k).map((x) => x.i),
              scores: all.slice(0, k).map((x) => x.s),
            });
            const approx = graphOnly.recommend(usersVec[u]!, k, { seen: Int32Array.from(f.seen), exclude: f.exclude });
            if (Array.from(approx.indices).join() !== Array.from(got.indices).join()) differs++;
          }
        }
      }
      // The graph at ef 1 is approximate: the scan's exact answers are not what it would have said.
      expect(differs).toBeGreaterThan(0);
    }
  });

  it('counts how its scans end (scanStats)', async () => {
    // 2,000 items: the head is 512 of them. Uniform norms and k 40 mostly need more than the head; long
    // norms on 20 items settle k 5 within it.
    const m = 2000;
    const flat = Float32Array.from({ length: m * dim }, gauss);
    const scorer = await AnnScorer.build(flat, dim, { ef: 40, M: 8, efConstruction: 32 });
    expect(scorer.scanStats()).toEqual({ scans: 0, settled: 0, itemsRead: 0 });
    for (const u of usersVec) scorer.recommend(u, 40);
    scorer.recommend(usersVec[0]!, 5, { include: [1, 2, 3] }); // the graph's (allow-list): not a scan
    const flatStats = scorer.scanStats()!;
    expect(flatStats.scans).toBe(usersVec.length);
    expect(flatStats.settled).toBeLessThan(usersVec.length / 2);
    expect(flatStats.itemsRead).toBeLessThanOrEqual(flatStats.settled * 512);
    const long = Float32Array.from(flat, (x, e) => x * (Math.floor(e / dim) < 20 ? 50 : 1));
    const skewed = await AnnScorer.build(long, dim, { ef: 40, M: 8, efConstruction: 32 });
    for (const u of usersVec) skewed.recommend(u, 5);
    const st = skewed.scanStats()!;
    expect(st.scans).toBe(usersVec.length);
    expect(st.settled).toBe(usersVec.length);
    // Blocks of 16: the 20 long items and the block that shows the rest cannot enter.
    expect(st.itemsRead).toBeGreaterThanOrEqual(usersVec.length * 16);
    expect(st.itemsRead).toBeLessThanOrEqual(usersVec.length * 48);
    expect((await AnnScorer.build(flat, dim, { ef: 40, M: 8, efConstruction: 32, normScan: false })).scanStats()).toBeNull();
  });

  it('rejects a user vector of the wrong length and a bad k', async () => {
    const scorer = await AnnScorer.build(factors, dim, { M: 8, efConstruction: 32 });
    expect(() => scorer.recommendInto(new Float32Array(dim + 1), 5)).toThrow(InvalidArgumentError);
    expect(() => scorer.recommendInto(new Float32Array(dim + 1), 5)).toThrow(/user/);
    expect(() => scorer.recommendInto(usersVec[0]!, 0)).toThrow(InvalidArgumentError);
    await expect(AnnScorer.build(factors, dim, { normScan: 'yes' as unknown as boolean })).rejects.toThrow(/normScan/);
  });
});
