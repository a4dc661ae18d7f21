/**
 * Weighting schemes applied to the aggregated user x item matrix.
 *
 * For an entry x = value(u, i), with n_u the number of items of user u,
 * avg the mean of n_u, N the number of users and df_i the number of users of item i:
 * - 'none':       w = x
 * - 'log1p':      w = ln(1 + x)
 * - 'tfidf':      w = sqrt(x) * ln(N / (1 + df_i))           (floored at 0)
 * - 'bm25':       w = x (K1 + 1) / (K1 ((1 - B) + B n_u / avg) + x) * ln(N / (1 + df_i)),
 *                 K1 = 100, B = 0.8 by default (the values implicit uses)
 * - confidence:   w = 1 + alpha * x   (Hu, Koren, Volinsky 2008)
 */
import type { CsrArrays } from '../binding.js';
import { invalid, number } from '../validate.js';

export type Weighting =
  | 'none'
  | 'log1p'
  | 'tfidf'
  | { scheme: 'bm25'; k1?: number; b?: number }
  | 'bm25'
  | { scheme: 'confidence'; alpha: number };

/** Apply a weighting scheme to the values of `m` in place. */
export function applyWeighting(m: CsrArrays, weighting: Weighting): void {
  const scheme = typeof weighting === 'string' ? weighting : weighting?.scheme;
  const data = m.data;
  switch (scheme) {
    case 'none':
      return;
    case 'log1p':
      for (let p = 0; p < data.length; p++) data[p] = Math.log1p(data[p]!);
      return;
    case 'confidence': {
      const alpha = number('weighting.alpha', (weighting as { alpha: number }).alpha, 0);
      for (let p = 0; p < data.length; p++) data[p] = 1 + alpha * data[p]!;
      return;
    }
    case 'tfidf':
    case 'bm25': {
      const opts = typeof weighting === 'object' ? (weighting as { k1?: number; b?: number }) : {};
      const k1 = number('weighting.k1', opts.k1 ?? 100, 0);
      const b = number('weighting.b', opts.b ?? 0.8, 0, 1);
      const df = new Float64Array(m.cols);
      for (let p = 0; p < m.indices.length; p++) df[m.indices[p]!]! += 1;
      const idf = new Float64Array(m.cols);
      for (let i = 0; i < m.cols; i++) idf[i] = Math.max(0, Math.log(m.rows / (1 + df[i]!)));
      let activeRows = 0;
      for (let r = 0; r < m.rows; r++) if (m.indptr[r + 1]! > m.indptr[r]!) activeRows++;
      const avg = data.length / Math.max(1, activeRows);
      for (let r = 0; r < m.rows; r++) {
        const lo = Number(m.indptr[r]);
        const hi = Number(m.indptr[r + 1]);
        const norm = k1 * (1 - b + (b * (hi - lo)) / avg);
        for (let p = lo; p < hi; p++) {
          const x = data[p]!;
          const i = m.indices[p]!;
          data[p] = scheme === 'tfidf' ? Math.sqrt(Math.max(0, x)) * idf[i]! : ((x * (k1 + 1)) / (norm + x)) * idf[i]!;
        }
      }
      return;
    }
    default:
      throw invalid('options.weighting', "'none', 'log1p', 'tfidf', 'bm25' or { scheme: 'confidence', alpha }", weighting);
  }
}
