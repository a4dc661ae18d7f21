/**
 * Signals derived once from a dataset's event log, shared by the candidate
 * sources, diversity and explanations: each user's recent items in time
 * order, item popularity (all-time and time-decayed "trending"), when each
 * item was first seen (new arrivals, freshness), and baskets (events of one
 * user close in time) for co-purchase complements.
 */
import type { Dataset, EventLog } from '../data/dataset.js';

export interface SignalOptions {
  /** Recent items kept per user (default 50). */
  recent?: number;
  /** Half-life of the trending score in days (default 7). */
  trendingHalfLifeDays?: number;
  /** Events of one user at most this far apart belong to one basket (default 30 minutes). */
  basketGapMinutes?: number;
}

export interface Signals {
  numItems: number;
  numUsers: number;
  /** "Now" for trending and freshness: the latest timestamp in the log (0 if none). */
  now: number;
  /** CSR users -> recent distinct items, oldest first, most recent last (at most `recent`). */
  recentPtr: Int32Array;
  recentItems: Int32Array;
  /** Distinct users per item. */
  popularity: Float32Array;
  /** Σ over events of 2^(−age/halfLife): popularity that fades (trending). */
  trending: Float32Array;
  /** Events in the last 7 days per item (for "popular this week" evidence). */
  lastWeek: Int32Array;
  /** First time each item was seen (epoch ms; +Infinity when never). */
  firstSeen: Float64Array;
  /** Baskets as CSR: basket -> distinct items. */
  basketPtr: Int32Array;
  basketItems: Int32Array;
}

const DAY = 86_400_000;

/** Log row order sorted by (user, timestamp, row): the order every per-user signal is read in. */
function orderByUserTime(log: EventLog): Int32Array {
  const n = log.users.length;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const t = log.timestamps;
  order.sort((a, b) => log.users[a]! - log.users[b]! || (t[a]! || 0) - (t[b]! || 0) || a - b);
  return order;
}

export function computeSignals(dataset: Dataset, options: SignalOptions = {}): Signals {
  return signalsFromLog(dataset.log, dataset.numUsers, dataset.numItems, options);
}

export function signalsFromLog(log: EventLog, numUsers: number, numItems: number, options: SignalOptions = {}): Signals {
  const keep = options.recent ?? 50;
  const halfLife = (options.trendingHalfLifeDays ?? 7) * DAY;
  const gap = (options.basketGapMinutes ?? 30) * 60_000;
  const n = log.users.length;
  let now = 0;
  for (let i = 0; i < n; i++) if (log.timestamps[i]! > now) now = log.timestamps[i]!;

  const order = orderByUserTime(log);
  const popularity = new Float32Array(numItems);
  const trending = new Float32Array(numItems);
  const lastWeek = new Int32Array(numItems);
  const firstSeen = new Float64Array(numItems).fill(Infinity);
  const recentPtr = new Int32Array(numUsers + 1);
  const recent: number[] = [];
  const basketPtr: number[] = [0];
  const basketItems: number[] = [];

  let p = 0;
  const lastIndex = new Map<number, number>();
  for (let u = 0; u < numUsers; u++) {
    // Distinct items of u by their last event, oldest first.
    lastIndex.clear();
    const start = p;
    while (p < n && log.users[order[p]!] === u) {
      const row = order[p]!;
      lastIndex.delete(log.items[row]!);
      lastIndex.set(log.items[row]!, p);
      p++;
    }
    for (const item of lastIndex.keys()) popularity[item]! += 1;
    const items = [...lastIndex.keys()];
    for (const item of items.slice(Math.max(0, items.length - keep))) recent.push(item);
    recentPtr[u + 1] = recent.length;
    // Baskets: consecutive events of u no more than `gap` apart.
    let basket = new Set<number>();
    let prevT = NaN;
    for (let q = start; q < p; q++) {
      const row = order[q]!;
      const t = log.timestamps[row]!;
      if (basket.size > 0 && !(t - prevT <= gap)) {
        flush(basket);
        basket = new Set();
      }
      basket.add(log.items[row]!);
      prevT = t;
    }
    flush(basket);
  }
  function flush(b: Set<number>): void {
    if (b.size < 2) return; // a one-item basket says nothing about complements
    for (const i of [...b].sort((x, y) => x - y)) basketItems.push(i);
    basketPtr.push(basketItems.length);
  }
  for (let i = 0; i < n; i++) {
    const item = log.items[i]!;
    const t = log.timestamps[i]!;
    if (Number.isNaN(t)) continue;
    trending[item]! += Math.pow(2, -(now - t) / halfLife);
    if (now - t <= 7 * DAY) lastWeek[item]!++;
    if (t < firstSeen[item]!) firstSeen[item] = t;
  }
  return {
    numItems,
    numUsers,
    now,
    recentPtr,
    recentItems: Int32Array.from(recent),
    popularity,
    trending,
    lastWeek,
    firstSeen,
    basketPtr: Int32Array.from(basketPtr),
    basketItems: Int32Array.from(basketItems),
  };
}

/** The recent items of user u (oldest first) as a view. */
export function recentOf(s: Signals, u: number): Int32Array {
  return s.recentItems.subarray(s.recentPtr[u]!, s.recentPtr[u + 1]!);
}
