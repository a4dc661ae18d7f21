/**
 * The model a running service answers from, swapped atomically on reload,
 * and the live events posted since it was trained (folded into the user's
 * recommendations through the model's recommendForHistory: fold-in for factor
 * models, neighbour sums for kNN).
 */
import { IdMap, type Id } from '../data/idmap.js';
import { readModelFile, type ModelFileInfo } from '../io/modelfile.js';
import { modelFromState, type PersistableRecommender } from '../models/registry.js';
import type { ModelState } from '../recommender.js';

export interface ServedModel {
  model: PersistableRecommender;
  info: ModelFileInfo;
  path: string;
  loadedAt: Date;
  /** Training users and items, when the model file carries its training data (train.*). */
  users: IdMap | undefined;
  items: IdMap | undefined;
  train: { indptr: BigInt64Array; indices: Int32Array; data: Float32Array } | undefined;
}

/** Load a model file (memory-mapped where possible: the arrays are views of the page cache). */
export async function loadServedModel(path: string): Promise<ServedModel> {
  await import('../models/builtin.js');
  const { state, info } = readModelFile(path);
  const model = modelFromState(state);
  return { model, info, path, loadedAt: new Date(), ...trainingOf(state) };
}

function trainingOf(state: ModelState): Pick<ServedModel, 'users' | 'items' | 'train'> {
  const users = state.ids['train.users'];
  const items = state.ids['train.items'];
  const indptr = state.arrays['train.indptr'];
  const indices = state.arrays['train.indices'];
  const data = state.arrays['train.data'];
  if (users && items && indptr instanceof BigInt64Array && indices instanceof Int32Array && data instanceof Float32Array) {
    return { users: IdMap.from(users), items: IdMap.from(items), train: { indptr, indices, data } };
  }
  return { users: undefined, items: undefined, train: undefined };
}

/** Find `raw` (a URL or JSON id) in `map`, also as a number or a string. */
export function lookupId(map: IdMap | undefined, raw: Id): Id | undefined {
  if (!map) return undefined;
  if (map.has(raw)) return raw;
  if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw)) && map.has(Number(raw))) return Number(raw);
  if (typeof raw === 'number' && map.has(String(raw))) return String(raw);
  return undefined;
}

export interface LiveEvent {
  item: Id;
  value: number;
}

/**
 * Events posted since the model was trained, per user, bounded in users
 * (least recently updated dropped first) and in events per user.
 */
export class LiveHistories {
  private readonly byUser = new Map<string, Map<Id, number>>();
  constructor(
    readonly maxUsers = 100_000,
    readonly maxEventsPerUser = 500,
  ) {}

  private key(user: Id): string {
    return `${typeof user}:${user}`;
  }

  add(user: Id, item: Id, value: number): void {
    const k = this.key(user);
    let h = this.byUser.get(k);
    if (h) this.byUser.delete(k); // re-insert: Map order is our LRU order
    else h = new Map();
    this.byUser.set(k, h);
    h.set(item, (h.get(item) ?? 0) + value);
    if (h.size > this.maxEventsPerUser) h.delete(h.keys().next().value!);
    if (this.byUser.size > this.maxUsers) this.byUser.delete(this.byUser.keys().next().value!);
  }

  get(user: Id): Map<Id, number> | undefined {
    return this.byUser.get(this.key(user));
  }

  get users(): number {
    return this.byUser.size;
  }
}

/** A user's training history plus live events, as { item, value } for recommendForHistory. */
export function historyWithEvents(served: ServedModel, user: Id | undefined, live: Map<Id, number>): { item: Id; value: number }[] {
  const merged = new Map<Id, number>();
  if (user !== undefined && served.users && served.items && served.train) {
    const u = served.users.index(user);
    if (u !== undefined) {
      const { indptr, indices, data } = served.train;
      for (let p = Number(indptr[u]); p < Number(indptr[u + 1]); p++) merged.set(served.items.id(indices[p]!), data[p]!);
    }
  }
  for (const [item, v] of live) merged.set(item, (merged.get(item) ?? 0) + v);
  return [...merged].map(([item, value]) => ({ item, value }));
}
