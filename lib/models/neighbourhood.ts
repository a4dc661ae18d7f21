/**
 * What item-kNN and user-kNN share: similarity options, the weighting of the
 * matrix whose rows are compared, and the native neighbour computation.
 *
 * Similarities (rows x_i, x_j of the compared matrix):
 * - 'cosine':     <x_i, x_j> / (|x_i| |x_j| + shrink)
 * - 'asymmetric': <x_i, x_j> / (|x_i|^(2 alpha) |x_j|^(2 (1 - alpha)) + shrink)   (Aiolli 2013; alpha = 0.5 is cosine)
 * - 'dot':        <x_i, x_j>
 * - 'tfidf':      rows weighted x -> sqrt(x) * ln(N / (1 + df)), then cosine
 * - 'bm25':       rows weighted by Okapi BM25 (k1, b; N and df over the rows), then the dot product
 *                 (as implicit's BM25Recommender)
 * N is the number of rows compared, df the number of rows a column appears in.
 * Only positive similarities are kept; a row is never its own neighbour.
 */
import type { CsrArrays } from '../binding.js';
import { callAsync, cancelFlag } from '../native.js';
import type { FitProgress } from '../recommender.js';
import { integer, number, oneOf } from '../validate.js';
import type { ResolvedFitOptions } from './fitoptions.js';

export type KnnSimilarity = 'cosine' | 'asymmetric' | 'dot' | 'tfidf' | 'bm25';
export const KNN_SIMILARITIES: readonly KnnSimilarity[] = ['cosine', 'asymmetric', 'dot', 'tfidf', 'bm25'];

export interface KnnOptions {
  /** Neighbours kept per row (default 100). */
  neighbours?: number;
  /** Default 'cosine'. */
  similarity?: KnnSimilarity;
  /** Exponent of the asymmetric cosine, in [0, 1] (default 0.5). */
  alpha?: number;
  /** Added to the denominator of cosine similarities: damps pairs with little support (default 0). */
  shrink?: number;
  /** BM25 term saturation (default 100, as implicit). */
  k1?: number;
  /** BM25 length normalization in [0, 1] (default 0.8). */
  b?: number;
}

export const KNN_OPTION_KEYS = ['neighbours', 'similarity', 'alpha', 'shrink', 'k1', 'b'] as const;

export function resolveKnnOptions(o: KnnOptions): Readonly<Required<KnnOptions>> {
  return Object.freeze({
    neighbours: integer('options.neighbours', o.neighbours ?? 100, 1, 100_000),
    similarity: oneOf('options.similarity', o.similarity ?? 'cosine', KNN_SIMILARITIES),
    alpha: number('options.alpha', o.alpha ?? 0.5, 0, 1),
    shrink: number('options.shrink', o.shrink ?? 0, 0),
    k1: number('options.k1', o.k1 ?? 100, 0),
    b: number('options.b', o.b ?? 0.8, 0, 1),
  });
}

/** Per-column statistics of the weighting, kept so that fold-in rows are weighted the same way. */
export interface WeightingStats {
  idf: Float64Array;
  /** Mean stored entries per non-empty row. */
  avgLength: number;
}

export function weightingStats(m: CsrArrays): WeightingStats {
  const df = new Float64Array(m.cols);
  for (let p = 0; p < m.indices.length; p++) df[m.indices[p]!]! += 1;
  const idf = new Float64Array(m.cols);
  for (let c = 0; c < m.cols; c++) idf[c] = Math.max(0, Math.log(m.rows / (1 + df[c]!)));
  let active = 0;
  for (let r = 0; r < m.rows; r++) if (m.indptr[r + 1]! > m.indptr[r]!) active++;
  return { idf, avgLength: m.indices.length / Math.max(1, active) };
}

/** Weight one row's values (indices are columns) for 'tfidf' or 'bm25'; other similarities keep the values. */
export function weightRow(indices: Int32Array, values: Float32Array, o: Required<KnnOptions>, stats: WeightingStats | undefined): Float32Array {
  if (!stats || (o.similarity !== 'tfidf' && o.similarity !== 'bm25')) return values;
  const out = new Float32Array(values.length);
  const norm = o.k1 * (1 - o.b + (o.b * values.length) / stats.avgLength);
  for (let p = 0; p < values.length; p++) {
    const x = values[p]!;
    const idf = stats.idf[indices[p]!]!;
    out[p] = o.similarity === 'tfidf' ? Math.sqrt(Math.max(0, x)) * idf : ((x * (o.k1 + 1)) / (norm + x)) * idf;
  }
  return out;
}

/** The matrix whose rows are compared, weighted as the similarity asks (a copy when weighted). */
export function weightedRows(m: CsrArrays, o: Required<KnnOptions>): { x: CsrArrays; stats: WeightingStats | undefined } {
  if (o.similarity !== 'tfidf' && o.similarity !== 'bm25') return { x: m, stats: undefined };
  const stats = weightingStats(m);
  const data = new Float32Array(m.data.length);
  for (let r = 0; r < m.rows; r++) {
    const lo = Number(m.indptr[r]);
    const hi = Number(m.indptr[r + 1]);
    data.set(weightRow(m.indices.subarray(lo, hi), m.data.subarray(lo, hi), o, stats), lo);
  }
  return { x: { ...m, data }, stats };
}

/** The similarity the native code applies after weighting. */
export function nativeSimilarity(s: KnnSimilarity): 'cosine' | 'asymmetric' | 'dot' {
  return s === 'bm25' || s === 'dot' ? 'dot' : s === 'asymmetric' ? 'asymmetric' : 'cosine';
}

/** Squared L2 norm of each row. */
export function rowSqNorms(m: CsrArrays): Float64Array {
  const out = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let s = 0;
    for (let p = Number(m.indptr[r]); p < Number(m.indptr[r + 1]); p++) s += m.data[p]! * m.data[p]!;
    out[r] = s;
  }
  return out;
}

/**
 * Top neighbours of every row of x (xt its transpose) as a rows x rows
 * CSR-shaped matrix whose rows list neighbours best first (data = similarity).
 */
export async function neighbourLists(x: CsrArrays, xt: CsrArrays, o: Required<KnnOptions>, fit: ResolvedFitOptions): Promise<CsrArrays> {
  const { flag, release } = cancelFlag(fit.signal);
  const t0 = performance.now();
  const report = fit.onProgress;
  const onRows = report
    ? (done: number) => report({ iteration: done, iterations: x.rows, seconds: (performance.now() - t0) / 1000 } satisfies FitProgress)
    : null;
  try {
    const r = await callAsync((n) => n.knnNeighbours(x, xt, o.neighbours, nativeSimilarity(o.similarity), o.alpha, o.shrink, fit.threads, onRows, flag));
    return { rows: x.rows, cols: x.rows, indptr: r.indptr, indices: r.indices, data: r.scores };
  } finally {
    release();
  }
}
