/**
 * Item-to-item neighbour lists from co-occurrence in groups (baskets, or
 * users' histories): for items i and j,
 *   cos(i, j) = c_ij / sqrt(n_i · n_j)
 * with c_ij the number of groups holding both and n_i the groups holding i
 * (cosine of the binary group-incidence columns), plus a shrinkage term
 * c_ij / (c_ij + shrink) that discounts pairs seen in very few groups.
 * Lists are stored as CSR (item -> top-M neighbours, best first).
 */
import { TopList } from './toplist.js';

export interface NeighborLists {
  ptr: Int32Array;
  items: Int32Array;
  scores: Float32Array;
  /** Raw co-occurrence counts c_ij, aligned with items (evidence: "bought together in n baskets"). */
  counts: Int32Array;
}

export interface CoOccurrenceOptions {
  /** Neighbours kept per item (default 50). */
  topM?: number;
  /** Shrinkage constant (default 2). */
  shrink?: number;
  /** Groups larger than this are truncated to their first `maxGroup` items (default 200) to bound the quadratic cost. */
  maxGroup?: number;
  /** Optional rescoring of a pair (e.g. discounting substitutes); return <= 0 to drop it. */
  adjust?: (i: number, j: number, score: number) => number;
}

/** Groups as CSR (group -> item indices, distinct). */
export function coOccurrenceNeighbors(groupPtr: Int32Array, groupItems: Int32Array, numItems: number, options: CoOccurrenceOptions = {}): NeighborLists {
  const topM = options.topM ?? 50;
  const shrink = options.shrink ?? 2;
  const maxGroup = options.maxGroup ?? 200;
  const groups = groupPtr.length - 1;
  // Inverse index item -> groups.
  const count = new Int32Array(numItems);
  for (let g = 0; g < groups; g++) {
    const hi = Math.min(groupPtr[g + 1]!, groupPtr[g]! + maxGroup);
    for (let p = groupPtr[g]!; p < hi; p++) count[groupItems[p]!]!++;
  }
  const itemPtr = new Int32Array(numItems + 1);
  for (let i = 0; i < numItems; i++) itemPtr[i + 1] = itemPtr[i]! + count[i]!;
  const itemGroups = new Int32Array(itemPtr[numItems]!);
  const fill = itemPtr.slice(0, numItems);
  for (let g = 0; g < groups; g++) {
    const hi = Math.min(groupPtr[g + 1]!, groupPtr[g]! + maxGroup);
    for (let p = groupPtr[g]!; p < hi; p++) itemGroups[fill[groupItems[p]!]!++] = g;
  }
  const acc = new Int32Array(numItems);
  const touched: number[] = [];
  const ptr = new Int32Array(numItems + 1);
  const outItems: number[] = [];
  const outScores: number[] = [];
  const outCounts: number[] = [];
  for (let i = 0; i < numItems; i++) {
    for (let q = itemPtr[i]!; q < itemPtr[i + 1]!; q++) {
      const g = itemGroups[q]!;
      const hi = Math.min(groupPtr[g + 1]!, groupPtr[g]! + maxGroup);
      for (let p = groupPtr[g]!; p < hi; p++) {
        const j = groupItems[p]!;
        if (j === i) continue;
        if (acc[j] === 0) touched.push(j);
        acc[j]!++;
      }
    }
    const top = new TopList(topM);
    for (const j of touched) {
      const c = acc[j]!;
      let s = (c / Math.sqrt(count[i]! * count[j]!)) * (c / (c + shrink));
      if (options.adjust) s = options.adjust(i, j, s);
      if (s > 0) top.push(j, s);
    }
    const best = top.sorted();
    for (let r = 0; r < best.indices.length; r++) {
      outItems.push(best.indices[r]!);
      outScores.push(best.scores[r]!);
      outCounts.push(acc[best.indices[r]!]!);
    }
    ptr[i + 1] = outItems.length;
    for (const j of touched) acc[j] = 0;
    touched.length = 0;
  }
  return { ptr, items: Int32Array.from(outItems), scores: Float32Array.from(outScores), counts: Int32Array.from(outCounts) };
}

/** The neighbour list of item i as views. */
export function neighborsOf(n: NeighborLists, i: number): { items: Int32Array; scores: Float32Array; counts: Int32Array } {
  const lo = n.ptr[i]!;
  const hi = n.ptr[i + 1]!;
  return { items: n.items.subarray(lo, hi), scores: n.scores.subarray(lo, hi), counts: n.counts.subarray(lo, hi) };
}

/** Look up c_ij (0 if j is not among i's kept neighbours). */
export function pairCount(n: NeighborLists, i: number, j: number): number {
  for (let p = n.ptr[i]!; p < n.ptr[i + 1]!; p++) if (n.items[p] === j) return n.counts[p]!;
  return 0;
}
