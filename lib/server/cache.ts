/**
 * A per-user cache of recommendation responses (serve --cache N), holding the
 * response bytes as sent, keyed by the request's exact URL (path and query).
 *
 * Least-recently-used over users; each user keeps the few URLs (k, filters,
 * context) asked for recently. Entries are dropped when the user's events
 * arrive (POST /v1/events, in any worker) and everything is dropped when the
 * model is reloaded, so a hit is exactly what scoring would return at that
 * moment. Keyed by the exact URL because the answer is a function of it (the
 * route, its validation and its options all come from the URL) and the model:
 * a hit can then be answered before any routing or parsing (see fastpath.ts).
 */

/** URLs kept per user (a user rarely asks with many different filters). */
const VARIANTS_PER_USER = 8;

interface Entry<V> {
  user: string;
  value: V;
}

export class ResultCache<V> {
  /** user key -> that user's cached URLs, oldest first; Map order is the LRU order of users (oldest first). */
  private readonly users = new Map<string, string[]>();
  private readonly entries = new Map<string, Entry<V>>();
  hits = 0;
  misses = 0;

  constructor(readonly maxUsers: number) {}

  /** The value stored for `url`, counting a hit or a miss. */
  get(url: string): V | undefined {
    const v = this.lookup(url);
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }

  /** The value stored for `url` (marked recently used), counting nothing: the caller counts. */
  lookup(url: string): V | undefined {
    const e = this.entries.get(url);
    if (e === undefined) return undefined;
    // Re-insert the user: most recently used last.
    const urls = this.users.get(e.user)!;
    this.users.delete(e.user);
    this.users.set(e.user, urls);
    return e.value;
  }

  /** Store the answer to `url`, which is `user`'s (the key their events invalidate). */
  set(user: string, url: string, value: V): void {
    const old = this.entries.get(url);
    if (old !== undefined && old.user !== user) this.forget(old.user, url);
    let urls = this.users.get(user);
    if (urls) this.users.delete(user);
    else urls = [];
    this.users.set(user, urls);
    if (old === undefined || old.user !== user) urls.push(url);
    this.entries.set(url, { user, value });
    if (urls.length > VARIANTS_PER_USER) this.entries.delete(urls.shift()!);
    if (this.users.size > this.maxUsers) this.invalidate(this.users.keys().next().value!);
  }

  /** Forget one user's entries (their history changed). */
  invalidate(user: string): void {
    const urls = this.users.get(user);
    if (!urls) return;
    for (const url of urls) this.entries.delete(url);
    this.users.delete(user);
  }

  /** Forget everything (the model changed). */
  clear(): void {
    this.users.clear();
    this.entries.clear();
  }

  /** Users with at least one entry. */
  get size(): number {
    return this.users.size;
  }

  /** Cached URLs over all users. */
  get entryCount(): number {
    return this.entries.size;
  }

  private forget(user: string, url: string): void {
    const urls = this.users.get(user);
    if (!urls) return;
    const i = urls.indexOf(url);
    if (i >= 0) urls.splice(i, 1);
    if (urls.length === 0) this.users.delete(user);
  }
}
