/**
 * A bounded top-k list (min-heap on score; ties broken by smaller index, as
 * in the native TopK) for the small selections done in TypeScript.
 */
export class TopList {
  private readonly ids: Int32Array;
  private readonly vals: Float64Array;
  private n = 0;

  constructor(public k: number) {
    this.ids = new Int32Array(Math.max(0, k));
    this.vals = new Float64Array(Math.max(0, k));
  }

  /** Most entries this list can hold (k may be lowered or raised up to it). */
  get capacity(): number {
    return this.ids.length;
  }

  /** A list for k entries, reusing `prev` when it is big enough. */
  static reuse(prev: TopList | undefined, k: number): TopList {
    if (prev && prev.capacity >= k) {
      prev.k = k;
      return prev.clear();
    }
    return new TopList(k);
  }

  get size(): number {
    return this.n;
  }

  /** True if (a, sa) ranks below (b, sb): lower score, or equal score and larger index. */
  private static worse(sa: number, a: number, sb: number, b: number): boolean {
    return sa < sb || (sa === sb && a > b);
  }

  /** The score an item must beat to enter (−Infinity while not full). */
  get threshold(): number {
    return this.n < this.k ? -Infinity : this.vals[0]!;
  }

  push(id: number, score: number): void {
    if (this.k === 0 || Number.isNaN(score)) return;
    const ids = this.ids;
    const vals = this.vals;
    if (this.n < this.k) {
      let i = this.n++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!TopList.worse(score, id, vals[p]!, ids[p]!)) break;
        ids[i] = ids[p]!;
        vals[i] = vals[p]!;
        i = p;
      }
      ids[i] = id;
      vals[i] = score;
      return;
    }
    if (!TopList.worse(vals[0]!, ids[0]!, score, id)) return;
    let i = 0;
    const n = this.n;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && TopList.worse(vals[r]!, ids[r]!, vals[l]!, ids[l]!) ? r : l;
      if (!TopList.worse(vals[c]!, ids[c]!, score, id)) break;
      ids[i] = ids[c]!;
      vals[i] = vals[c]!;
      i = c;
    }
    ids[i] = id;
    vals[i] = score;
  }

  /** Empty the list, keeping its buffers (k may shrink to at most the capacity given at construction). */
  clear(): this {
    this.n = 0;
    return this;
  }

  /**
   * Move the entries into `ids`/`scores` (best first) and empty the list;
   * returns the count. Heap-sort extraction: no allocation, no comparator closures.
   */
  drainInto(ids: Int32Array, scores: Float32Array | Float64Array, offset = 0): number {
    const count = this.n;
    const hi = this.ids;
    const hv = this.vals;
    for (let out = count - 1; out >= 0; out--) {
      // The root is the worst entry left: it goes to the back.
      ids[offset + out] = hi[0]!;
      scores[offset + out] = hv[0]!;
      const n = --this.n;
      const id = hi[n]!;
      const v = hv[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && TopList.worse(hv[r]!, hi[r]!, hv[l]!, hi[l]!) ? r : l;
        if (!TopList.worse(hv[c]!, hi[c]!, v, id)) break;
        hi[i] = hi[c]!;
        hv[i] = hv[c]!;
        i = c;
      }
      hi[i] = id;
      hv[i] = v;
    }
    return count;
  }

  /** Best first (allocates; drainInto avoids that). */
  sorted(): { indices: Int32Array; scores: Float32Array } {
    const indices = new Int32Array(this.n);
    const scores = new Float32Array(this.n);
    this.drainInto(indices, scores);
    return { indices, scores };
  }
}
