/**
 * A bounded top-k list (min-heap on score; ties broken by smaller index, as
 * in the native TopK) for the small selections done in TypeScript.
 */
export class TopList {
  private readonly ids: Int32Array;
  private readonly vals: Float64Array;
  private n = 0;

  constructor(readonly k: number) {
    this.ids = new Int32Array(Math.max(0, k));
    this.vals = new Float64Array(Math.max(0, k));
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

  /** Best first. */
  sorted(): { indices: Int32Array; scores: Float32Array } {
    const order = Array.from({ length: this.n }, (_, i) => i).sort((a, b) => this.vals[b]! - this.vals[a]! || this.ids[a]! - this.ids[b]!);
    return { indices: Int32Array.from(order, (i) => this.ids[i]!), scores: Float32Array.from(order, (i) => this.vals[i]!) };
  }
}
