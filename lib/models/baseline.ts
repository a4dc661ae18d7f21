/** Top-k selection with filters in TypeScript, for the non-personalized baselines. */
import type { IdMap } from '../data/idmap.js';
import { AbortError } from '../errors.js';
import type { BatchRecommendations, Recommendations } from '../recommender.js';
import { toRecommendations, type ResolvedBatchOptions, type ResolvedOptions } from './common.js';

function has(sorted: Int32Array | null, v: number): boolean {
  if (!sorted) return false;
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! === v) return true;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Whether item i may be returned: not seen (sorted), not excluded, and included when there is an include list. */
export function allowed(i: number, seen: Int32Array | null, o: ResolvedOptions): boolean {
  return !has(seen, i) && !has(o.exclude, i) && (o.include === null || has(o.include, i));
}

/**
 * Walk items in `order` (best first) and keep the first k allowed ones.
 * `candidates` (sorted) restricts the walk further when given.
 */
export function topKInOrder(order: Int32Array, scores: Float32Array, seen: Int32Array | null, o: ResolvedOptions, items: IdMap): Recommendations {
  const ids: number[] = [];
  for (let p = 0; p < order.length && ids.length < o.k; p++) if (allowed(order[p]!, seen, o)) ids.push(order[p]!);
  const indices = Int32Array.from(ids);
  return toRecommendations(items, indices, Float32Array.from(ids, (i) => scores[i]!));
}

/** Indices sorted by score descending, ties by the smaller index. */
export function orderByScore(scores: Float32Array): Int32Array {
  const order = Int32Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order;
}

/** Pack per-user results into a BatchRecommendations (padded with -1 / -Infinity). */
export function packBatch(results: Recommendations[], o: ResolvedBatchOptions): BatchRecommendations {
  const indices = new Int32Array(results.length * o.k).fill(-1);
  const scores = new Float32Array(results.length * o.k).fill(-Infinity);
  results.forEach((r, row) => {
    indices.set(r.indices, row * o.k);
    scores.set(r.scores, row * o.k);
  });
  return { k: o.k, count: results.length, indices, scores };
}

/** Run a per-user function over a batch, honouring the signal and reporting progress. */
export async function batchOf(rows: Int32Array, o: ResolvedBatchOptions, one: (u: number) => Recommendations): Promise<BatchRecommendations> {
  const out: Recommendations[] = [];
  for (let r = 0; r < rows.length; r++) {
    if (o.signal?.aborted) throw new AbortError();
    out.push(one(rows[r]!));
    if (o.onProgress && (r % 1024 === 1023 || r === rows.length - 1)) o.onProgress((r + 1) / rows.length);
    if (r % 4096 === 4095) await new Promise((resolve) => setImmediate(resolve)); // let the event loop breathe on big batches
  }
  return packBatch(out, o);
}

/**
 * The k best allowed items by score (ties by the smaller index) without
 * sorting the catalog: one pass with a small heap, O(n log k).
 */
export function topKByScores(scores: Float32Array, seen: Int32Array | null, o: ResolvedOptions, items: IdMap): Recommendations {
  const k = o.k;
  const heapS: number[] = []; // min-heap on (score, -index): the root is the worst kept
  const heapI: number[] = [];
  const worse = (a: number, b: number) => heapS[a]! < heapS[b]! || (heapS[a] === heapS[b] && heapI[a]! > heapI[b]!);
  const swap = (a: number, b: number) => {
    [heapS[a], heapS[b]] = [heapS[b]!, heapS[a]!];
    [heapI[a], heapI[b]] = [heapI[b]!, heapI[a]!];
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heapS.length && worse(l, m)) m = l;
      if (r < heapS.length && worse(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  const candidates = o.include ?? null;
  const n = candidates ? candidates.length : scores.length;
  for (let p = 0; p < n; p++) {
    const i = candidates ? candidates[p]! : p;
    const s = scores[i]!;
    if (heapS.length === k && (s < heapS[0]! || (s === heapS[0] && i > heapI[0]!))) continue;
    if (!allowed(i, seen, o)) continue;
    if (heapS.length < k) {
      heapS.push(s);
      heapI.push(i);
      for (let c = heapS.length - 1; c > 0; ) {
        const parent = (c - 1) >> 1;
        if (!worse(c, parent)) break;
        swap(c, parent);
        c = parent;
      }
    } else {
      heapS[0] = s;
      heapI[0] = i;
      down(0);
    }
  }
  const order = heapI.map((i, t) => [heapS[t]!, i] as [number, number]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return toRecommendations(items, Int32Array.from(order, (x) => x[1]), Float32Array.from(order, (x) => x[0]));
}
