/**
 * Item-kNN: each item keeps its top-K most similar items (similarities in
 * ./neighbourhood.ts, computed between the items' rows of the items x users
 * matrix by a multithreaded sparse product). A user's score for item j is
 *   score(u, j) = Σ_{i in history(u)} r_ui · s(i, j)   over the lists of i that contain j,
 * so `explain` lists exactly those past items i and their r_ui · s(i, j).
 */
import type { CsrArrays } from '../binding.js';
import type { Dataset } from '../data/dataset.js';
import { csrRow } from '../data/dataset.js';
import type { Id } from '../data/idmap.js';
import { InvalidArgumentError } from '../errors.js';
import { callAsync, callSync, cancelFlag } from '../native.js';
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
  emptyBatch,
  includesNothing,
  checkState,
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
  type ResolvedBatchOptions,
  type TrainingData,
} from './common.js';
import { resolveFitOptions } from './fitoptions.js';
import { KNN_OPTION_KEYS, neighbourLists, resolveKnnOptions, weightedRows, type KnnOptions } from './neighbourhood.js';

export type ItemKnnOptions = KnnOptions;

interface Fitted {
  data: TrainingData;
  /** items x items; row i = neighbours of i, best first. */
  neighbours: CsrArrays;
}

export class ItemKnnModel implements Recommender, Persistable {
  readonly name = 'itemknn';
  readonly options: Readonly<Required<ItemKnnOptions>>;
  private state: Fitted | undefined;

  constructor(options: ItemKnnOptions = {}) {
    knownOptions('options', options, KNN_OPTION_KEYS);
    this.options = resolveKnnOptions(options);
  }

  get fitted(): boolean {
    return this.state !== undefined;
  }

  /** The neighbour lists (items x items, each row best first; data = similarity). */
  get neighbours(): CsrArrays {
    return this.fittedState().neighbours;
  }

  async fit(dataset: Dataset, options?: FitOptions): Promise<this> {
    const fit = resolveFitOptions(options);
    const { x } = weightedRows(dataset.itemMatrix, this.options);
    const xt = x === dataset.itemMatrix ? dataset.matrix : await callAsync((n) => n.csrTranspose(x, fit.threads));
    const neighbours = await neighbourLists(x, xt, this.options, fit);
    this.state = { data: trainingDataOf(dataset), neighbours };
    return this;
  }

  recommend(user: Id, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const row = csrRow(s.data.matrix, userIndexOf(user, s.data.users));
    return this.score(row.indices, row.values, o.filterSeen ? row.indices : null, o);
  }

  async recommendMany(users: readonly Id[] | Int32Array, options?: BatchOptions): Promise<BatchRecommendations> {
    const s = this.fittedState();
    const o = resolveBatchOptions(options, s.data.items);
    const rows = userIndicesOf(users, s.data.users);
    return sparseTopKMany(s.neighbours, s.data.matrix, rows, o.filterSeen ? s.data.matrix : null, o);
  }

  similarItems(item: Id, k = 10): Recommendations {
    const s = this.fittedState();
    const i = itemIndexOf(item, s.data.items);
    const count = Math.min(integer('k', k, 1, 100_000), Number(s.neighbours.indptr[i + 1]! - s.neighbours.indptr[i]!));
    const lo = Number(s.neighbours.indptr[i]);
    return toRecommendations(s.data.items, s.neighbours.indices.slice(lo, lo + count), s.neighbours.data.slice(lo, lo + count));
  }

  recommendForHistory(history: History, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const h = historyOf(history, s.data.items);
    return this.score(h.indices, h.values, o.filterSeen ? h.indices : null, o);
  }

  explain(user: Id, item: Id): Explanation {
    const s = this.fittedState();
    const row = csrRow(s.data.matrix, userIndexOf(user, s.data.users));
    const j = itemIndexOf(item, s.data.items);
    const contributions: { item: Id; weight: number }[] = [];
    let score = 0;
    for (let n = 0; n < row.indices.length; n++) {
      const i = row.indices[n]!;
      const nb = csrRow(s.neighbours, i);
      const at = nb.indices.indexOf(j);
      if (at < 0) continue;
      const w = Math.fround(row.values[n]! * nb.values[at]!);
      score += w;
      contributions.push({ item: s.data.items.id(i), weight: w });
    }
    contributions.sort((a, b) => b.weight - a.weight);
    return { item, score, contributions };
  }

  toState(): ModelState {
    const s = this.fittedState();
    const state: ModelState = {
      kind: 'itemknn',
      version: 1,
      config: { ...this.options },
      arrays: { 'neighbours.indptr': s.neighbours.indptr, 'neighbours.indices': s.neighbours.indices, 'neighbours.data': s.neighbours.data },
      ids: {},
    };
    saveTrainingData(s.data, state);
    return state;
  }

  static fromState(state: ModelState): ItemKnnModel {
    checkState(state, 'itemknn', 1);
    const model = new ItemKnnModel(state.config as ItemKnnOptions);
    const data = loadTrainingData(state);
    const neighbours = neighboursFromState(state, data.items.size);
    model.state = { data, neighbours };
    return model;
  }

  private score(sources: Int32Array, weights: Float32Array, seen: Int32Array | null, o: ReturnType<typeof resolveRecommendOptions>): Recommendations {
    const s = this.fittedState();
    if (includesNothing(o)) return toRecommendations(s.data.items, new Int32Array(0), new Float32Array(0));
    const r = callSync((n) => n.sparseTopK(s.neighbours, sources, weights, seen, o.exclude, o.include, o.k));
    return toRecommendations(s.data.items, r.indices, r.scores);
  }

  private fittedState(): Fitted {
    return assertFitted(this.state, this.name);
  }
}

/** Neighbour lists stored in a model state, checked against the number of rows. */
export function neighboursFromState(state: ModelState, rows: number): CsrArrays {
  const indptr = state.arrays['neighbours.indptr'];
  const indices = state.arrays['neighbours.indices'];
  const data = state.arrays['neighbours.data'];
  if (!(indptr instanceof BigInt64Array) || !(indices instanceof Int32Array) || !(data instanceof Float32Array) || indptr.length !== rows + 1 || indices.length !== data.length || Number(indptr[rows]) !== indices.length) {
    throw new InvalidArgumentError(`model state of kind '${state.kind}' has neighbour lists that do not match its id maps`);
  }
  return { rows, cols: rows, indptr, indices, data };
}

/** Batched neighbourhood scoring: row r scores with the sources of row rows[r] of `sources`. */
export async function sparseTopKMany(m: CsrArrays, sources: CsrArrays, rows: Int32Array, seen: CsrArrays | null, o: ResolvedBatchOptions): Promise<BatchRecommendations> {
  if (includesNothing(o)) return emptyBatch(rows.length, o.k);
  const { flag, release } = cancelFlag(o.signal);
  const total = rows.length;
  const onProgress = o.onProgress;
  try {
    const r = await callAsync((n) =>
      n.sparseTopKMany(m, sources, rows, seen, o.exclude, o.include, o.k, o.threads, onProgress && total > 0 ? (done) => onProgress(done / total) : null, flag),
    );
    return { k: o.k, count: rows.length, indices: r.indices, scores: r.scores };
  } finally {
    release();
  }
}
