/**
 * Re-ranking for diversity: maximal marginal relevance (Carbonell, Goldstein
 * 1998) with per-category caps and de-duplication, in one greedy pass:
 *   pick argmax_c  λ · rel(c) − (1 − λ) · max_{s ∈ S} sim(c, s)
 * over candidates c not yet picked, skipping c if its category already holds
 * `cap` picks or it duplicates a pick. rel is the blended score min-max
 * scaled to [0, 1] over the pool; sim is the cosine of content vectors (or
 * 1 for the same category, 0 otherwise, without content vectors).
 * λ = 1 is plain relevance order.
 */
export interface DiversityPlan {
  k: number;
  lambda: number;
  /** Category code per item and the most items per category (caps). */
  capCodes?: Int32Array;
  capMax?: number;
  /** Duplicate keys per item (−1: none) and/or a cosine threshold for duplicates. */
  dupKeys?: Int32Array;
  dupSimilarity?: number;
  /** Unit vectors per item (row-major) for similarity. */
  vectors?: Float32Array;
  dim?: number;
  /** Category codes used as similarity when there are no vectors. */
  simCodes?: Int32Array;
  /** MMR looks at the best `window` candidates by relevance first (default max(100, 10k)). */
  window?: number;
}

function sim(plan: DiversityPlan, a: number, b: number): number {
  const v = plan.vectors;
  if (v) {
    const d = plan.dim!;
    let s = 0;
    const oa = a * d;
    const ob = b * d;
    for (let j = 0; j < d; j++) s += v[oa + j]! * v[ob + j]!;
    return s;
  }
  const c = plan.simCodes;
  return c && c[a]! >= 0 && c[a] === c[b] ? 1 : 0;
}

/**
 * Choose up to plan.k candidates. `items[p]` is the item of pool position p,
 * `rel[p]` its score. Returns pool positions in display order.
 */
export function selectDiverse(items: Int32Array, rel: Float64Array, count: number, plan: DiversityPlan): number[] {
  // Candidates with a non-finite score (e.g. pinned elsewhere) are never picked.
  const order = Array.from({ length: count }, (_, p) => p)
    .filter((p) => Number.isFinite(rel[p]!))
    .sort((a, b) => rel[b]! - rel[a]! || items[a]! - items[b]!);
  count = order.length;
  const window = Math.min(count, plan.window ?? Math.max(100, 10 * plan.k));
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of order) {
    lo = Math.min(lo, rel[p]!);
    hi = Math.max(hi, rel[p]!);
  }
  const span = hi > lo ? hi - lo : 1;
  const picked: number[] = [];
  const catCount = new Map<number, number>();
  const usedKeys = new Set<number>();
  const lambda = plan.lambda;
  const diverse = lambda < 1;
  const maxSim = diverse ? new Float64Array(window).fill(-Infinity) : undefined;
  const taken = new Uint8Array(items.length);

  const admissible = (p: number): boolean => {
    const i = items[p]!;
    if (plan.capCodes && plan.capMax !== undefined) {
      const c = plan.capCodes[i]!;
      if (c >= 0 && (catCount.get(c) ?? 0) >= plan.capMax) return false;
    }
    if (plan.dupKeys && plan.dupKeys[i]! >= 0 && usedKeys.has(plan.dupKeys[i]!)) return false;
    if (plan.dupSimilarity !== undefined && plan.vectors) {
      for (const q of picked) if (sim(plan, i, items[q]!) >= plan.dupSimilarity) return false;
    }
    return true;
  };
  const take = (p: number): void => {
    taken[p] = 1;
    picked.push(p);
    const i = items[p]!;
    if (plan.capCodes && plan.capCodes[i]! >= 0) catCount.set(plan.capCodes[i]!, (catCount.get(plan.capCodes[i]!) ?? 0) + 1);
    if (plan.dupKeys && plan.dupKeys[i]! >= 0) usedKeys.add(plan.dupKeys[i]!);
  };

  // Greedy MMR over the window.
  while (picked.length < plan.k) {
    let best = -1;
    let bestScore = -Infinity;
    for (let w = 0; w < window; w++) {
      const p = order[w]!;
      if (taken[p]) continue;
      const r = (rel[p]! - lo) / span;
      const score = diverse ? lambda * r - (1 - lambda) * (picked.length ? maxSim![w]! : 0) : r;
      if (score > bestScore && admissible(p)) {
        bestScore = score;
        best = w;
      }
      if (!diverse && best >= 0) break; // relevance order: the first admissible is the best
    }
    if (best < 0) break;
    const p = order[best]!;
    take(p);
    if (diverse) {
      const i = items[p]!;
      for (let w = 0; w < window; w++) {
        if (taken[order[w]!]) continue;
        const s = sim(plan, items[order[w]!]!, i);
        if (s > maxSim![w]!) maxSim![w] = s;
      }
    }
  }
  // Caps or duplicates exhausted the window: continue in relevance order.
  for (let w = window; w < count && picked.length < plan.k; w++) {
    const p = order[w]!;
    if (!taken[p] && admissible(p)) take(p);
  }
  return picked;
}

/**
 * Intra-list diversity: mean over pairs of 1 − cos(a, b) of unit vectors
 * (0 for fewer than two items).
 */
export function intraListDiversity(items: ArrayLike<number>, vectors: Float32Array, dim: number): number {
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < items.length; a++)
    for (let b = a + 1; b < items.length; b++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += vectors[items[a]! * dim + j]! * vectors[items[b]! * dim + j]!;
      sum += 1 - s;
      pairs++;
    }
  return pairs ? sum / pairs : 0;
}
