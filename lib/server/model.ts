/**
 * The model a running service answers from, swapped atomically on reload,
 * and the live events posted since it was trained (folded into the user's
 * recommendations through the model's recommendForHistory: fold-in for factor
 * models, neighbour sums for kNN).
 */
import { IdMap, type Id } from '../data/idmap.js';
import { readModelFile, type ModelFileInfo } from '../io/modelfile.js';
import { modelFromState, type PersistableRecommender } from '../models/registry.js';
import type { History, ModelState, Recommendations } from '../recommender.js';
import { AnnScorer, HnswIndex, dropDenied, sortCandidates, type AnnStorage } from '../ann.js';
import { CorruptFileError, DimensionMismatchError, InvalidArgumentError, UnsupportedVersionError } from '../errors.js';
import { normalizeRows } from '../models/factor.js';
import { ItemJson } from './json.js';

export interface ServedModel {
  model: PersistableRecommender;
  info: ModelFileInfo;
  path: string;
  loadedAt: Date;
  /** Training users and items, when the model file carries its training data (train.*). */
  users: IdMap | undefined;
  items: IdMap | undefined;
  train: { indptr: BigInt64Array; indices: Int32Array; data: Float32Array } | undefined;
  /** JSON prefixes of the training items, by index (json.ts): answers are written from item indices. */
  itemJson: ItemJson | undefined;
  /** An HNSW index over the item factors (serve --ann), for factor models that expose userVector and itemFactors. */
  ann:
    | {
        scorer: AnnScorer;
        userVector: (user: Id) => Float32Array;
        /** The model's user factors, row r the training user r's vector (checked at load), when it keeps them so: one id lookup per request instead of two. */
        userRows: { rows: Float32Array; dim: number } | undefined;
        foldIn: ((history: History) => Float32Array) | undefined;
        similar: SimilarIndex;
        source: 'stored' | 'built' | 'rebuilt';
      }
    | undefined;
}

/**
 * Vector storage of the serving indexes built by default (buildServingIndexes,
 * `fastrec train --ann`, indexes `serve --ann` builds at start-up). float16:
 * int8 (`storage: 'int8'`, `serve --ann-storage int8`) reached the same recall
 * with 22% fewer bytes and 5-12% cheaper searches in process at 100,000 x 64,
 * but no difference beyond the noise in the service's CPU per request
 * (bench/README.md, "ANN"), so it stays opt-in.
 */
export const SERVING_STORAGE: AnnStorage = 'float16';

/** Names of the index sections `fastrec train --ann` stores in a model file. */
export const USER_INDEX = 'ann.users';
export const SIMILAR_INDEX = 'ann.similar';

/**
 * Items similar to an item by the cosine of their factors (what factor models'
 * similarItems computes exactly), through an HNSW index over the unit-length
 * factors; 2k candidates are re-scored exactly from the unit factors and the
 * best k kept (the index's own ranking of near-equal cosines is only as exact
 * as its stored vectors: with int8 storage, taking just k cost 0.02 recall@10).
 */
export class SimilarIndex {
  /** Candidates re-scored per result (as AnnScorer's default oversample). */
  static readonly OVERSAMPLE = 2;
  private readonly deny = new Int32Array(1);
  constructor(
    readonly index: HnswIndex,
    /** Unit-length item factors, n x dim. */
    readonly unit: Float32Array,
    readonly dim: number,
  ) {}

  /** Over an index built earlier (HnswIndex.fromBytes): cosine metric, ids the item indices 0..n-1. */
  static fromIndex(index: HnswIndex, itemFactors: Float32Array, dim: number): SimilarIndex {
    const n = itemFactors.length / dim;
    if (index.metric !== 'cosine') throw new InvalidArgumentError(`the similar-items index must use metric 'cosine' (it uses '${index.metric}')`);
    if (index.dim !== dim) throw new DimensionMismatchError(`the similar-items index holds vectors of ${index.dim} numbers; the model's factors have ${dim}`);
    const ids = index.idMap.ids();
    if (ids.length !== n) throw new DimensionMismatchError(`the similar-items index holds ${ids.length} items; the model has ${n}`);
    for (let i = 0; i < n; i++) if (ids[i] !== i) throw new InvalidArgumentError(`the similar-items index names item #${i} ${JSON.stringify(ids[i])}; expected the item index ${i}`);
    return new SimilarIndex(index, normalizeRows(itemFactors, dim), dim);
  }

  static async build(itemFactors: Float32Array, dim: number, options: { M?: number; efConstruction?: number; ef?: number; storage?: AnnStorage } = {}): Promise<SimilarIndex> {
    const unit = normalizeRows(itemFactors, dim);
    const index = await HnswIndex.build(unit, { dim, metric: 'cosine', M: options.M ?? 16, efConstruction: options.efConstruction ?? 100, ef: options.ef ?? 64, storage: options.storage ?? SERVING_STORAGE });
    return new SimilarIndex(index, unit, dim);
  }

  /** The k items most similar to item index `item` (never itself), best first. */
  similar(item: number, k: number): { indices: Int32Array; scores: Float32Array } {
    const d = this.dim;
    const q = this.unit.subarray(item * d, (item + 1) * d);
    // The item itself is its own nearest neighbour: fetch one more and drop it (no filter bitmap).
    this.deny[0] = item;
    const fetch = k * SimilarIndex.OVERSAMPLE;
    const cand = dropDenied(this.index.searchLabels(q, fetch + 1, this.index.ef, null, null).labels, this.deny, fetch);
    const m = cand.length;
    const scores = new Float32Array(m);
    const u = this.unit;
    for (let c = 0; c < m; c++) {
      const i = cand[c]!;
      let s = 0;
      for (let j = 0, o = i * d; j < d; j++) s += q[j]! * u[o + j]!;
      scores[c] = s;
    }
    sortCandidates(cand, scores);
    return m > k ? { indices: cand.slice(0, k), scores: scores.slice(0, k) } : { indices: cand, scores };
  }
}

export interface AnnServeOptions {
  M?: number;
  efConstruction?: number;
  /** Search beam width (default 64): recall against cost per request. */
  ef?: number;
  /** Vector storage of indexes built at start-up (default {@link SERVING_STORAGE}; stored indexes keep theirs). */
  storage?: AnnStorage;
  /**
   * Copy the indexes stored in the model file into this process's memory, on
   * huge pages, instead of searching them where the file is mapped (default
   * false: in place, pages shared by every worker, no copy at start-up). The
   * copy costs ~26 MB per 100,000-item index and process; measured in
   * bench/README.md: ~10% less CPU per scored request in one process, no
   * difference beyond the noise with two workers (two copies compete for
   * the shared cache that one mapped copy fills).
   */
  copy?: boolean;
}

interface FactorModel {
  userVector(user: Id): Float32Array;
  userFactors?: unknown;
  foldIn?(history: History): { factors: Float32Array };
  itemFactors: Float32Array;
  itemBias?: Float32Array | null;
}

function isFactorModel(m: unknown): m is FactorModel {
  const f = m as Partial<FactorModel>;
  return typeof f.userVector === 'function' && f.itemFactors instanceof Float32Array;
}

interface IndexBuildOptions {
  M?: number;
  efConstruction?: number;
  ef?: number;
  storage?: AnnStorage;
}

function factorsOf(model: unknown, items: number, what: string): { model: FactorModel; dim: number } {
  if (!isFactorModel(model) || items === 0 || model.itemFactors.length % items !== 0) {
    throw new InvalidArgumentError(`${what} needs a factor model with its training data (e.g. als), not '${(model as { name?: string }).name ?? typeof model}'`);
  }
  return { model, dim: model.itemFactors.length / items };
}

async function buildIndexes(model: FactorModel, dim: number, options: IndexBuildOptions): Promise<{ scorer: AnnScorer; similar: SimilarIndex }> {
  const build = { M: options.M ?? 16, efConstruction: options.efConstruction ?? 100, ef: options.ef ?? 64, storage: options.storage ?? SERVING_STORAGE } as const;
  const scorer = await AnnScorer.build(model.itemFactors, dim, { ...build, ...(model.itemBias ? { itemBias: model.itemBias } : {}) });
  const similar = await SimilarIndex.build(model.itemFactors, dim, build);
  return { scorer, similar };
}

/**
 * The HNSW indexes `serve --ann` uses (user top-k by inner product, similar
 * items by cosine), as sections to store with the model:
 * `saveModel(model, path, { indexes: await buildServingIndexes(model) })`.
 * The service then maps them from the file instead of building them at start-up.
 */
export async function buildServingIndexes(model: PersistableRecommender, options: IndexBuildOptions = {}): Promise<Record<string, Uint8Array>> {
  const items = model.toState().ids['train.items']?.length ?? 0;
  const { model: fm, dim } = factorsOf(model, items, 'buildServingIndexes');
  const { scorer, similar } = await buildIndexes(fm, dim, options);
  return { [USER_INDEX]: await scorer.index.toBytes(), [SIMILAR_INDEX]: await similar.index.toBytes() };
}

/**
 * The stored indexes, checked against the model; a damaged or mismatched one is a CorruptFileError naming the section.
 * 'newer': an index written in a graph format newer than this build reads (the model itself is fine: build the indexes).
 */
async function storedIndexes(path: string, sections: Record<string, Uint8Array>, model: FactorModel, dim: number, copy: boolean): Promise<{ scorer: AnnScorer; similar: SimilarIndex } | 'newer' | undefined> {
  const users = sections[USER_INDEX];
  const sim = sections[SIMILAR_INDEX];
  if (!users || !sim) return undefined;
  const use = async <T>(name: string, fn: () => Promise<T>): Promise<T | 'newer'> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof UnsupportedVersionError) return 'newer';
      throw new CorruptFileError(`${path}: the stored index '${name}' cannot be used (${(err as Error).message}). Re-create the file with \`fastrec train ... --ann\`, or serve it from a copy saved without indexes.`);
    }
  };
  // In place, the graphs are read from the mapped file's pages (shared by every worker); copied,
  // they sit on 2 MiB pages (few TLB misses in a search that reads ~0.5 MB at random).
  const scorer = await use(USER_INDEX, async () => {
    const s = AnnScorer.fromIndex(await HnswIndex.fromBytes(users, { copy }), model.itemFactors, dim, model.itemBias ? { itemBias: model.itemBias } : {});
    await s.ready;
    return s;
  });
  const similar = await use(SIMILAR_INDEX, async () => SimilarIndex.fromIndex(await HnswIndex.fromBytes(sim, { copy }), model.itemFactors, dim));
  return scorer === 'newer' || similar === 'newer' ? 'newer' : { scorer, similar };
}

/** Load a model file (memory-mapped where possible: the arrays are views of the page cache). */
export async function loadServedModel(path: string, ann?: AnnServeOptions | false): Promise<ServedModel> {
  await import('../models/builtin.js');
  const { state, info, indexes } = readModelFile(path);
  const model = modelFromState(state);
  const training = trainingOf(state);
  let index: ServedModel['ann'];
  if (ann) {
    if (!isFactorModel(model) || !training.items) {
      throw new InvalidArgumentError(`--ann needs a factor model with its training data (e.g. als); ${path} holds a '${info.kind}' model`);
    }
    const dim = model.itemFactors.length / training.items.size;
    const stored = await storedIndexes(path, indexes, model, dim, ann.copy ?? false);
    const { scorer, similar } = stored !== undefined && stored !== 'newer' ? stored : await buildIndexes(model, dim, ann);
    if (ann.ef !== undefined) {
      scorer.index.ef = ann.ef;
      similar.index.ef = ann.ef;
    }
    const fold = model.foldIn?.bind(model);
    index = { scorer, userVector: (u) => model.userVector(u), userRows: training.users ? userRowsOf(model, training.users, dim) : undefined, foldIn: fold ? (h) => fold(h).factors : undefined, similar, source: stored === undefined ? 'built' : stored === 'newer' ? 'rebuilt' : 'stored' };
  }
  return { model, info, path, loadedAt: new Date(), ...training, itemJson: training.items ? new ItemJson(training.items) : undefined, ann: index };
}

/**
 * The model's user factor matrix when its row r is exactly what userVector
 * returns for training user r (the vectors are views of it, checked for every
 * user), else undefined and requests ask the model by id.
 */
function userRowsOf(model: FactorModel, users: IdMap, dim: number): { rows: Float32Array; dim: number } | undefined {
  const rows = model.userFactors;
  if (!(rows instanceof Float32Array) || rows.length !== users.size * dim) return undefined;
  const ids = users.ids();
  for (let u = 0; u < ids.length; u++) {
    const v = model.userVector(ids[u]!);
    if (v.buffer !== rows.buffer || v.byteOffset !== rows.byteOffset + u * dim * 4 || v.length !== dim) return undefined;
  }
  return { rows, dim };
}

/**
 * Top-k through the HNSW index, for a known user (`user`) or a history folded
 * in (`history`): seen and excluded items go to the index's deny-list, then
 * the candidates are re-scored exactly. Item indices and scores, best first
 * (the one scoring step of every route that scores through the index).
 */
export function annTopK(served: ServedModel, who: { user: Id; row?: number } | { history: { item: Id; value: number }[] }, k: number, filterSeen: boolean, exclude: Id[] | undefined, include: Id[] | undefined): { indices: Int32Array; scores: Float32Array } {
  const { scorer, userVector, userRows, foldIn } = served.ann!;
  const items = served.items!;
  let seen: ArrayLike<number> | null = null;
  let vector: Float32Array;
  if ('user' in who) {
    // `row`: the user's training index, when the caller looked it up already.
    const u = who.row ?? served.users?.index(who.user);
    vector = userRows && u !== undefined ? userRows.rows.subarray(u * userRows.dim, (u + 1) * userRows.dim) : userVector(who.user);
    if (filterSeen && served.train && u !== undefined) seen = served.train.indices.subarray(Number(served.train.indptr[u]), Number(served.train.indptr[u + 1]));
  } else {
    vector = foldIn!(who.history);
    if (filterSeen) seen = who.history.map((h) => items.index(h.item)).filter((i): i is number => i !== undefined);
  }
  const toIdx = (ids: Id[] | undefined): number[] | null => {
    if (!ids) return null;
    const out: number[] = [];
    for (const id of ids) {
      const i = items.index(id);
      if (i !== undefined) out.push(i);
    }
    return out;
  };
  const inc = toIdx(include);
  if (inc && inc.length === 0) return { indices: new Int32Array(0), scores: new Float32Array(0) };
  return scorer.recommend(vector, k, { seen, exclude: toIdx(exclude), include: inc });
}

/** {@link annTopK} with the items' ids. */
export function annRecommend(served: ServedModel, who: { user: Id } | { history: { item: Id; value: number }[] }, k: number, filterSeen: boolean, exclude: Id[] | undefined, include: Id[] | undefined): Recommendations {
  const r = annTopK(served, who, k, filterSeen, exclude, include);
  return { items: served.items!.idsOf(r.indices), indices: r.indices, scores: r.scores };
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

/** One string per user id, keeping 5 and '5' apart (both may be ids). */
export function userKey(user: Id): string {
  return typeof user === 'number' ? `n:${user}` : `s:${user}`;
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
    return userKey(user);
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
    // Asked on every request: with no live events yet, skip building the key.
    return this.byUser.size === 0 ? undefined : this.byUser.get(this.key(user));
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
