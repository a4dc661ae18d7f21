/**
 * User-kNN: each user keeps its top-K most similar users (similarities in
 * ./neighbourhood.ts, between the users' rows of the users x items matrix).
 *   score(u, j) = Σ_{v in N(u)} s(u, v) · r_vj
 * A new user is folded in by computing their neighbours from their history on
 * the fly (same weighting and similarity). `explain` lists the contributing
 * NEIGHBOUR USERS: in its contributions, `item` holds a user id.
 */
import type { CsrArrays } from '../binding.js';
import type { Dataset } from '../data/dataset.js';
import { csrRow } from '../data/dataset.js';
import type { Id } from '../data/idmap.js';
import { callAsync, callSync } from '../native.js';
import type {
  BatchOptions,
  BatchRecommendations,
  Explanation,
  FitOptions,
  History,
  ModelState,
  Persistable,
  RecommendOptions,
  Recommendations,
  Recommender,
} from '../recommender.js';
import { integer, knownOptions } from '../validate.js';
import {
  assertFitted,
  checkState,
  includesNothing,
  historyOf,
  itemIndexOf,
  loadTrainingData,
  resolveBatchOptions,
  resolveRecommendOptions,
  saveTrainingData,
  toRecommendations,
  trainingDataOf,
  userIndexOf,
  userIndicesOf,
  type ResolvedOptions,
  type TrainingData,
} from './common.js';
import { resolveFitOptions } from './fitoptions.js';
import { neighboursFromState, sparseTopKMany } from './itemknn.js';
import {
  KNN_OPTION_KEYS,
  nativeSimilarity,
  neighbourLists,
  resolveKnnOptions,
  rowSqNorms,
  weightedRows,
  weightRow,
  type KnnOptions,
  type WeightingStats,
} from './neighbourhood.js';

export type UserKnnOptions = KnnOptions;

interface Fitted {
  data: TrainingData;
  /** users x users; row u = neighbours of u, best first. */
  neighbours: CsrArrays;
  /** items x users, weighted as compared (fold-in queries). */
  xt: CsrArrays;
  sqNorms: Float64Array;
  stats: WeightingStats | undefined;
  /** items x users, unweighted, and its squared row norms (similarItems). */
  itemMatrix: CsrArrays;
  itemSqNorms: Float64Array;
}

export class UserKnnModel implements Recommender, Persistable {
  readonly name = 'userknn';
  readonly options: Readonly<Required<UserKnnOptions>>;
  private state: Fitted | undefined;

  constructor(options: UserKnnOptions = {}) {
    knownOptions('options', options, KNN_OPTION_KEYS);
    this.options = resolveKnnOptions(options);
  }

  get fitted(): boolean {
    return this.state !== undefined;
  }

  /** The neighbour lists (users x users, each row best first; data = similarity). */
  get neighbours(): CsrArrays {
    return this.fittedState().neighbours;
  }

  async fit(dataset: Dataset, options?: FitOptions): Promise<this> {
    const fit = resolveFitOptions(options);
    const { x, stats } = weightedRows(dataset.matrix, this.options);
    const xt = x === dataset.matrix ? dataset.itemMatrix : await callAsync((n) => n.csrTranspose(x, fit.threads));
    const neighbours = await neighbourLists(x, xt, this.options, fit);
    const itemMatrix = dataset.itemMatrix;
    this.state = { data: trainingDataOf(dataset), neighbours, xt, sqNorms: rowSqNorms(x), stats, itemMatrix, itemSqNorms: rowSqNorms(itemMatrix) };
    return this;
  }

  recommend(user: Id, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const u = userIndexOf(user, s.data.users);
    const nb = csrRow(s.neighbours, u);
    return this.score(nb.indices, nb.values, o.filterSeen ? csrRow(s.data.matrix, u).indices : null, o);
  }

  async recommendMany(users: readonly Id[] | Int32Array, options?: BatchOptions): Promise<BatchRecommendations> {
    const s = this.fittedState();
    const o = resolveBatchOptions(options, s.data.items);
    return sparseTopKMany(s.data.matrix, s.neighbours, userIndicesOf(users, s.data.users), o.filterSeen ? s.data.matrix : null, o);
  }

  /**
   * Items whose user sets are most alike (cosine between the items' columns of
   * the training matrix), excluding the item itself. User-kNN keeps no item
   * lists, so this is one row of the item-item product, computed on demand.
   */
  similarItems(item: Id, k = 10): Recommendations {
    const s = this.fittedState();
    const i = itemIndexOf(item, s.data.items);
    const kk = integer('k', k, 1, 100_000);
    const users = csrRow(s.itemMatrix, i);
    const r = callSync((n) => n.knnQuery(s.data.matrix, s.itemSqNorms, users.indices, users.values, i, kk, 'cosine', 0.5, 0));
    return toRecommendations(s.data.items, r.indices, r.scores);
  }

  recommendForHistory(history: History, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const h = historyOf(history, s.data.items);
    const nb = this.foldIn(h.indices, h.values);
    return this.score(nb.indices, nb.scores, o.filterSeen ? h.indices : null, o);
  }

  /** The neighbour users who contributed s(u, v) · r_vj (user ids in `item`). */
  explain(user: Id, item: Id): Explanation {
    const s = this.fittedState();
    const nb = csrRow(s.neighbours, userIndexOf(user, s.data.users));
    const j = itemIndexOf(item, s.data.items);
    const contributions: { item: Id; weight: number }[] = [];
    let score = 0;
    for (let n = 0; n < nb.indices.length; n++) {
      const v = nb.indices[n]!;
      const row = csrRow(s.data.matrix, v);
      const at = binarySearch(row.indices, j);
      if (at < 0) continue;
      const w = Math.fround(nb.values[n]! * row.values[at]!);
      score += w;
      contributions.push({ item: s.data.users.id(v), weight: w });
    }
    contributions.sort((a, b) => b.weight - a.weight);
    return { item, score, contributions };
  }

  toState(): ModelState {
    const s = this.fittedState();
    const state: ModelState = {
      kind: 'userknn',
      version: 1,
      config: { ...this.options },
      arrays: { 'neighbours.indptr': s.neighbours.indptr, 'neighbours.indices': s.neighbours.indices, 'neighbours.data': s.neighbours.data },
      ids: {},
    };
    saveTrainingData(s.data, state);
    return state;
  }

  static fromState(state: ModelState): UserKnnModel {
    checkState(state, 'userknn', 1);
    const model = new UserKnnModel(state.config as UserKnnOptions);
    const data = loadTrainingData(state);
    const neighbours = neighboursFromState(state, data.users.size);
    // The compared matrix is rebuilt from the training data (deterministic).
    const { x, stats } = weightedRows(data.matrix, model.options);
    const itemMatrix = transposeSync(data.matrix);
    const xt = x === data.matrix ? itemMatrix : transposeSync(x);
    model.state = { data, neighbours, xt, sqNorms: rowSqNorms(x), stats, itemMatrix, itemSqNorms: rowSqNorms(itemMatrix) };
    return model;
  }

  private foldIn(items: Int32Array, values: Float32Array): { indices: Int32Array; scores: Float32Array } {
    const s = this.fittedState();
    const o = this.options;
    const weighted = weightRow(items, values, o, s.stats);
    return callSync((n) => n.knnQuery(s.xt, s.sqNorms, items, weighted, -1, o.neighbours, nativeSimilarity(o.similarity), o.alpha, o.shrink));
  }

  private score(sources: Int32Array, weights: Float32Array, seen: Int32Array | null, o: ResolvedOptions): Recommendations {
    const s = this.fittedState();
    if (includesNothing(o)) return toRecommendations(s.data.items, new Int32Array(0), new Float32Array(0));
    const r = callSync((n) => n.sparseTopK(s.data.matrix, sources, weights, seen, o.exclude, o.include, o.k));
    return toRecommendations(s.data.items, r.indices, r.scores);
  }

  private fittedState(): Fitted {
    return assertFitted(this.state, this.name);
  }
}

function binarySearch(sorted: Int32Array, v: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! === v) return mid;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** CSR transpose in TypeScript (fromState is synchronous; counting sort keeps columns sorted). */
function transposeSync(m: CsrArrays): CsrArrays {
  const counts = new Float64Array(m.cols + 1);
  for (let p = 0; p < m.indices.length; p++) counts[m.indices[p]! + 1]! += 1;
  for (let c = 0; c < m.cols; c++) counts[c + 1]! += counts[c]!;
  const indptr = BigInt64Array.from(counts, (v) => BigInt(v));
  const indices = new Int32Array(m.indices.length);
  const data = new Float32Array(m.indices.length);
  const next = Float64Array.from(counts);
  for (let r = 0; r < m.rows; r++) {
    for (let p = Number(m.indptr[r]); p < Number(m.indptr[r + 1]); p++) {
      const at = next[m.indices[p]!]!++;
      indices[at] = r;
      data[at] = m.data[p]!;
    }
  }
  return { rows: m.cols, cols: m.rows, indptr, indices, data };
}
