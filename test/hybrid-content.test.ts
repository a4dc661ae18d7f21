import { describe, expect, it } from 'vitest';
import { FeatureTable, IdMap, InvalidArgumentError } from '../lib/index.js';
import { tokenize, fitTfIdf, tfIdfVector } from '../lib/hybrid/text.js';
import { buildItemFeatures, categoryCodes } from '../lib/hybrid/features.js';
import { randomizedSvd, symmetricEigen, choleskySolve, csrTransposeJs } from '../lib/hybrid/linalg.js';
import { ContentModel } from '../lib/hybrid/content.js';
import type { CsrArrays } from '../lib/binding.js';
import { lcg, plantedFeatures, CATEGORIES, PER_CATEGORY, itemId } from './hybrid-fixtures.js';

function denseToCsr(rows: number[][]): CsrArrays {
  const indptr = new BigInt64Array(rows.length + 1);
  const idx: number[] = [];
  const val: number[] = [];
  rows.forEach((r, i) => {
    r.forEach((v, j) => {
      if (v !== 0) {
        idx.push(j);
        val.push(v);
      }
    });
    indptr[i + 1] = BigInt(idx.length);
  });
  return { rows: rows.length, cols: rows[0]!.length, indptr, indices: Int32Array.from(idx), data: Float32Array.from(val) };
}

function rowOf(m: CsrArrays, r: number): Map<number, number> {
  const out = new Map<number, number>();
  for (let p = Number(m.indptr[r]); p < Number(m.indptr[r + 1]); p++) out.set(m.indices[p]!, m.data[p]!);
  return out;
}

describe('text', () => {
  it('tokenizes to lower-case words without stopwords', () => {
    expect(tokenize('The Whole-Milk 2% and Eggs, 1 DZ')).toEqual(['whole', 'milk', '2', 'eggs', '1', 'dz']);
    expect(tokenize('Crème brûlée')).toEqual(['crème', 'brûlée']);
    expect(tokenize('')).toEqual([]);
  });

  it('computes smoothed sublinear TF-IDF with unit norm', () => {
    const docs = [['milk', 'milk', 'whole'], ['milk', 'skim'], ['eggs']];
    const v = fitTfIdf(docs);
    expect(v.tokens).toEqual(['eggs', 'milk', 'skim', 'whole']);
    // idf = ln((1 + 3) / (1 + df)) + 1
    expect(v.idf[1]).toBeCloseTo(Math.log(4 / 3) + 1, 12);
    expect(v.idf[3]).toBeCloseTo(Math.log(4 / 2) + 1, 12);
    const d = tfIdfVector(docs[0]!, v);
    expect(Array.from(d.indices)).toEqual([1, 3]);
    const milk = (1 + Math.log(2)) * (Math.log(4 / 3) + 1);
    const whole = 1 * (Math.log(2) + 1);
    const norm = Math.hypot(milk, whole);
    expect(d.values[0]).toBeCloseTo(milk / norm, 6);
    expect(d.values[1]).toBeCloseTo(whole / norm, 6);
    expect(fitTfIdf(docs, 2).tokens).toEqual(['milk']);
  });
});

describe('item feature matrix', () => {
  it('encodes categorical, multi, numeric and text columns with balanced group norms', () => {
    const t = new FeatureTable({ brand: 'categorical', tags: 'multi', price: 'numeric', title: 'text' });
    t.set('a', { brand: 'X', tags: 'red|big', price: 1, title: 'red apple' });
    t.set('b', { brand: 'Y', tags: 'red', price: 5, title: 'green apple' });
    t.set('c', { brand: 'X', price: 9, title: 'red pear' });
    const items = IdMap.from(['a', 'b', 'c', 'd']); // d has no features
    const f = buildItemFeatures(t, items, { buckets: 3, minDf: 1, weights: { brand: 2 } });
    expect(f.names).toEqual(['brand=X', 'brand=Y', 'tags=big', 'tags=red', 'price#0', 'price#1', 'price#2', 'title:apple', 'title:green', 'title:pear', 'title:red']);
    expect(f.groups).toEqual(['brand', 'tags', 'price', 'title']);
    expect(Array.from(f.groupOf)).toEqual([0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3]);
    const a = rowOf(f.matrix, 0);
    expect(a.get(0)).toBe(2); // brand weight 2
    expect(a.get(2)).toBeCloseTo(1 / Math.SQRT2, 6); // two tags share norm 1
    expect(a.get(3)).toBeCloseTo(1 / Math.SQRT2, 6);
    expect(a.get(4)).toBe(1); // price 1: lowest of three quantile buckets
    expect(rowOf(f.matrix, 1).get(5)).toBe(1);
    expect(rowOf(f.matrix, 2).get(6)).toBe(1);
    // Text block has unit norm.
    let sq = 0;
    for (const [c, v] of a) if (c >= 7) sq += v * v;
    expect(sq).toBeCloseTo(1, 6);
    expect(rowOf(f.matrix, 3).size).toBe(0);
    const z = buildItemFeatures(t, items, { columns: ['price'], numeric: 'standardize' });
    // mean 5, sd sqrt(32/3): z = -1.2247 -> cell = z / 3
    expect(rowOf(z.matrix, 0).get(0)).toBeCloseTo(-4 / Math.sqrt(32 / 3) / 3, 6);
    const codes = categoryCodes(t, items, 'brand');
    expect(Array.from(codes.codes)).toEqual([0, 1, 0, -1]);
    expect(codes.names).toEqual(['X', 'Y']);
  });

  it('rejects bad options', () => {
    const t = plantedFeatures();
    const items = IdMap.from(t.ids());
    expect(() => buildItemFeatures(t, items, { columns: ['nope'] })).toThrow(/options.columns/);
    expect(() => buildItemFeatures(t, items, { numeric: 'log' as never })).toThrow(InvalidArgumentError);
    expect(() => buildItemFeatures(t, items, { weights: { brand: -1 } })).toThrow(/options.weights.brand/);
    expect(() => buildItemFeatures(t, items, { bucket: 3 } as never)).toThrow(/did you mean 'buckets'/);
  });
});

describe('dense linear algebra', () => {
  it('symmetric eigen-decomposition reconstructs the matrix', () => {
    const rand = lcg(3);
    const l = 7;
    const b = Array.from({ length: l * l }, () => rand() - 0.5);
    const m = new Float64Array(l * l);
    for (let i = 0; i < l; i++) for (let j = 0; j < l; j++) for (let k = 0; k < l; k++) m[i * l + j]! += b[i * l + k]! * b[j * l + k]!;
    const { values, vectors } = symmetricEigen(m, l);
    for (let i = 1; i < l; i++) expect(values[i]!).toBeLessThanOrEqual(values[i - 1]!);
    for (let i = 0; i < l; i++)
      for (let j = 0; j < l; j++) {
        let s = 0;
        for (let k = 0; k < l; k++) s += vectors[i * l + k]! * values[k]! * vectors[j * l + k]!;
        expect(s).toBeCloseTo(m[i * l + j]!, 9);
      }
  });

  it('Cholesky solves a positive definite system', () => {
    const a = Float64Array.of(4, 2, 2, 3);
    const x = choleskySolve(a, 2, Float64Array.of(2, 1, 3, 2), 2);
    // [4 2; 2 3] X = [2 1; 3 2]
    expect(4 * x[0]! + 2 * x[2]!).toBeCloseTo(2, 12);
    expect(2 * x[0]! + 3 * x[2]!).toBeCloseTo(3, 12);
    expect(4 * x[1]! + 2 * x[3]!).toBeCloseTo(1, 12);
    expect(() => choleskySolve(Float64Array.of(1, 2, 2, 1), 2, Float64Array.of(1, 1), 1)).toThrow(InvalidArgumentError);
  });

  it('randomized SVD matches the dense oracle (tall and wide matrices)', () => {
    for (const [n, m] of [[60, 25], [25, 60]] as const) {
      const rand = lcg(n * 100 + m);
      const dense = Array.from({ length: n }, () => Array.from({ length: m }, () => (rand() < 0.3 ? Math.round(rand() * 5) : 0)));
      const a = denseToCsr(dense);
      const ata = new Float64Array(m * m);
      for (const row of dense) for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) ata[i * m + j]! += row[i]! * row[j]!;
      const exact = symmetricEigen(ata, m).values.map((v) => Math.sqrt(Math.max(0, v)));
      const svd = randomizedSvd(a, 6, { powerIterations: 6, seed: 5 });
      expect(svd.k).toBe(6);
      for (let c = 0; c < 6; c++) expect(Math.abs(svd.s[c]! - exact[c]!) / exact[c]!).toBeLessThan(1e-4);
      // Row embeddings are A·V: their column norms are the singular values.
      for (let c = 0; c < 6; c++) {
        let sq = 0;
        for (let r = 0; r < n; r++) sq += svd.rowEmbeddings[r * 6 + c]! ** 2;
        expect(Math.sqrt(sq)).toBeCloseTo(svd.s[c]!, 2);
      }
    }
    const t = csrTransposeJs(denseToCsr([[1, 0, 2], [0, 3, 0]]));
    expect(Array.from(t.indices)).toEqual([0, 1, 0]);
    expect(Array.from(t.data)).toEqual([1, 3, 2]);
  });

  it('randomized SVD of a rank-2 matrix returns rank 2', () => {
    const svd = randomizedSvd(denseToCsr([[1, 0, 0], [1, 0, 0], [0, 2, 0], [0, 2, 0]]), 3);
    expect(svd.k).toBe(2);
    expect(svd.s[0]).toBeCloseTo(Math.sqrt(8), 6);
    expect(svd.s[1]).toBeCloseTo(Math.SQRT2, 6);
  });
});

describe('content model', () => {
  it('puts items of the same category closest together', () => {
    const t = plantedFeatures();
    const items = IdMap.from(t.ids());
    const cm = ContentModel.fit(t, items, { dim: 8, seed: 1, weights: { category: 2 } });
    expect(cm.dim).toBe(8);
    for (const cat of CATEGORIES) {
      const i = items.index(itemId(cat, 0))!;
      const near = cm.similar(i, PER_CATEGORY - 1);
      for (const j of near.indices) expect(String(items.id(j)).split('-')[0]).toBe(cat);
      expect(cm.similarity(i, i)).toBeCloseTo(1, 5);
    }
    // Same seed, same vectors.
    expect(Array.from(ContentModel.fit(t, items, { dim: 8, seed: 1, weights: { category: 2 } }).vectors)).toEqual(Array.from(cm.vectors));
    const back = ContentModel.fromVectors(cm.vectors, 8);
    expect(back.similarity(0, 5)).toBeCloseTo(cm.similarity(0, 5), 6);
    expect(() => ContentModel.fit(t, items, { dim: 0 })).toThrow(/options.dim/);
    expect(() => ContentModel.fromVectors(new Float32Array(5), 2)).toThrow(/vectors/);
  });
});
