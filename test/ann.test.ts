import { describe, expect, it, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HnswIndex, ExactIndex, AnnScorer } from '../lib/ann.js';
import { AlsModel, PureSvdModel, Dataset, Interactions } from '../lib/index.js';
import { AbortError, CorruptFileError, DimensionMismatchError, InvalidArgumentError, UnsupportedVersionError } from '../lib/errors.js';
import { seededRandom as rng } from '../lib/random.js';

// A Gaussian mixture: planted clusters.
function clustered(n: number, d: number, clusters: number, seed: number): Float32Array {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const centres = Float32Array.from({ length: clusters * d }, () => r() * 2 - 1);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * clusters);
    for (let j = 0; j < d; j++) out[i * d + j] = centres[c * d + j]! + 0.15 * gauss();
  }
  return out;
}
// Brute-force oracle in plain JS.
function oracle(data: Float32Array, d: number, q: Float32Array, k: number, metric: 'l2' | 'ip' | 'cosine', skip = new Set<number>()): number[] {
  const n = data.length / d;
  const qn = Math.sqrt(q.reduce((s, x) => s + x * x, 0));
  const scored: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    if (skip.has(i)) continue;
    let dot = 0, l2 = 0, xn = 0;
    for (let j = 0; j < d; j++) {
      const x = data[i * d + j]!;
      dot += x * q[j]!;
      l2 += (x - q[j]!) ** 2;
      xn += x * x;
    }
    scored.push([metric === 'l2' ? l2 : metric === 'ip' ? -dot : -dot / (Math.sqrt(xn) * qn), i]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return scored.slice(0, k).map((s) => s[1]);
}
const row = (data: Float32Array, d: number, i: number) => data.subarray(i * d, (i + 1) * d);
const recall = (truth: number[], got: ArrayLike<number>) => truth.filter((t) => Array.from(got).includes(t)).length / truth.length;

const dir = mkdtempSync(join(tmpdir(), 'fastrec-ann-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HnswIndex', () => {
  const d = 16;
  const data = clustered(3000, d, 30, 1);
  const queries = clustered(50, d, 30, 2);

  it('reaches recall >= 0.95 against the brute-force oracle for every metric', async () => {
    for (const metric of ['l2', 'cosine'] as const) {
      const index = await HnswIndex.build(data, { dim: d, metric, M: 12, efConstruction: 100, ef: 128, threads: 2 });
      expect(index.size).toBe(3000);
      let sum = 0;
      for (let i = 0; i < 50; i++) {
        const q = row(queries, d, i);
        const r = index.search(q, 10);
        expect(r.path).toBe('graph');
        expect(r.labels.length).toBe(10);
        for (let j = 1; j < 10; j++) expect(r.distances[j]!).toBeGreaterThanOrEqual(r.distances[j - 1]!);
        sum += recall(oracle(data, d, q, 10, metric), r.ids as number[]);
      }
      expect(sum / 50).toBeGreaterThanOrEqual(0.95);
    }
    // float16 storage: same recall bar, about half the bytes
    const half = await HnswIndex.build(data, { dim: d, M: 12, efConstruction: 100, ef: 128, storage: 'float16' });
    expect(half.info().storage).toBe('float16');
    let hsum = 0;
    for (let i = 0; i < 50; i++) hsum += recall(oracle(data, d, row(queries, d, i), 10, 'l2'), half.search(row(queries, d, i), 10).ids as number[]);
    expect(hsum / 50).toBeGreaterThanOrEqual(0.95);
    expect(half.info().memoryBytes / 3000).toBeLessThan(4 + 4 * 24 + 2 * d + 20);
    // inner product: through the Euclidean transform
    const ip = await HnswIndex.build(data, { dim: d, metric: 'ip', mipsTransform: true, M: 12, efConstruction: 100, ef: 128 });
    let sum = 0;
    for (let i = 0; i < 50; i++) sum += recall(oracle(data, d, row(queries, d, i), 10, 'ip'), ip.search(row(queries, d, i), 10).ids as number[]);
    expect(sum / 50).toBeGreaterThanOrEqual(0.95);
  });

  it('names items by their ids, filters natively and never returns filtered or deleted items', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => row(data, d, i));
    const ids = rows.map((_, i) => `item-${i}`);
    const index = await HnswIndex.build(rows, { ids, M: 8, efConstruction: 64, ef: 64 });
    const q = row(queries, d, 0);
    const self = index.search(row(data, d, 5), 1);
    expect(self.ids).toEqual(['item-5']);
    expect(self.distances[0]).toBeCloseTo(0, 5);

    const allow = ids.filter((_, i) => i % 100 === 3);  // 1%: exact scan of the allowed items
    const a = index.search(q, 10, { allow });
    expect(a.path).toBe('exact');
    expect(a.ids.length).toBe(10);
    const skipNotAllowed = new Set(Array.from({ length: 2000 }, (_, i) => i).filter((i) => i % 100 !== 3));
    expect(a.labels.length).toBe(10);
    expect(a.ids).toEqual(oracle(data.subarray(0, 2000 * d), d, q, 10, 'l2', skipNotAllowed).map((i) => `item-${i}`));

    const wide = ids.filter((_, i) => i % 3 === 0);  // 33%: the graph walk with the filter
    const w = index.search(q, 10, { allow: wide });
    expect(w.path).toBe('filtered-graph');
    for (const id of w.ids) expect(Number((id as string).slice(5)) % 3).toBe(0);

    const deny = ids.filter((_, i) => i % 2 === 0);
    for (let i = 0; i < 20; i++) {
      const r = index.search(row(queries, d, i), 10, { deny });
      expect(r.ids.length).toBe(10);
      for (const id of r.ids) expect(Number((id as string).slice(5)) % 2).toBe(1);
    }

    const before = index.search(q, 5).ids;
    expect(index.remove(before[0]!)).toBe(true);
    expect(index.remove(before[0]!)).toBe(false);
    expect(index.has(before[0]!)).toBe(false);
    expect(index.search(q, 5).ids).not.toContain(before[0]);
    expect(index.searchExact(q, 5).ids).not.toContain(before[0]);
    expect(index.size).toBe(1999);
    // the slot is reused
    const slots = index.info().slots;
    index.addOne('fresh', row(data, d, 2500));
    expect(index.info().slots).toBe(slots);
    expect(index.search(row(data, d, 2500), 1).ids).toEqual(['fresh']);
    // k beyond what is allowed: what there is
    expect(index.search(q, 10, { allow: ['item-1', 'item-2', 'unknown'] }).ids.sort()).toEqual(['item-1', 'item-2']);
    expect(index.search(q, 0).ids).toEqual([]);
  });

  it('answers batches like single queries and matches the exact index', async () => {
    const index = await HnswIndex.build(data, { dim: d, M: 10, efConstruction: 80, ef: 50 });
    const batch = await index.searchMany(queries, 7, { threads: 2 });
    expect(batch.labels.length).toBe(50 * 7);
    for (let i = 0; i < 50; i++) {
      const one = index.search(row(queries, d, i), 7);
      expect(Array.from(batch.labels.subarray(i * 7, i * 7 + 7))).toEqual(Array.from(one.labels));
    }
    // the unfiltered single query reuses its native output arrays: results must not alias them,
    // also when k outgrows them; a deny-list goes through the filtered path with the same answers
    const big = await index.searchMany(queries.subarray(0, 2 * d), 40, { ef: 50 });
    const first = index.search(row(queries, d, 0), 40);
    const second = index.search(row(queries, d, 1), 40);
    expect(Array.from(first.labels)).toEqual(Array.from(big.labels.subarray(0, 40)));
    expect(Array.from(second.labels)).toEqual(Array.from(big.labels.subarray(40, 80)));
    expect(Array.from(first.distances)).toEqual(Array.from(big.distances.subarray(0, 40)));
    expect(first.path).toBe('graph');
    const denied = index.search(row(queries, d, 0), 40, { deny: [first.ids[39]!] });
    expect(denied.path).toBe('filtered-graph');
    expect(Array.from(denied.labels.subarray(0, 39))).toEqual(Array.from(first.labels.subarray(0, 39)));
    expect(Array.from(denied.labels)).not.toContain(first.labels[39]);
    expect(index.search(row(queries, d, 0), 0).labels.length).toBe(0);
    const exact = new ExactIndex(d, { metric: 'l2' });
    exact.add(Array.from({ length: 3000 }, (_, i) => i), data);
    const ex = await exact.searchMany(queries, 7, { threads: 2 });
    for (let i = 0; i < 50; i++) {
      const q = row(queries, d, i);
      const truth = index.searchExact(q, 7);
      expect(Array.from(ex.labels.subarray(i * 7, i * 7 + 7))).toEqual(Array.from(truth.labels));
      expect(exact.search(q, 7).ids).toEqual(truth.ids);
      for (let j = 0; j < 7; j++) expect(ex.distances[i * 7 + j]!).toBeCloseTo(truth.distances[j]!, 3);
    }
    // padding when k exceeds the collection
    const small = new ExactIndex(d);
    small.add(['a', 'b'], data.subarray(0, 2 * d));
    const p = await small.searchMany(queries.subarray(0, d), 4);
    expect(Array.from(p.labels.subarray(2))).toEqual([-1, -1]);
    expect(small.search(queries.subarray(0, d), 4).ids.length).toBe(2);
  });

  it('saves and loads (mapped or read) with identical results; damaged files are rejected', async () => {
    const index = await HnswIndex.build(data, { dim: d, metric: 'cosine', M: 8, efConstruction: 50, ef: 37, exactThreshold: 0.05, ids: Array.from({ length: 3000 }, (_, i) => `x${i}`) });
    index.remove('x7');
    const path = join(dir, 'index.hnsw');
    await index.save(path);
    expect(existsSync(`${path}.ids.json`)).toBe(false);  // one file is the whole index
    const same = async (loaded: HnswIndex) => {
      expect(loaded.size).toBe(2999);
      expect(loaded.has('x7')).toBe(false);
      expect(loaded.ef).toBe(37);
      expect(loaded.exactThreshold).toBe(0.05);
      expect(loaded.idMap.ids()).toEqual(index.idMap.ids());
      for (let i = 0; i < 20; i++) {
        const a = index.search(row(queries, d, i), 10);
        const b = loaded.search(row(queries, d, i), 10);
        expect(b.ids).toEqual(a.ids);
        expect(Array.from(b.distances)).toEqual(Array.from(a.distances));
      }
    };
    for (const mmap of [true, false]) await same(await HnswIndex.load(path, { mmap }));
    const bytes = readFileSync(path);
    // in memory: the same bytes as the file; back with identical results, in place or copied
    const mem = await index.toBytes();
    expect(mem).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(mem).equals(bytes)).toBe(true);
    for (const copy of [false, true]) await same(await HnswIndex.fromBytes(mem, { copy }));
    // embedded at a 64-byte offset inside a larger buffer (as in a model file), used in place;
    // changing the index never writes to those bytes
    const outer = new Uint8Array(mem.length + 128);
    outer.set(mem, 64);
    const view = outer.subarray(64, 64 + mem.length);
    const embedded = await HnswIndex.fromBytes(view);
    await same(embedded);
    expect(embedded.remove('x8')).toBe(true);
    await embedded.add(['new'], row(queries, d, 0));
    expect(embedded.search(row(queries, d, 0), 1).ids).toEqual(['new']);
    expect(Buffer.from(view).equals(bytes)).toBe(true);

    const bad = join(dir, 'bad.hnsw');
    writeFileSync(bad, bytes.subarray(0, bytes.length - 10));
    await expect(HnswIndex.load(bad)).rejects.toThrow(CorruptFileError);
    await expect(HnswIndex.fromBytes(mem.subarray(0, mem.length - 10))).rejects.toThrow(CorruptFileError);
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0x10;
    writeFileSync(bad, flipped);
    await expect(HnswIndex.load(bad)).rejects.toThrow(CorruptFileError);
    await expect(HnswIndex.load(bad, { mmap: false })).rejects.toThrow(CorruptFileError);
    await expect(HnswIndex.fromBytes(flipped)).rejects.toThrow(CorruptFileError);
    // the ids are the last section: a flipped bit in an id is caught by its checksum
    const idFlip = Buffer.from(bytes);
    const at = idFlip.lastIndexOf('x2999');
    expect(at).toBeGreaterThan(bytes.length - 40000);
    idFlip[at + 1]! ^= 0x01;
    writeFileSync(bad, idFlip);
    await expect(HnswIndex.load(bad)).rejects.toThrow(/checksum mismatch in section 4/);
    await expect(HnswIndex.fromBytes(idFlip, { copy: true })).rejects.toThrow(CorruptFileError);
    // format version 1 (ids in a side file) is refused with a versioned error
    const v1 = Buffer.from(bytes);
    v1[8] = 1;
    await expect(HnswIndex.fromBytes(v1)).rejects.toThrow(UnsupportedVersionError);
    await expect(HnswIndex.fromBytes(v1)).rejects.toThrow(/format version 1.*build the index again/);
  });

  it('keeps every kind of id in the index file (numbers, strings, mixed)', async () => {
    const small = data.subarray(0, 200 * d);
    const kinds: (string | number)[][] = [
      Array.from({ length: 200 }, (_, i) => i),                        // 0..n-1
      Array.from({ length: 200 }, (_, i) => 1000 - i * 2.5),          // other numbers
      Array.from({ length: 200 }, (_, i) => `item-${i}-é`),           // strings
      Array.from({ length: 200 }, (_, i) => (i % 3 ? `a\nb${i}` : i)), // mixed, with line breaks
    ];
    for (const ids of kinds) {
      const index = await HnswIndex.build(small, { dim: d, M: 6, efConstruction: 40, ids });
      const back = await HnswIndex.fromBytes(await index.toBytes());
      expect(back.idMap.ids()).toEqual(ids);
      for (let i = 0; i < 5; i++) expect(back.search(row(queries, d, i), 5).ids).toEqual(index.search(row(queries, d, i), 5).ids);
    }
  });

  it('recommends through the index like an exact scan (seen items dropped, bias folded in)', async () => {
    const fd = 12;
    const items = clustered(1500, fd, 20, 7);
    const bias = Float32Array.from({ length: 1500 }, (_, i) => (i % 7) * 0.05);
    const scorer = await AnnScorer.build(items, fd, { itemBias: bias, ef: 200 });
    const users = clustered(30, fd, 20, 8);
    let hits = 0;
    for (let u = 0; u < 30; u++) {
      const user = row(users, fd, u);
      const seen = Int32Array.from({ length: 20 }, (_, j) => (u * 31 + j * 17) % 1500);
      const exclude = [1, 2, 3];
      const r = scorer.recommend(user, 10, { seen, exclude });
      const skip = new Set([...seen, ...exclude]);
      const exact = Array.from({ length: 1500 }, (_, i) => i)
        .filter((i) => !skip.has(i))
        .map((i) => [i, bias[i]! + row(items, fd, i).reduce((s, x, j) => s + x * user[j]!, 0)] as const)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 10);
      for (const i of r.indices) expect(skip.has(i)).toBe(false);
      for (let j = 1; j < r.scores.length; j++) expect(r.scores[j]!).toBeLessThanOrEqual(r.scores[j - 1]!);
      hits += recall(exact.map((e) => e[0]), r.indices) * 10;
      // scores are exact for the items returned
      const top = r.indices[0]!;
      expect(r.scores[0]).toBeCloseTo(exact.find((e) => e[0] === top)?.[1] ?? NaN, 4);
    }
    expect(hits / 300).toBeGreaterThanOrEqual(0.95);
    const only = scorer.recommend(row(users, fd, 0), 5, { include: [10, 20, 30] });
    expect(Array.from(only.indices).sort((a, b) => a - b)).toEqual([10, 20, 30]);
  });

  it('lets ALS and PureSVD recommend through the index (same top items as exact scoring, seen items dropped)', async () => {
    // 300 users x 400 items in 8 planted groups; users see 30% of their group's items.
    const r = rng(11);
    const log = new Interactions();
    const seen = new Set<string>();
    for (let u = 0; u < 300; u++)
      for (let i = 0; i < 400; i++)
        if (u % 8 === i % 8 && r() < 0.3) {
          log.add(`u${u}`, `i${i}`);
          seen.add(`u${u},i${i}`);
        }
    const ds = await Dataset.build(log);
    const models = [await new AlsModel({ factors: 16, iterations: 8 }).fit(ds, { threads: 2, seed: 1 }), await new PureSvdModel({ factors: 16 }).fit(ds)];
    for (const model of models) {
      const users = Array.from({ length: 40 }, (_, i) => `u${i * 7}`);
      const exact = users.map((u) => model.recommend(u, { k: 10, exclude: ['i0'] }));
      await model.useAnnIndex({ ef: 200, M: 12 });
      let overlap = 0;
      users.forEach((u, j) => {
        const viaIndex = model.recommend(u, { k: 10, exclude: ['i0'] });
        expect(viaIndex.items.length).toBe(10);
        for (const item of viaIndex.items) {
          expect(seen.has(`${u},${item}`)).toBe(false);
          expect(item).not.toBe('i0');
        }
        overlap += viaIndex.items.filter((x) => exact[j]!.items.includes(x)).length;
        // re-scored exactly: the scores of shared items agree
        const e = exact[j]!;
        viaIndex.items.forEach((x, q) => {
          const at = e.items.indexOf(x);
          if (at >= 0) expect(viaIndex.scores[q]).toBeCloseTo(e.scores[at]!, 4);
        });
      });
      expect(overlap / 400).toBeGreaterThanOrEqual(0.95);
      await model.useAnnIndex(false);
      expect(model.recommend(users[0]!, { k: 10, exclude: ['i0'] }).items).toEqual(exact[0]!.items);
    }
  });

  it('stores vectors as int8 for every metric, converts storage on one graph, and round-trips int8 files', async () => {
    // Recall of int8 storage against the oracle, close to float16's on the same data (one thread: fixed graphs).
    for (const metric of ['l2', 'cosine', 'ip'] as const) {
      const r: Record<string, number> = {};
      for (const storage of ['float16', 'int8'] as const) {
        const index = await HnswIndex.build(data, { dim: d, metric, M: 12, efConstruction: 100, ef: 64, storage, threads: 1 });
        expect(index.info().storage).toBe(storage);
        let sum = 0;
        for (let i = 0; i < 50; i++) sum += recall(oracle(data, d, row(queries, d, i), 10, metric), index.search(row(queries, d, i), 10).ids as number[]);
        r[storage] = sum / 50;
        if (storage === 'int8') expect(index.info().memoryBytes / 3000).toBeLessThan(4 + 4 * 24 + 4 + d + 20);  // a byte per coordinate
      }
      expect(r.int8!, metric).toBeGreaterThanOrEqual(r.float16! - 0.03);
      expect(r.int8!, metric).toBeGreaterThanOrEqual(metric === 'ip' ? 0.75 : 0.9);
    }
    // withStorage: the same graph and ids; a float32 copy answers bit-identically, an int8 copy nearly as well.
    const ids = Array.from({ length: 3000 }, (_, i) => `item-${i}`);
    const full = await HnswIndex.build(data, { dim: d, metric: 'cosine', M: 12, efConstruction: 100, ef: 64, ids, threads: 1 });
    full.remove('item-5');
    const same = await full.withStorage('float32');
    const small = await full.withStorage('int8');
    expect(small.info().storage).toBe('int8');
    expect(small.has('item-5') || same.has('item-5')).toBe(false);
    expect(small.size).toBe(2999);
    let r32 = 0;
    let r8 = 0;
    for (let i = 0; i < 50; i++) {
      const q = row(queries, d, i);
      const a = full.search(q, 10);
      const b = same.search(q, 10);
      expect(b.ids).toEqual(a.ids);
      expect(Array.from(b.distances)).toEqual(Array.from(a.distances));
      const truth = full.searchExact(q, 10).ids;
      r32 += recall(truth as never, a.ids as never);
      r8 += recall(truth as never, small.search(q, 10).ids as never);
    }
    expect(r8 / 50).toBeGreaterThanOrEqual(r32 / 50 - 0.03);
    // int8 through a file (mapped and read) and through bytes (in place and copied): identical answers.
    const path = join(dir, 'int8.hnsw');
    await small.save(path);
    const loaded = [await HnswIndex.load(path), await HnswIndex.load(path, { mmap: false }), await HnswIndex.fromBytes(await small.toBytes()), await HnswIndex.fromBytes(await small.toBytes(), { copy: true })];
    for (const g of loaded) {
      expect(g.info().storage).toBe('int8');
      for (let i = 0; i < 20; i++) {
        const q = row(queries, d, i);
        const a = small.search(q, 10, { ef: 32 });
        const b = g.search(q, 10, { ef: 32 });
        expect(b.ids).toEqual(a.ids);
        expect(Array.from(b.distances)).toEqual(Array.from(a.distances));
      }
    }
    // an int8 index is format version 3 (older readers refuse it as newer); float16/float32 stay version 2
    expect(new DataView((await small.toBytes()).buffer).getUint32(8, true)).toBe(3);
    expect(new DataView((await full.toBytes()).buffer).getUint32(8, true)).toBe(2);
    // the storage is validated strictly
    expect(() => HnswIndex.create(4, { storage: 'int4' as never })).toThrow(/Expected one of 'float32', 'float16', 'int8' for options.storage but received "int4"/);
    expect(() => HnswIndex.create(4, { storage: 'INT8' as never })).toThrow(InvalidArgumentError);
    await expect(full.withStorage('bf16' as never)).rejects.toThrow(/storage/);
    await expect(AnnScorer.build(data, d, { storage: 'int16' as never })).rejects.toThrow(/options.storage/);
  });

  it('rejects invalid input with typed errors naming the argument', async () => {
    expect(() => HnswIndex.create(0)).toThrow(InvalidArgumentError);
    expect(() => HnswIndex.create(4, { metric: 'dot' as never })).toThrow(/options.metric/);
    expect(() => HnswIndex.create(4, { mipsTransform: true })).toThrow(/mipsTransform/);
    expect(() => HnswIndex.create(4, { efConstrution: 5 } as never)).toThrow(/did you mean 'efConstruction'/);
    const index = HnswIndex.create(4);
    await expect(index.add([1], new Float32Array(5))).rejects.toThrow(DimensionMismatchError);
    await expect(index.add([1, 2], new Float32Array(4))).rejects.toThrow(/one id per vector/);
    await expect(index.add([1], [new Float32Array(3)])).rejects.toThrow(DimensionMismatchError);
    await expect(index.add([1], new Float32Array([1, NaN, 0, 0]))).rejects.toThrow(InvalidArgumentError);
    expect(index.search(new Float32Array(4), 3).ids).toEqual([]);  // empty index
    expect(() => index.search(new Float32Array(3), 3)).toThrow(DimensionMismatchError);
    expect(() => index.search([1, 2, 3, 4] as never, 3)).toThrow(/query/);
    expect(() => index.search(new Float32Array(4), -1)).toThrow(/k/);
    expect(() => index.search(new Float32Array(4), 3, { allow: 5 as never })).toThrow(/options.allow/);
    const controller = new AbortController();
    controller.abort();
    await expect(HnswIndex.build(clustered(5000, 8, 5, 3), { dim: 8, signal: controller.signal })).rejects.toThrow(AbortError);
    await expect(HnswIndex.load(join(dir, 'missing.hnsw'))).rejects.toThrow(/cannot open/);
    await expect(HnswIndex.fromBytes(new Float32Array(4) as never)).rejects.toThrow(/a Uint8Array for bytes/);
    await expect(HnswIndex.fromBytes(new Uint8Array(4), { copy: 1 } as never)).rejects.toThrow(/options.copy/);
    await expect(HnswIndex.fromBytes(new Uint8Array(4))).rejects.toThrow(CorruptFileError);
    expect(() => new ExactIndex(4, { metric: 'x' as never })).toThrow(/options.metric/);
  });
});
