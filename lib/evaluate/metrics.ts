/**
 * Ranking, rating and beyond-accuracy metrics, one function per metric, on
 * one user's data. evaluate() averages them over users.
 *
 * Notation for one user u: L = the recommended list, best first, as the model
 * ordered it (length n <= k; a model may return fewer than k items);
 * L_r = the item at 0-based rank r; R = the user's relevant test items, |R| > 0;
 * rel(i) = 1 if i is in R else 0 (binary), g(i) = its graded gain (the test
 * value, e.g. a rating; 0 for items not in R).
 *
 * Ties: ranking metrics use the order the model returned. fastrec models break
 * equal scores by the smaller item index, so results are deterministic; no
 * metric here re-sorts a list. AUC is the exception: it reads the scores and
 * counts a tie between a positive and a negative as half a correct pair.
 *
 * Users with fewer than k test items: precision still divides by k (so its
 * maximum is |R|/k < 1); implicitPrecision divides by min(k, |R|) instead.
 * NDCG and MAP normalize by the best achievable value with min(k, |R|)
 * relevant items, so a perfect list scores 1 whatever |R| is.
 *
 * Where common libraries differ:
 * - implicit's precision@k divides by min(k, |R|): here that is
 *   implicitPrecision; `precision` is the textbook hits / k.
 * - implicit's AUC@k is computed from the top-k list only (everything outside
 *   it tied at the bottom); `auc` here ranks the whole catalog, and a list
 *   truncated at k can be fed to auc() for the top-k variant.
 * - Some libraries divide recall@k by min(k, |R|) (then it equals
 *   implicitPrecision); here recall divides by |R|.
 * - MAP@k: the divisor is min(k, |R|) (as in implicit and most recsys code);
 *   others use |R| or the number of hits.
 * - Graded NDCG: linear gains here; some libraries use 2^g − 1.
 *
 * A metric that is undefined for a user (no relevant items; fewer than two
 * recommended items for diversity; an empty list for novelty) returns NaN and
 * evaluate() leaves that user out of that metric's mean.
 */

/** One user's recommended list matched against the relevant items. */
export interface RankedRelevance {
  /** Gain at each rank of the recommended list (0 for an item not in R); its length is the list's length n. */
  gains: Float64Array;
  /** |R|, the number of relevant items. */
  relevant: number;
  /** The gains of all relevant items, sorted from largest to smallest (the ideal ordering for graded NDCG). */
  idealGains: Float64Array;
}

/**
 * Match a recommended list with relevant items (optionally graded). Entries of
 * `recommended` that are negative end the list (padding). An item listed twice
 * counts once (its first rank).
 */
export function matchRelevance(recommended: ArrayLike<number>, relevant: ArrayLike<number>, gains?: ArrayLike<number>): RankedRelevance {
  const gainOf = new Map<number, number>();
  for (let j = 0; j < relevant.length; j++) gainOf.set(relevant[j]!, gains ? gains[j]! : 1);
  let n = 0;
  while (n < recommended.length && recommended[n]! >= 0) n++;
  const out = new Float64Array(n);
  const used = new Set<number>();
  for (let r = 0; r < n; r++) {
    const item = recommended[r]!;
    const g = gainOf.get(item);
    if (g !== undefined && !used.has(item)) {
      out[r] = g;
      used.add(item);
    }
  }
  const ideal = Float64Array.from(gainOf.values()).sort().reverse();
  return { gains: out, relevant: gainOf.size, idealGains: ideal };
}

/** 1 / log2(r + 2): the DCG discount of 0-based rank r. */
export function discount(r: number): number {
  return 1 / Math.log2(r + 2);
}

function hitsAt(m: RankedRelevance, k: number): number {
  const n = Math.min(k, m.gains.length);
  let hits = 0;
  for (let r = 0; r < n; r++) if (m.gains[r]! > 0) hits++;
  return hits;
}

/** precision@k = |L[0..k) ∩ R| / k. Always divides by k, even when the list or R is shorter than k. */
export function precision(m: RankedRelevance, k: number): number {
  if (m.relevant === 0) return NaN;
  return hitsAt(m, k) / k;
}

/**
 * implicitPrecision@k = |L[0..k) ∩ R| / min(k, |R|): precision as the
 * `implicit` library computes it (its "precision@k"), which reaches 1 for a
 * user with fewer than k test items when all of them are in the list.
 */
export function implicitPrecision(m: RankedRelevance, k: number): number {
  if (m.relevant === 0) return NaN;
  return hitsAt(m, k) / Math.min(k, m.relevant);
}

/** recall@k = |L[0..k) ∩ R| / |R|. */
export function recall(m: RankedRelevance, k: number): number {
  if (m.relevant === 0) return NaN;
  return hitsAt(m, k) / m.relevant;
}

/**
 * Binary NDCG@k = DCG / IDCG with DCG = Σ_{r<k, L_r ∈ R} 1/log2(r+2) and
 * IDCG = Σ_{r<min(k,|R|)} 1/log2(r+2) (all relevant items at the top).
 */
export function ndcg(m: RankedRelevance, k: number): number {
  if (m.relevant === 0) return NaN;
  const n = Math.min(k, m.gains.length);
  let dcg = 0;
  for (let r = 0; r < n; r++) if (m.gains[r]! > 0) dcg += discount(r);
  let idcg = 0;
  for (let r = 0; r < Math.min(k, m.relevant); r++) idcg += discount(r);
  return dcg / idcg;
}

/**
 * Graded NDCG@k with linear gains (Järvelin & Kekäläinen 2002):
 * DCG = Σ_{r<k} g(L_r)/log2(r+2), IDCG = the same sum over the relevant items
 * sorted by gain, largest first, truncated at k. NaN when every gain is 0.
 */
export function ndcgGraded(m: RankedRelevance, k: number): number {
  if (m.relevant === 0) return NaN;
  const n = Math.min(k, m.gains.length);
  let dcg = 0;
  for (let r = 0; r < n; r++) dcg += m.gains[r]! * discount(r);
  let idcg = 0;
  for (let r = 0; r < Math.min(k, m.idealGains.length); r++) idcg += m.idealGains[r]! * discount(r);
  return idcg > 0 ? dcg / idcg : NaN;
}

/**
 * Average precision at k: AP@k = (1 / min(k, |R|)) Σ_{r<k, L_r ∈ R} precision@(r+1).
 * MAP@k is its mean over users. (Some libraries divide by |R| instead; with
 * |R| <= k the two agree.)
 */
export function averagePrecision(m: RankedRelevance, k: number): number {
  if (m.relevant === 0) return NaN;
  const n = Math.min(k, m.gains.length);
  let hits = 0;
  let sum = 0;
  for (let r = 0; r < n; r++) {
    if (m.gains[r]! > 0) {
      hits++;
      sum += hits / (r + 1);
    }
  }
  return sum / Math.min(k, m.relevant);
}

/** Reciprocal rank at k: 1/(r+1) for the first rank r < k holding a relevant item, 0 when none does. MRR is its mean. */
export function reciprocalRank(m: RankedRelevance, k: number): number {
  if (m.relevant === 0) return NaN;
  const n = Math.min(k, m.gains.length);
  for (let r = 0; r < n; r++) if (m.gains[r]! > 0) return 1 / (r + 1);
  return 0;
}

/** Hit rate at k: 1 if any of the top k is relevant, else 0. */
export function hitRate(m: RankedRelevance, k: number): number {
  if (m.relevant === 0) return NaN;
  return hitsAt(m, k) > 0 ? 1 : 0;
}

/**
 * ROC AUC of one user's ranking over a candidate set of P positives and N
 * negatives: AUC = (1/(P·N)) Σ_{p,n} ([s_p > s_n] + ½[s_p = s_n]).
 * `scores` are the scores of the listed candidates, best first, and
 * `positive[r]` is 1 where the r-th listed candidate is a positive. Candidates
 * the model did not list rank below every listed one and tie with each other
 * (an unlisted positive earns ½ per unlisted negative). NaN when P or N is 0.
 */
export function auc(scores: ArrayLike<number>, positive: ArrayLike<number>, n: number, nPositives: number, nNegatives: number): number {
  if (nPositives === 0 || nNegatives === 0) return NaN;
  let negAbove = 0; // negatives listed with a strictly higher score
  let listedPos = 0;
  let correct = 0;
  for (let r = 0; r < n; ) {
    let end = r;
    let pos = 0;
    let neg = 0;
    // A group of equal scores.
    while (end < n && scores[end] === scores[r]) {
      if (positive[end]) pos++;
      else neg++;
      end++;
    }
    correct += pos * (nNegatives - negAbove - neg) + 0.5 * pos * neg;
    negAbove += neg;
    listedPos += pos;
    r = end;
  }
  const unlistedPos = nPositives - listedPos;
  const unlistedNeg = nNegatives - negAbove;
  correct += 0.5 * unlistedPos * unlistedNeg;
  return correct / (nPositives * nNegatives);
}

/**
 * AUC over explicit score pairs (sampled AUC): the fraction of (positive,
 * negative) pairs where the positive scores higher, ties counting ½.
 */
export function pairwiseAuc(positiveScores: ArrayLike<number>, negativeScores: ArrayLike<number>): number {
  if (positiveScores.length === 0 || negativeScores.length === 0) return NaN;
  let correct = 0;
  for (let p = 0; p < positiveScores.length; p++) {
    const sp = positiveScores[p]!;
    for (let q = 0; q < negativeScores.length; q++) {
      const sn = negativeScores[q]!;
      correct += sp > sn ? 1 : sp === sn ? 0.5 : 0;
    }
  }
  return correct / (positiveScores.length * negativeScores.length);
}

/**
 * Catalog coverage at k: |∪_u L_u[0..k)| / |catalog|, over all evaluated
 * users (a single number, not a per-user mean). `lists` holds k slots per
 * user (negative = empty slot).
 */
export function catalogCoverage(lists: Int32Array, stride: number, k: number, catalogSize: number): number {
  const seen = new Set<number>();
  for (let row = 0; row < lists.length; row += stride) {
    for (let r = 0; r < Math.min(k, stride); r++) {
      const i = lists[row + r]!;
      if (i >= 0) seen.add(i);
    }
  }
  return catalogSize > 0 ? seen.size / catalogSize : NaN;
}

/**
 * Intra-list diversity: the mean distance over the unordered pairs of the
 * list, ILD = (2 / (n(n−1))) Σ_{a<b} d(L_a, L_b). NaN for fewer than 2 items.
 */
export function intraListDiversity(items: ArrayLike<number>, n: number, distance: (a: number, b: number) => number): number {
  if (n < 2) return NaN;
  let sum = 0;
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) sum += distance(items[a]!, items[b]!);
  return (2 * sum) / (n * (n - 1));
}

/** Cosine distance between item embeddings: d = 1 − cos(x_a, x_b); a zero vector is at distance 1 from everything. */
export function cosineDistance(vectors: Float32Array, dim: number): (a: number, b: number) => number {
  const norms = new Float64Array(vectors.length / dim);
  for (let i = 0; i < norms.length; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += vectors[i * dim + d]! ** 2;
    norms[i] = Math.sqrt(s);
  }
  return (a, b) => {
    const na = norms[a]!, nb = norms[b]!;
    if (na === 0 || nb === 0) return 1;
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += vectors[a * dim + d]! * vectors[b * dim + d]!;
    return 1 - dot / (na * nb);
  };
}

/**
 * Jaccard distance between items' feature tokens: d = 1 − |A ∩ B| / |A ∪ B|,
 * where a token is "column=value" for categorical columns and for each value
 * of a multi-valued column (numeric and text columns are ignored). Two items
 * with no tokens at all are at distance 0 (nothing tells them apart).
 * `tokens[i]` must be sorted.
 */
export function jaccardDistance(tokens: readonly Int32Array[]): (a: number, b: number) => number {
  return (a, b) => {
    const x = tokens[a] ?? EMPTY, y = tokens[b] ?? EMPTY;
    if (x.length === 0 && y.length === 0) return 0;
    let i = 0, j = 0, common = 0;
    while (i < x.length && j < y.length) {
      if (x[i]! === y[j]!) { common++; i++; j++; }
      else if (x[i]! < y[j]!) i++;
      else j++;
    }
    return 1 - common / (x.length + y.length - common);
  };
}
const EMPTY = new Int32Array(0);

/**
 * Novelty: the mean self-information of the listed items,
 * (1/n) Σ_r −log2(p(L_r)), where p(i) = max(pop(i), 1) / |U| is the share of
 * training users who interacted with i (|U| = users with any training
 * interaction; an item nobody trained on counts as one user's). NaN for an empty list.
 */
export function novelty(items: ArrayLike<number>, n: number, popularity: ArrayLike<number>, trainUsers: number): number {
  if (n === 0) return NaN;
  let s = 0;
  for (let r = 0; r < n; r++) s -= Math.log2(Math.max(popularity[items[r]!]!, 1) / trainUsers);
  return s / n;
}

/**
 * Popularity bias as average recommendation popularity (ARP, Abdollahpouri
 * et al. 2019), normalized: (1/n) Σ_r pop(L_r) / |U|, the mean share of
 * training users who interacted with the recommended items. NaN for an empty list.
 */
export function averagePopularity(items: ArrayLike<number>, n: number, popularity: ArrayLike<number>, trainUsers: number): number {
  if (n === 0) return NaN;
  let s = 0;
  for (let r = 0; r < n; r++) s += popularity[items[r]!]!;
  return s / n / trainUsers;
}

/** Root mean squared error over rating pairs: sqrt((1/n) Σ (ŷ − y)²). */
export function rmse(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < actual.length; j++) s += (predicted[j]! - actual[j]!) ** 2;
  return actual.length ? Math.sqrt(s / actual.length) : NaN;
}

/** Mean absolute error over rating pairs: (1/n) Σ |ŷ − y|. */
export function mae(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < actual.length; j++) s += Math.abs(predicted[j]! - actual[j]!);
  return actual.length ? s / actual.length : NaN;
}
