import { describe, expect, it } from 'vitest';
import { truncatedSvd, type CsrArrays } from '../lib/index.js';
import { AbortError, InvalidArgumentError } from '../lib/errors.js';

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A random sparse matrix as CSR and as dense rows (for reference products). */
function randomCsr(rows: number, cols: number, density: number, seed: number): { csr: CsrArrays; dense: Float64Array[] } {
  const rand = lcg(seed);
  const dense = Array.from({ length: rows }, () => new Float64Array(cols));
  const indptr = new BigInt64Array(rows + 1);
  const indices: number[] = [];
  const data: number[] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      if (rand() < density) {
        const v = 1 + Math.floor(rand() * 5);
        dense[i]![j] = v;
        indices.push(j);
        data.push(v);
      }
    }
    indptr[i + 1] = BigInt(indices.length);
  }
  return { csr: { rows, cols, indptr, indices: Int32Array.from(indices), data: Float32Array.from(data) }, dense };
}

describe('truncatedSvd', () => {
  it('returns orthonormal factors with A v = s u (full range: exact up to rounding)', async () => {
    const { csr, dense } = randomCsr(60, 25, 0.2, 3);
    const k = 6;
    const r = await truncatedSvd(csr, { k, oversample: 19, powerIterations: 1, threads: 2 });
    expect(r.u.length).toBe(60 * k);
    expect(r.vt.length).toBe(k * 25);
    for (let t = 1; t < k; t++) expect(r.s[t]!).toBeLessThanOrEqual(r.s[t - 1]!);
    for (let t = 0; t < k; t++) {
      for (let i = 0; i < 60; i++) {
        let av = 0;
        for (let j = 0; j < 25; j++) av += dense[i]![j]! * r.vt[t * 25 + j]!;
        expect(Math.abs(av - r.s[t]! * r.u[i * k + t]!)).toBeLessThan(1e-4 * r.s[0]!);
      }
      let vv = 0;
      for (let j = 0; j < 25; j++) vv += r.vt[t * 25 + j]! ** 2;
      expect(vv).toBeCloseTo(1, 4);
    }
    // sum of all squared singular values = squared Frobenius norm when k covers the rank
    const all = await truncatedSvd(csr, { k: 25, oversample: 0, powerIterations: 1 });
    let fro = 0;
    for (const v of csr.data) fro += v * v;
    let ss = 0;
    for (const s of all.s) ss += s * s;
    expect(ss / fro).toBeCloseTo(1, 4);
  });

  it('centers columns without densifying and reports the means', async () => {
    const { csr, dense } = randomCsr(40, 12, 0.3, 5);
    const r = await truncatedSvd(csr, { k: 3, oversample: 9, center: true });
    const mean = new Float64Array(12);
    for (const row of dense) row.forEach((v, j) => (mean[j]! += v / 40));
    for (let j = 0; j < 12; j++) expect(r.mean![j]!).toBeCloseTo(mean[j]!, 5);
    // (A - 1 meanᵀ) v0 = s0 u0
    for (let i = 0; i < 40; i++) {
      let av = 0;
      for (let j = 0; j < 12; j++) av += (dense[i]![j]! - mean[j]!) * r.vt[j]!;
      expect(Math.abs(av - r.s[0]! * r.u[i * 3]!)).toBeLessThan(1e-4 * r.s[0]!);
    }
  });

  it('is deterministic for a seed, reports progress and can be aborted', async () => {
    const { csr } = randomCsr(200, 80, 0.05, 7);
    const fractions: number[] = [];
    const a = await truncatedSvd(csr, { k: 4, seed: 3, threads: 2, onProgress: (f) => fractions.push(f) });
    const b = await truncatedSvd(csr, { k: 4, seed: 3, threads: 2 });
    expect(Array.from(a.s)).toEqual(Array.from(b.s));
    await new Promise((r) => setTimeout(r, 20));
    expect(fractions.length).toBeGreaterThan(0);
    expect(fractions[fractions.length - 1]).toBe(1);
    const ctl = new AbortController();
    ctl.abort();
    await expect(truncatedSvd(csr, { k: 4, signal: ctl.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('rejects invalid input with typed errors', async () => {
    const { csr } = randomCsr(10, 5, 0.5, 1);
    await expect(truncatedSvd(csr, { k: 6 })).rejects.toThrow(/options\.k/);
    await expect(truncatedSvd(csr, { k: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(truncatedSvd(csr, { k: 2, oversample: -1 })).rejects.toThrow(/options\.oversample/);
    await expect(truncatedSvd(csr, { k: 2, powerIterations: 1.5 })).rejects.toThrow(/powerIterations/);
    await expect(truncatedSvd(csr, { k: 2, powerIteration: 2 } as never)).rejects.toThrow(/did you mean 'powerIterations'/);
    await expect(truncatedSvd({ rows: 2 } as never, { k: 1 })).rejects.toThrow(/matrix/);
    await expect(truncatedSvd(csr, undefined as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('PureSVD', () => {
  it('scores r_u V Vᵀ with V the truncated SVD of the training matrix', async () => {
    const { Dataset, Interactions, PureSvdModel } = await import('../lib/index.js');
    const rand = lcg(9);
    const log = new Interactions();
    for (let e = 0; e < 400; e++) log.add(`u${Math.floor(rand() * 30)}`, `i${Math.floor(rand() * 25)}`, 1 + Math.floor(rand() * 3));
    const ds = await Dataset.build(log);
    const model = await new PureSvdModel({ factors: 25, oversample: 0 }).fit(ds); // full rank: V Vᵀ = I
    // With every factor kept, r_u V Vᵀ = r_u: the scores of seen items are the user's own values.
    const u = 3;
    const row = ds.userRow(u);
    const r = model.recommend(ds.users.id(u), { k: 25, filterSeen: false });
    const byItem = new Map(Array.from(r.indices, (i, t) => [i, r.scores[t]!]));
    row.items.forEach((i, n) => expect(byItem.get(i)).toBeCloseTo(row.values[n]!, 3));
    const svd = await truncatedSvd(ds.matrix, { k: 4, seed: 0 });
    const small = await new PureSvdModel({ factors: 4 }).fit(ds, { seed: 0 });
    // Item factors are V (items x 4) = Vtᵀ of the same decomposition.
    for (let f = 0; f < 4; f++) for (let i = 0; i < ds.numItems; i++) expect(small.itemFactors[i * 4 + f]).toBeCloseTo(svd.vt[f * ds.numItems + i]!, 5);
  });

  it('rejects bad options', async () => {
    const { PureSvdModel } = await import('../lib/index.js');
    expect(() => new PureSvdModel({ factors: 0 })).toThrow(/options\.factors/);
    expect(() => new PureSvdModel({ powerIterations: -1 })).toThrow(/options\.powerIterations/);
    expect(() => new PureSvdModel({ factor: 3 } as never)).toThrow(/did you mean 'factors'/);
  });
});
