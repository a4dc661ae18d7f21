import { describe, expect, it } from 'vitest';
import { normStats, normalize } from '../lib/hybrid/normalize.js';
import { fitLogistic } from '../lib/hybrid/logistic.js';
import { selectDiverse, intraListDiversity } from '../lib/hybrid/diversity.js';
import { coOccurrenceNeighbors, neighborsOf } from '../lib/hybrid/neighbors.js';
import { TopList } from '../lib/hybrid/toplist.js';
import { lcg } from './hybrid-fixtures.js';

describe('normalization', () => {
  const s = Float32Array.of(10, 6, 4, 0);
  it('rank', () => {
    const st = normStats('rank', s, 4, 8);
    expect([0, 1, 2, 3].map((r) => normalize(st, s[r]!, r))).toEqual([1, 0.875, 0.75, 0.625]);
  });
  it('min-max', () => {
    const st = normStats('minmax', s, 4, 8);
    expect([0, 1, 2, 3].map((r) => normalize(st, s[r]!, r))).toEqual([1, 0.6, 0.4, 0]);
    expect(normalize(st, 20, 0)).toBe(1); // clipped
    expect(normalize(normStats('minmax', Float32Array.of(3, 3), 2, 2), 3, 0)).toBe(1);
  });
  it('z-score', () => {
    const st = normStats('zscore', s, 4, 8);
    const mean = 5;
    const sd = Math.sqrt((25 + 1 + 1 + 25) / 4);
    expect(normalize(st, 10, 0)).toBeCloseTo((Math.min(3, (10 - mean) / sd) + 3) / 6, 6);
    expect(normalize(st, 1000, 0)).toBe(1);
    expect(normalize(st, -1000, 0)).toBe(0);
  });
});

describe('logistic regression', () => {
  it('reaches a zero gradient of the penalized log-loss', () => {
    const rand = lcg(11);
    const n = 400;
    const x = new Float64Array(n * 2);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x[i * 2] = rand();
      x[i * 2 + 1] = rand();
      y[i] = rand() < 1 / (1 + Math.exp(-(3 * x[i * 2]! - 2 * x[i * 2 + 1]! - 0.5))) ? 1 : 0;
    }
    const l2 = 0.5;
    const fit = fitLogistic(x, y, 2, l2);
    const grad = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-(fit.weights[0]! * x[i * 2]! + fit.weights[1]! * x[i * 2 + 1]! + fit.bias)));
      grad[0]! += (p - y[i]!) * x[i * 2]!;
      grad[1]! += (p - y[i]!) * x[i * 2 + 1]!;
      grad[2]! += p - y[i]!;
    }
    expect(Math.abs(grad[0]! + l2 * fit.weights[0]!)).toBeLessThan(1e-6);
    expect(Math.abs(grad[1]! + l2 * fit.weights[1]!)).toBeLessThan(1e-6);
    expect(Math.abs(grad[2]!)).toBeLessThan(1e-6);
    expect(fit.weights[0]!).toBeGreaterThan(1);
    expect(fit.weights[1]!).toBeLessThan(-0.5);
  });
});

describe('top list', () => {
  it('keeps the k best with ties by smaller index', () => {
    const rand = lcg(5);
    const scores = Array.from({ length: 300 }, () => Math.floor(rand() * 20));
    const t = new TopList(15);
    scores.forEach((s, i) => t.push(i, s));
    const ref = scores.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 15);
    const got = t.sorted();
    expect(Array.from(got.indices)).toEqual(ref.map((r) => r[1]));
  });
});

/** Brute-force MMR: the same greedy rule written directly. */
function mmrOracle(items: number[], rel: number[], vec: number[][], k: number, lambda: number): number[] {
  const lo = Math.min(...rel);
  const hi = Math.max(...rel);
  const picked: number[] = [];
  while (picked.length < k) {
    let best = -1;
    let bestScore = -Infinity;
    for (let p = 0; p < items.length; p++) {
      if (picked.includes(p)) continue;
      const r = (rel[p]! - lo) / (hi - lo);
      let maxSim = 0;
      if (picked.length) maxSim = Math.max(...picked.map((q) => vec[items[p]!]!.reduce((a, v, j) => a + v * vec[items[q]!]![j]!, 0)));
      const s = lambda * r - (1 - lambda) * maxSim;
      if (s > bestScore || (s === bestScore && rel[p]! > rel[best]!)) {
        bestScore = s;
        best = p;
      }
    }
    picked.push(best);
  }
  return picked;
}

describe('diversity', () => {
  const rand = lcg(9);
  const n = 40;
  const dim = 4;
  const vec = Array.from({ length: n }, () => {
    const v = Array.from({ length: dim }, () => rand() - 0.5);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
  const vectors = Float32Array.from(vec.flat());
  const vecF = Array.from({ length: n }, (_, i) => Array.from(vectors.subarray(i * dim, (i + 1) * dim)));
  const items = Int32Array.from({ length: 30 }, (_, p) => p + 5);
  const rel = Float64Array.from({ length: 30 }, () => rand());

  it('MMR equals the brute-force greedy rule', () => {
    for (const lambda of [1, 0.7, 0.3]) {
      const got = selectDiverse(items, rel, 30, { k: 8, lambda, vectors, dim });
      expect(got).toEqual(mmrOracle(Array.from(items), Array.from(rel), vecF, 8, lambda));
    }
  });

  it('lower lambda gives more diverse lists', () => {
    const ild = (lambda: number) => intraListDiversity(selectDiverse(items, rel, 30, { k: 8, lambda, vectors, dim }).map((p) => items[p]!), vectors, dim);
    expect(ild(0.2)).toBeGreaterThan(ild(1));
  });

  it('caps hold and duplicates are dropped', () => {
    const codes = Int32Array.from({ length: n }, (_, i) => i % 3);
    for (const lambda of [1, 0.5]) {
      const got = selectDiverse(items, rel, 30, { k: 6, lambda, vectors, dim, capCodes: codes, capMax: 2 });
      expect(got.length).toBe(6);
      const per = [0, 0, 0];
      for (const p of got) per[codes[items[p]!]!]!++;
      expect(per).toEqual([2, 2, 2]);
    }
    // Capped at 1 per category with 3 categories: only 3 items exist.
    expect(selectDiverse(items, rel, 30, { k: 6, lambda: 1, capCodes: codes, capMax: 1 }).length).toBe(3);
    const keys = Int32Array.from({ length: n }, (_, i) => Math.floor(i / 10));
    const dedup = selectDiverse(items, rel, 30, { k: 10, lambda: 1, dupKeys: keys });
    expect(new Set(dedup.map((p) => keys[items[p]!])).size).toBe(dedup.length);
    expect(intraListDiversity([0], vectors, dim)).toBe(0);
  });
});

describe('co-occurrence neighbours', () => {
  it('equal the cosine-with-shrinkage reference computed pair by pair', () => {
    const rand = lcg(4);
    const groups: number[][] = Array.from({ length: 80 }, () => [...new Set(Array.from({ length: 1 + Math.floor(rand() * 6) }, () => Math.floor(rand() * 25)))].sort((a, b) => a - b));
    const ptr = Int32Array.from([0, ...groups.map((g, i) => groups.slice(0, i + 1).reduce((a, b) => a + b.length, 0))]);
    const flat = Int32Array.from(groups.flat());
    const nb = coOccurrenceNeighbors(ptr, flat, 26, { topM: 5, shrink: 2 });
    const count = (i: number) => groups.filter((g) => g.includes(i)).length;
    for (let i = 0; i < 26; i++) {
      const ref: [number, number, number][] = [];
      for (let j = 0; j < 26; j++) {
        if (j === i) continue;
        const c = groups.filter((g) => g.includes(i) && g.includes(j)).length;
        if (c > 0) ref.push([j, (c / Math.sqrt(count(i) * count(j))) * (c / (c + 2)), c]);
      }
      ref.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      const got = neighborsOf(nb, i);
      expect(Array.from(got.items)).toEqual(ref.slice(0, 5).map((r) => r[0]));
      expect(Array.from(got.counts)).toEqual(ref.slice(0, 5).map((r) => r[2]));
      got.scores.forEach((s, r) => expect(s).toBeCloseTo(ref[r]![1], 6));
    }
  });
});
