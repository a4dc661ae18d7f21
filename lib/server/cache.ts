/**
 * A per-user cache of recommendation responses (serve --cache N).
 *
 * Least-recently-used over users; each user keeps the few request variants
 * (k, filters, context) asked for recently. Entries are dropped when the
 * user's events arrive (POST /v1/events, in any worker) and everything is
 * dropped when the model is reloaded, so a hit is exactly what scoring would
 * return at that moment.
 */

/** Request variants kept per user (a user rarely asks with many different filters). */
const VARIANTS_PER_USER = 8;

export class ResultCache<V> {
  private readonly users = new Map<string, Map<string, V>>();
  hits = 0;
  misses = 0;

  constructor(readonly maxUsers: number) {}

  get(user: string, variant: string): V | undefined {
    const variants = this.users.get(user);
    const v = variants?.get(variant);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Re-insert: Map order is the LRU order (oldest first).
    this.users.delete(user);
    this.users.set(user, variants!);
    return v;
  }

  set(user: string, variant: string, value: V): void {
    let variants = this.users.get(user);
    if (variants) this.users.delete(user);
    else variants = new Map();
    this.users.set(user, variants);
    variants.set(variant, value);
    if (variants.size > VARIANTS_PER_USER) variants.delete(variants.keys().next().value!);
    if (this.users.size > this.maxUsers) this.users.delete(this.users.keys().next().value!);
  }

  /** Forget one user's entries (their history changed). */
  invalidate(user: string): void {
    this.users.delete(user);
  }

  /** Forget everything (the model changed). */
  clear(): void {
    this.users.clear();
  }

  /** Users with at least one entry. */
  get size(): number {
    return this.users.size;
  }
}
