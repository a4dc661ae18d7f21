/**
 * The users evaluate() scores and their relevant items: test pairs minus cold
 * items (coldStart 'exclude'), minus training repeats (filterSeen), at or
 * above minRelevance; with the catalog, popularity and counts the metrics need.
 */
import { csrRow } from '../data/dataset.js';
import { Random } from './random.js';
import type { Split } from './split.js';
import type { Context, Resolved } from './types.js';

export function prepare(split: Split, o: Resolved): Context {
  const train = split.train;
  const popularity = train.itemCounts();
  const include = split.info.coldStart === 'include';
  const catalog = new Uint8Array(train.numItems);
  let catalogSize = 0;
  for (let i = 0; i < catalog.length; i++) if (include || popularity[i]! > 0) (catalog[i] = 1), catalogSize++;
  let trainUsers = 0;
  for (const c of train.userCounts()) if (c > 0) trainUsers++;

  let candidates = split.users;
  let skippedUsers = 0;
  if (o.users) {
    const allowed = new Set(split.users);
    const kept = [...new Set(o.users)].filter((u) => allowed.has(u));
    skippedUsers += new Set(o.users).size - kept.length;
    candidates = Int32Array.from(kept);
  } else if (o.sample !== null && o.sample < split.users.length) {
    const pick = new Random(o.seed).shuffle(split.users.slice()).subarray(0, o.sample);
    candidates = pick.sort();
  }

  const users: number[] = [];
  const relStart: number[] = [0];
  const relItems: number[] = [];
  const relGains: number[] = [];
  const counts = { users: 0, usersWithoutRelevant: 0, skippedUsers, relevantPairs: 0, coldItemPairs: 0, seenPairs: 0, belowRelevance: 0 };
  for (const u of candidates) {
    const row = csrRow(split.test.matrix, u);
    const seen = csrRow(train.matrix, u).indices;
    let usable = 0;
    let relevant = 0;
    let s = 0;
    for (let p = 0; p < row.indices.length; p++) {
      const item = row.indices[p]!;
      const value = row.values[p]!;
      if (!catalog[item]) { counts.coldItemPairs++; continue; }
      if (o.filterSeen) {
        while (s < seen.length && seen[s]! < item) s++; // both rows are sorted
        if (s < seen.length && seen[s] === item) { counts.seenPairs++; continue; }
      }
      usable++;
      if (o.minRelevance === null ? value > 0 : value >= o.minRelevance) {
        relItems.push(item);
        relGains.push(value);
        relevant++;
      } else counts.belowRelevance++;
    }
    if (usable === 0) { skippedUsers++; continue; }
    users.push(u);
    relStart.push(relItems.length);
    if (relevant === 0) counts.usersWithoutRelevant++;
    counts.relevantPairs += relevant;
  }
  counts.users = users.length;
  counts.skippedUsers = skippedUsers;
  return {
    split,
    users: Int32Array.from(users),
    relStart: Int32Array.from(relStart),
    relItems: Int32Array.from(relItems),
    relGains: Float64Array.from(relGains),
    catalog,
    catalogSize,
    popularity,
    trainUsers,
    trainMatrix: train.matrix,
    counts,
  };
}
