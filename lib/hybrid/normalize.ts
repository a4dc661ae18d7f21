/**
 * Per-source score normalization, so that scores from different sources
 * (dot products, cosines, counts) can be added. Every method maps a source's
 * candidate list to [0, 1], best = 1; an item the source did not propose gets 0.
 *   rank     1 − r / n       (r = 0-based rank in the list, n = candidates requested)
 *   zscore   (clip(z, −3, 3) + 3) / 6 with z = (s − mean) / sd over the list
 *   minmax   (s − min) / (max − min) over the list (all equal: 1)
 */
export type Normalization = 'rank' | 'zscore' | 'minmax';
export const NORMALIZATIONS: readonly Normalization[] = ['rank', 'zscore', 'minmax'];

/** Statistics of one source's list, to normalize both listed scores and extra scores of other candidates. */
export interface NormStats {
  method: Normalization;
  n: number;
  a: number; // mean or min
  b: number; // sd or (max − min)
}

export function normStats(method: Normalization, scores: Float32Array, count: number, requested: number): NormStats {
  if (method === 'rank') return { method, n: Math.max(requested, count, 1), a: 0, b: 0 };
  if (count === 0) return { method, n: 0, a: 0, b: 0 };
  if (method === 'minmax') {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < count; i++) {
      lo = Math.min(lo, scores[i]!);
      hi = Math.max(hi, scores[i]!);
    }
    return { method, n: count, a: lo, b: hi - lo };
  }
  let mean = 0;
  for (let i = 0; i < count; i++) mean += scores[i]!;
  mean /= count;
  let v = 0;
  for (let i = 0; i < count; i++) v += (scores[i]! - mean) ** 2;
  return { method, n: count, a: mean, b: Math.sqrt(v / count) };
}

/** Normalized value of the item at rank `rank` with raw `score` (rank is ignored except by 'rank'). */
export function normalize(st: NormStats, score: number, rank: number): number {
  switch (st.method) {
    case 'rank':
      return 1 - rank / st.n;
    case 'minmax': {
      if (st.b <= 0) return 1;
      return Math.min(1, Math.max(0, (score - st.a) / st.b));
    }
    default: {
      const z = st.b > 0 ? (score - st.a) / st.b : 0;
      return (Math.min(3, Math.max(-3, z)) + 3) / 6;
    }
  }
}
