import { describe, expect, it } from 'vitest';
import { metrics as M } from '../lib/index.js';

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('ranking metrics on hand-worked examples', () => {
  // recommended 1..5; relevant {2, 5, 9}: hits at ranks 1 and 4 (0-based).
  const a = M.matchRelevance([1, 2, 3, 4, 5], [2, 5, 9]);

  it('k = 5 with 3 relevant items', () => {
    expect(M.precision(a, 5)).toBe(2 / 5);
    expect(M.implicitPrecision(a, 5)).toBe(2 / 3);
    expect(M.recall(a, 5)).toBe(2 / 3);
    // DCG = 1/log2(3) + 1/log2(6); IDCG = 1 + 1/log2(3) + 1/log2(4)
    expect(M.ndcg(a, 5)).toBeCloseTo(0.4776237035032179, 14);
    expect(M.averagePrecision(a, 5)).toBeCloseTo((1 / 2 + 2 / 5) / 3, 15);
    expect(M.averagePrecision(a, 5)).toBeCloseTo(0.3, 15);
    expect(M.reciprocalRank(a, 5)).toBe(0.5);
    expect(M.hitRate(a, 5)).toBe(1);
  });

  it('k = 3 cuts the list', () => {
    expect(M.precision(a, 3)).toBe(1 / 3);
    expect(M.implicitPrecision(a, 3)).toBe(1 / 3);
    expect(M.recall(a, 3)).toBe(1 / 3);
    expect(M.ndcg(a, 3)).toBeCloseTo(0.2960819109658652, 14);
    expect(M.averagePrecision(a, 3)).toBeCloseTo(1 / 6, 15);
    expect(M.reciprocalRank(a, 1)).toBe(0);
    expect(M.hitRate(a, 1)).toBe(0);
  });

  it('fewer than k test items and a list shorter than k (padded with -1)', () => {
    const b = M.matchRelevance([7, 3, 8, -1, -1], [3]);
    expect(b.gains.length).toBe(3);
    expect(M.precision(b, 5)).toBe(1 / 5); // always / k
    expect(M.implicitPrecision(b, 5)).toBe(1); // / min(k, |R|)
    expect(M.recall(b, 5)).toBe(1);
    expect(M.ndcg(b, 5)).toBeCloseTo(0.6309297535714575, 14); // (1/log2 3) / 1
    expect(M.averagePrecision(b, 5)).toBe(0.5);
    expect(M.reciprocalRank(b, 5)).toBe(0.5);
  });

  it('users with no hits score 0; users with no relevant items are undefined (NaN)', () => {
    const c = M.matchRelevance([1, 2], [3]);
    for (const f of [M.precision, M.implicitPrecision, M.recall, M.ndcg, M.ndcgGraded, M.averagePrecision, M.reciprocalRank, M.hitRate]) {
      expect(f(c, 10)).toBe(0);
    }
    const none = M.matchRelevance([1, 2], []);
    for (const f of [M.precision, M.recall, M.ndcg, M.averagePrecision, M.reciprocalRank, M.hitRate]) expect(f(none, 10)).toBeNaN();
  });

  it('an item listed twice counts once', () => {
    const d = M.matchRelevance([4, 4, 4], [4, 6]);
    expect(M.precision(d, 3)).toBe(1 / 3);
    expect(M.recall(d, 3)).toBe(1 / 2);
  });

  it('graded NDCG with linear gains', () => {
    // list [1, 2, 3]; gains: item 3 → 3, item 1 → 1, item 9 (not listed) → 2.
    const g = M.matchRelevance([1, 2, 3], [3, 1, 9], [3, 1, 2]);
    // DCG = 1 + 0 + 3/log2(4) = 2.5; IDCG = 3 + 2/log2(3) + 1/2
    expect(M.ndcgGraded(g, 3)).toBeCloseTo(0.5250049893849101, 14);
    expect(M.ndcg(g, 3)).toBeCloseTo((1 + 0.5) / (1 + 1 / Math.log2(3) + 0.5), 14);
  });

  it('ties: ranking metrics keep the given order; AUC gives half credit to tied pairs', () => {
    // Tied scores are ordered by the model (smaller index first for fastrec models): swapping two tied items changes precision@1.
    expect(M.precision(M.matchRelevance([5, 6], [6]), 1)).toBe(0);
    expect(M.precision(M.matchRelevance([6, 5], [6]), 1)).toBe(1);
    // Listed: A 0.9 pos, B 0.5 neg, C 0.5 pos, D 0.1 neg; unlisted: one positive F, one negative E.
    // Pairs: A beats B, D, E (3); C ties B (½) and beats D, E (2); F ties E (½): 6 of 9.
    expect(M.auc([0.9, 0.5, 0.5, 0.1], [1, 0, 1, 0], 4, 3, 3)).toBeCloseTo(6 / 9, 15);
    expect(M.auc([1, 1, 1], [1, 0, 0], 3, 1, 2)).toBe(0.5);
    expect(M.auc([3, 2], [1, 1], 2, 2, 5)).toBe(1);
    expect(M.auc([3], [0], 1, 1, 1)).toBe(0); // the only positive is unlisted, below the listed negative
    expect(M.auc([], [], 0, 0, 5)).toBeNaN();
    // 2 beats 1 and 0, loses to 3 (2); 1 ties 1, beats 0, loses to 3 (1.5)
    expect(M.pairwiseAuc([2, 1], [1, 0, 3])).toBeCloseTo(3.5 / 6, 15);
  });

  it('coverage, diversity, novelty, popularity, rmse, mae', () => {
    // two users, k = 2 slots each
    const lists = Int32Array.from([0, 1, 0, -1]);
    expect(M.catalogCoverage(lists, 2, 2, 4)).toBe(0.5);
    expect(M.catalogCoverage(lists, 2, 1, 4)).toBe(0.25);
    // embeddings: item 0 = (1,0), 1 = (0,1), 2 = (1,1)
    const cos = M.cosineDistance(Float32Array.from([1, 0, 0, 1, 1, 1]), 2);
    expect(cos(0, 1)).toBe(1);
    expect(cos(0, 2)).toBeCloseTo(1 - Math.SQRT1_2, 7);
    // ILD over pairs (0,1), (0,2), (1,2)
    expect(M.intraListDiversity([0, 1, 2], 3, cos)).toBeCloseTo((1 + 2 * (1 - Math.SQRT1_2)) / 3, 7);
    expect(M.intraListDiversity([0], 1, cos)).toBeNaN();
    const jac = M.jaccardDistance([Int32Array.from([0, 1]), Int32Array.from([1, 2, 3]), Int32Array.from([]), Int32Array.from([])]);
    expect(jac(0, 1)).toBe(1 - 1 / 4);
    expect(jac(0, 2)).toBe(1);
    expect(jac(2, 3)).toBe(0);
    // popularity of items 0..2 among 8 training users: 8, 2, 0
    const pop = [8, 2, 0];
    expect(M.novelty([0, 1], 2, pop, 8)).toBe((0 + 2) / 2);
    expect(M.novelty([2], 1, pop, 8)).toBe(3); // an untrained item counts as one user's: -log2(1/8)
    expect(M.averagePopularity([0, 1], 2, pop, 8)).toBe((1 + 0.25) / 2);
    expect(M.rmse([1, 2, 3], [1, 4, 3])).toBeCloseTo(Math.sqrt(4 / 3), 15);
    expect(M.mae([1, 2, 3], [1, 4, 0])).toBe(5 / 3);
  });
});

describe('ranking metrics agree with a straightforward implementation on random data', () => {
  it('matches an independent reference for 2000 random users', () => {
    const rand = lcg(7);
    for (let u = 0; u < 2000; u++) {
      const nItems = 30;
      const k = 1 + Math.floor(rand() * 12);
      const listLen = Math.floor(rand() * 15);
      const list: number[] = [];
      while (list.length < listLen) {
        const i = Math.floor(rand() * nItems);
        if (!list.includes(i)) list.push(i);
      }
      const rel: number[] = [];
      const gains: number[] = [];
      const nRel = 1 + Math.floor(rand() * 8);
      while (rel.length < nRel) {
        const i = Math.floor(rand() * nItems);
        if (!rel.includes(i)) rel.push(i), gains.push(1 + Math.floor(rand() * 5));
      }
      const m = M.matchRelevance(list, rel, gains);
      // Reference: direct definitions.
      const top = list.slice(0, k);
      const isRel = top.map((i) => rel.includes(i));
      const hits = isRel.filter(Boolean).length;
      let dcg = 0, idcg = 0, gdcg = 0, gidcg = 0, ap = 0, h = 0, rr = 0;
      top.forEach((i, r) => {
        if (rel.includes(i)) {
          dcg += 1 / Math.log2(r + 2);
          gdcg += gains[rel.indexOf(i)]! / Math.log2(r + 2);
          h++;
          ap += h / (r + 1);
          if (rr === 0) rr = 1 / (r + 1);
        }
      });
      for (let r = 0; r < Math.min(k, rel.length); r++) idcg += 1 / Math.log2(r + 2);
      [...gains].sort((x, y) => y - x).slice(0, k).forEach((g, r) => (gidcg += g / Math.log2(r + 2)));
      expect(M.precision(m, k)).toBeCloseTo(hits / k, 12);
      expect(M.implicitPrecision(m, k)).toBeCloseTo(hits / Math.min(k, rel.length), 12);
      expect(M.recall(m, k)).toBeCloseTo(hits / rel.length, 12);
      expect(M.ndcg(m, k)).toBeCloseTo(dcg / idcg, 12);
      expect(M.ndcgGraded(m, k)).toBeCloseTo(gdcg / gidcg, 12);
      expect(M.averagePrecision(m, k)).toBeCloseTo(ap / Math.min(k, rel.length), 12);
      expect(M.reciprocalRank(m, k)).toBeCloseTo(rr, 12);
      expect(M.hitRate(m, k)).toBe(hits > 0 ? 1 : 0);
    }
  });

  it('AUC matches brute force over all pairs, with ties and unlisted items', () => {
    const rand = lcg(11);
    for (let t = 0; t < 500; t++) {
      const n = 2 + Math.floor(rand() * 25);
      // candidate items 0..n-1 with scores on a coarse grid (many ties); some unlisted (score -inf)
      const score = Array.from({ length: n }, () => (rand() < 0.2 ? -Infinity : Math.floor(rand() * 5)));
      const pos = Array.from({ length: n }, () => (rand() < 0.3 ? 1 : 0));
      const nPos = pos.reduce((a, b) => a + b, 0);
      const nNeg = n - nPos;
      let correct = 0;
      for (let p = 0; p < n; p++) for (let q = 0; q < n; q++) if (pos[p] && !pos[q]) correct += score[p]! > score[q]! ? 1 : score[p] === score[q] ? 0.5 : 0;
      const listed = [...Array(n).keys()].filter((i) => score[i] !== -Infinity).sort((x, y) => score[y]! - score[x]! || x - y);
      const got = M.auc(listed.map((i) => score[i]!), listed.map((i) => pos[i]!), listed.length, nPos, nNeg);
      if (nPos === 0 || nNeg === 0) expect(got).toBeNaN();
      else expect(got).toBeCloseTo(correct / (nPos * nNeg), 12);
    }
  });
});
