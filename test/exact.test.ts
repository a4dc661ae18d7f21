import { describe, expect, it } from 'vitest';
import { ExactIndex, EXACT_AUTO_PRUNE_MIN } from '../lib/ann.js';
import { AbortError, DimensionMismatchError, InvalidArgumentError } from '../lib/errors.js';
import { seededRandom as rng } from '../lib/random.js';

// Small integers: every float score is exact, and equal scores are common (ties).
function ints(n: number, d: number, range: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n * d }, () => Math.floor(r() * (2 * range + 1)) - range);
}
// Gaussian mixture with power-law cluster sizes: planted structure the bounds can use.
function mixture(n: number, d: number, clusters: number, seed: number): Float32Array {
  const rc = rng(99), r = rng(seed);
  const gauss = (g: () => number) => Math.sqrt(-2 * Math.log(g() + 1e-12)) * Math.cos(2 * Math.PI * g());
  const centres = Float32Array.from({ length: clusters * d }, () => gauss(rc));
  const w = Array.from({ length: clusters }, (_, c) => 1 / Math.pow(c + 1, 1.1));
  const total = w.reduce((s, x) => s + x, 0);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let x = r() * total, c = 0;
    while (c < clusters - 1 && x > w[c]!) x -= w[c++]!;
    for (let j = 0; j < d; j++) out[i * d + j] = centres[c * d + j]! + 0.35 * gauss(r);
  }
  return out;
}
// Exact integer oracle: best k by (distance, label); ip distance 1 - dot, l2 squared.
function intOracle(data: Float32Array, d: number, q: Float32Array, k: number, metric: 'ip' | 'l2'): { labels: number[]; distances: number[] } {
  const n = data.length / d;
  const all: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += metric === 'l2' ? (data[i * d + j]! - q[j]!) ** 2 : data[i * d + j]! * q[j]!;
    all.push([metric === 'l2' ? s : 1 - s, i]);
  }
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const top = all.slice(0, k);
  return { labels: top.map((x) => x[1]), distances: top.map((x) => x[0]) };
}
const row = (m: Float32Array, d: number, i: number) => m.subarray(i * d, (i + 1) * d);
const rowOf = (a: Int32Array | Float32Array, k: number, i: number) => Array.from(a.subarray(i * k, (i + 1) * k));

describe('ExactIndex', () => {
  it('matches an exact integer oracle label for label, ties by smaller label, pruned or not', async () => {
    const d = 12, k = 9, n = 2500;
    const data = ints(n, d, 2, 1), queries = ints(30, d, 2, 2);
    for (const metric of ['ip', 'l2'] as const) {
      const index = await ExactIndex.build(data, { dim: d, metric, prune: true, blockSize: 64 });
      expect(index.blocks).toBeGreaterThan(10);
      const batch = await index.searchMany(queries, k, { threads: 2 });
      const brute = await index.searchMany(queries, k, { threads: 2, prune: false });
      expect(brute.scored).toBeGreaterThanOrEqual(30 * n);
      for (let i = 0; i < 30; i++) {
        const truth = intOracle(data, d, row(queries, d, i), k, metric);
        expect(rowOf(batch.labels, k, i)).toEqual(truth.labels);
        expect(rowOf(batch.distances, k, i)).toEqual(truth.distances);
        expect(rowOf(brute.labels, k, i)).toEqual(truth.labels);
        const one = index.search(row(queries, d, i), k, { threads: 2 });
        expect(one.ids).toEqual(truth.labels);
        expect(Array.from(one.distances)).toEqual(truth.distances);
      }
    }
  });

  it('prunes clustered data and returns bit-for-bit the brute-force results for every metric', async () => {
    const d = 16, k = 10, n = 8000;
    const data = mixture(n, d, 60, 3), queries = mixture(200, d, 60, 4);
    for (const metric of ['ip', 'l2', 'cosine'] as const) {
      const index = await ExactIndex.build(data, { dim: d, metric, prune: true, blockSize: 128 });
      const brute = await index.searchMany(queries, k, { prune: false });
      const pruned = await index.searchMany(queries, k);
      expect(Array.from(pruned.labels)).toEqual(Array.from(brute.labels));
      expect(Array.from(pruned.distances)).toEqual(Array.from(brute.distances));
      if (metric !== 'cosine') expect(pruned.scored).toBeLessThan(brute.scored / 3);
      let singleScored = 0;
      for (let i = 0; i < 20; i++) {
        const one = index.search(row(queries, d, i), k);
        singleScored += one.scored;
        expect(Array.from(one.labels)).toEqual(rowOf(brute.labels, k, i));
        expect(Array.from(one.distances)).toEqual(rowOf(brute.distances, k, i));
      }
      if (metric !== 'cosine') expect(singleScored).toBeLessThan((20 * n) / 3);
    }
  });

  it('searches items added after optimize(), pads when k exceeds the size, and handles the empty index', async () => {
    const d = 6;
    const data = ints(300, d, 3, 5), more = ints(40, d, 3, 6);
    const index = await ExactIndex.build(data, { dim: d, metric: 'l2', prune: true, blockSize: 16, ids: Array.from({ length: 300 }, (_, i) => `a${i}`) });
    index.add(Array.from({ length: 40 }, (_, i) => `b${i}`), more);
    const all = new Float32Array([...data, ...more]);
    for (let i = 0; i < 40; i++) {
      const truth = intOracle(all, d, row(more, d, i), 5, 'l2');
      const got = index.search(row(more, d, i), 5);
      expect(Array.from(got.labels)).toEqual(truth.labels);
      expect(got.ids[0]).toBe(got.labels[0]! < 300 ? `a${got.labels[0]}` : `b${got.labels[0]! - 300}`);
    }
    const small = new ExactIndex(d, { metric: 'ip' });
    small.add(['x', 'y'], data.subarray(0, 2 * d));
    const p = await small.searchMany(data.subarray(0, 2 * d), 4);
    expect(rowOf(p.labels, 4, 0).slice(2)).toEqual([-1, -1]);
    expect(rowOf(p.distances, 4, 1).slice(2)).toEqual([Infinity, Infinity]);
    expect(small.search(data.subarray(0, d), 4).ids.length).toBe(2);
    const empty = new ExactIndex(d);
    expect(empty.search(data.subarray(0, d), 3).ids).toEqual([]);
    expect(await empty.optimize()).toBe(0);
  });

  it('filters with allow- and deny-lists exactly (selective allow-lists scan only the allowed items)', async () => {
    const d = 8, k = 5, n = 2000;
    const data = ints(n, d, 2, 30), queries = ints(20, d, 2, 31);
    const ids = Array.from({ length: n }, (_, i) => `i${i}`);
    const index = await ExactIndex.build(data, { dim: d, metric: 'ip', prune: true, blockSize: 64, ids });
    const narrow = ids.filter((_, i) => i % 40 === 3); // 2.5%: gathered
    const wide = ids.filter((_, i) => i % 2 === 0);
    const deny = ids.filter((_, i) => i % 3 === 0);
    const allowF = index.filter(wide);
    for (const [allow, denyIds] of [[narrow, undefined], [undefined, deny], [allowF, deny]] as const) {
      const ok = (i: number) => (!allow || (allow === allowF ? i % 2 === 0 : i % 40 === 3)) && !(denyIds && i % 3 === 0);
      const batch = await index.searchMany(queries, k, { allow, deny: denyIds });
      for (let q = 0; q < 20; q++) {
        const kept = new Float32Array(data.filter((_, j) => ok(Math.floor(j / d))));
        const keptLabels = Array.from({ length: n }, (_, i) => i).filter(ok);
        const truth = intOracle(kept, d, row(queries, d, q), k, 'ip');
        const expect_ = truth.labels.map((t) => keptLabels[t]!);
        expect(rowOf(batch.labels, k, q)).toEqual(expect_);
        expect(index.search(row(queries, d, q), k, { allow, deny: denyIds }).ids).toEqual(expect_.map((l) => `i${l}`));
      }
    }
    expect(() => index.search(row(queries, d, 0), k, { allow: 5 as never })).toThrow(/options.allow/);
  });

  it("partitions on build only where it pays with prune 'auto', never with prune false", async () => {
    const d = 4, data = ints(500, d, 3, 7);
    expect((await ExactIndex.build(data, { dim: d })).blocks).toBe(0); // 500 < EXACT_AUTO_PRUNE_MIN
    expect(EXACT_AUTO_PRUNE_MIN).toBeGreaterThan(500);
    const off = new ExactIndex(d, { prune: false, blockSize: 16 });
    off.add(Array.from({ length: 500 }, (_, i) => i), data);
    await off.optimize();
    expect(off.blocks).toBeGreaterThan(0);
    expect(off.search(row(data, d, 0), 3).scored).toBeGreaterThanOrEqual(500); // pruning disabled: full scan
    expect(off.pruning).toBe(false);
    // Large collections: kept where stored rows as queries show it pays (clusters), dropped where not (uniform).
    const n = EXACT_AUTO_PRUNE_MIN, dd = 32;
    const clusteredIndex = await ExactIndex.build(mixture(n, dd, 40, 12), { dim: dd, metric: 'l2' });
    expect(clusteredIndex.blocks).toBeGreaterThan(0);
    expect(clusteredIndex.pruning).toBe(true);
    const r = rng(13);
    const uniformIndex = await ExactIndex.build(Float32Array.from({ length: n * dd }, () => r()), { dim: dd, metric: 'ip' });
    expect(uniformIndex.pruning).toBe(false);
    const q = Float32Array.from({ length: dd }, () => r());
    expect(uniformIndex.search(q, 5).scored).toBeGreaterThanOrEqual(n);
    expect(uniformIndex.search(q, 5, { prune: true }).ids).toEqual(uniformIndex.search(q, 5).ids);
  });

  it('rejects invalid input with typed errors naming the argument', async () => {
    expect(() => new ExactIndex(0)).toThrow(InvalidArgumentError);
    expect(() => new ExactIndex(4, { prune: 'yes' as never })).toThrow(/options.prune/);
    expect(() => new ExactIndex(4, { blockSize: 3 })).toThrow(/options.blockSize/);
    expect(() => new ExactIndex(4, { blockSze: 64 } as never)).toThrow(/did you mean 'blockSize'/);
    const index = new ExactIndex(4);
    index.add([1, 2], ints(2, 4, 2, 8));
    expect(() => index.add([3, 3], ints(2, 4, 2, 9))).toThrow(/ids/);
    expect(() => index.add([4], new Float32Array([1, NaN, 0, 0]))).toThrow(InvalidArgumentError);
    expect(() => index.search(new Float32Array(3), 2)).toThrow(DimensionMismatchError);
    expect(() => index.search(new Float32Array(4), -1)).toThrow(/k/);
    expect(() => index.search(new Float32Array(4), 2, { prune: 1 as never })).toThrow(/options.prune/);
    await expect(index.searchMany(new Float32Array(5), 2)).rejects.toThrow(DimensionMismatchError);
    await expect(index.optimize({ seed: -1 })).rejects.toThrow(/options.seed/);
    await expect(ExactIndex.build(new Float32Array(8), {})).rejects.toThrow(/options.dim/);
    const big = new ExactIndex(16);
    big.add(Array.from({ length: 20000 }, (_, i) => i), mixture(20000, 16, 10, 10));
    const pending = big.optimize();
    expect(() => big.search(new Float32Array(16), 3)).toThrow(/optimize/);
    await pending;
    const controller = new AbortController();
    controller.abort();
    await expect(big.searchMany(mixture(3000, 16, 10, 11), 5, { signal: controller.signal })).rejects.toThrow(AbortError);
  });
});
