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
import { TopList } from './toplist.js';

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
  // The best `window` candidates by relevance (candidates with a non-finite score, e.g. pinned elsewhere, never count).
  const windowSize = Math.min(count, plan.window ?? Math.max(100, 10 * plan.k));
  const top = (scratch.top = TopList.reuse(scratch.top, windowSize));
  let lo = Infinity;
  let hi = -Infinity;
  for (let p = 0; p < count; p++) {
    const r = rel[p]!;
    if (!Number.isFinite(r)) continue;
    if (r < lo) lo = r;
    if (r > hi) hi = r;
    // Ties by smaller item index, as everywhere else: TopList breaks ties by smaller id, so rank by (r, −item) via the position order below.
    top.push(p, r);
  }
  if (scratch.order.length < windowSize) {
    scratch.order = new Int32Array(windowSize * 2);
    scratch.orderScores = new Float64Array(windowSize * 2);
  }
  const window = top.drainInto(scratch.order, scratch.orderScores);
  const order = scratch.order;
  const span = hi > lo ? hi - lo : 1;
  const picked: number[] = [];
  const catCount = new Map<number, number>();
  const usedKeys = new Set<number>();
  const lambda = plan.lambda;
  const diverse = lambda < 1;
  if (diverse) {
    if (scratch.maxSim.length < window) scratch.maxSim = new Float64Array(window * 2);
    scratch.maxSim.fill(-Infinity, 0, window);
  }
  const maxSim = scratch.maxSim;
  if (scratch.taken.length < count) scratch.taken = new Uint8Array(count * 2);
  const taken = scratch.taken;
  taken.fill(0, 0, count);

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

  const unconstrained = !(plan.capCodes && plan.capMax !== undefined) && !plan.dupKeys && plan.dupSimilarity === undefined;
  // Greedy MMR over the window.
  let first = 0; // in relevance order, everything before `first` is taken or inadmissible for good
  while (picked.length < plan.k) {
    let best = -1;
    let bestScore = -Infinity;
    for (let w = diverse ? 0 : first; w < window; w++) {
      const p = order[w]!;
      if (taken[p]) continue;
      const r = (rel[p]! - lo) / span;
      const score = diverse ? lambda * r - (1 - lambda) * (picked.length ? maxSim[w]! : 0) : r;
      if (score > bestScore && (unconstrained || admissible(p))) {
        bestScore = score;
        best = w;
        if (!diverse) break; // relevance order: the first admissible is the best
      }
    }
    if (best < 0) break;
    if (!diverse) first = best + 1;
    const p = order[best]!;
    take(p);
    if (diverse) {
      const i = items[p]!;
      const v = plan.vectors;
      if (v) {
        // Inlined cosine of unit vectors: this loop is the hot part of MMR.
        const d = plan.dim!;
        const oi = i * d;
        for (let w = 0; w < window; w++) {
          const q = order[w]!;
          if (taken[q]) continue;
          const oq = items[q]! * d;
          let s = 0;
          for (let j = 0; j < d; j++) s += v[oq + j]! * v[oi + j]!;
          if (s > maxSim[w]!) maxSim[w] = s;
        }
      } else {
        for (let w = 0; w < window; w++) {
          if (taken[order[w]!]) continue;
          const s = sim(plan, items[order[w]!]!, i);
          if (s > maxSim[w]!) maxSim[w] = s;
        }
      }
    }
  }
  if (picked.length < plan.k && window < count) {
    // Caps or duplicates exhausted the window: continue with the rest in relevance order.
    const rest: number[] = [];
    for (let p = 0; p < count; p++) if (!taken[p] && Number.isFinite(rel[p]!)) rest.push(p);
    rest.sort((a, b) => rel[b]! - rel[a]! || a - b);
    for (const p of rest) {
      if (picked.length >= plan.k) break;
      if (admissible(p)) take(p);
    }
  }
  return picked;
}

/** Reused buffers (selection runs synchronously, one at a time). */
const scratch = {
  top: undefined as TopList | undefined,
  order: new Int32Array(0),
  orderScores: new Float64Array(0),
  maxSim: new Float64Array(0),
  taken: new Uint8Array(0),
};

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
