/**
 * Most-popular baseline: every user gets the same ranking (minus their seen
 * items and the filters).
 * - mode 'count':    score_i = number of distinct users of i
 * - mode 'sum':      score_i = Σ_u r_ui (training values)
 * - mode 'trending': score_i = Σ_events w_e · 2^(-(t_last - t_e) / halfLife), t_last = the latest
 *                    timestamp of the log (events without a timestamp are left out)
 * With `category` (an item feature column), `recommendInCategory(value)` ranks
 * only the items whose column equals (or, for multi-valued columns, contains) value.
 */
import type { Dataset } from '../data/dataset.js';
import { csrRow } from '../data/dataset.js';
import type { Id } from '../data/idmap.js';
import { InvalidArgumentError } from '../errors.js';
import type { BatchOptions, BatchRecommendations, FitOptions, History, ModelState, Persistable, RecommendOptions, Recommendations, Recommender } from '../recommender.js';
import { integer, knownOptions, number, oneOf, invalid } from '../validate.js';
import { batchOf, orderByScore, topKInOrder } from './baseline.js';
import {
  assertFitted,
  checkState,
  historyOf,
  itemIndexOf,
  loadTrainingData,
  resolveBatchOptions,
  resolveRecommendOptions,
  saveTrainingData,
  trainingDataOf,
  userIndexOf,
  userIndicesOf,
  type TrainingData,
} from './common.js';
import { resolveFitOptions } from './fitoptions.js';

export type PopularMode = 'count' | 'sum' | 'trending';

export interface PopularOptions {
  /** Default 'count'. */
  mode?: PopularMode;
  /** Half-life of an event's weight in days, for mode 'trending' (default 7). */
  halfLifeDays?: number;
  /** An item feature column ('categorical' or 'multi') for recommendInCategory. */
  category?: string;
}

const OPTIONS = ['mode', 'halfLifeDays', 'category'] as const;
const DAY_MS = 86_400_000;

interface Fitted {
  data: TrainingData;
  scores: Float32Array;
  order: Int32Array;
  /** Category value -> its items in popularity order. */
  categories: Map<string, Int32Array>;
}

export class PopularModel implements Recommender, Persistable {
  readonly name = 'popular';
  readonly options: Readonly<{ mode: PopularMode; halfLifeDays: number; category: string | undefined }>;
  private state: Fitted | undefined;

  constructor(options: PopularOptions = {}) {
    knownOptions('options', options, OPTIONS);
    const category = options.category;
    if (category !== undefined && typeof category !== 'string') throw invalid('options.category', 'an item feature column name', category);
    this.options = Object.freeze({
      mode: oneOf('options.mode', options.mode ?? 'count', ['count', 'sum', 'trending'] as const),
      halfLifeDays: number('options.halfLifeDays', options.halfLifeDays ?? 7, Number.MIN_VALUE),
      category,
    });
  }

  get fitted(): boolean {
    return this.state !== undefined;
  }

  async fit(dataset: Dataset, options?: FitOptions): Promise<this> {
    resolveFitOptions(options);
    const scores = this.scoresOf(dataset);
    const order = orderByScore(scores);
    const categories = new Map<string, Int32Array>();
    const col = this.options.category;
    if (col !== undefined) {
      const table = dataset.itemFeatures;
      const kind = table?.schema[col];
      if (!table || (kind !== 'categorical' && kind !== 'multi')) {
        throw new InvalidArgumentError(`options.category: expected a 'categorical' or 'multi' column of the dataset's item features but received "${col}"${table ? ` (columns: ${table.columns.join(', ')})` : ' (the dataset has no item features)'}`);
      }
      const members = new Map<string, number[]>();
      for (const i of order) {
        const v = table.get(dataset.items.id(i))?.[col];
        for (const value of Array.isArray(v) ? v : v === undefined ? [] : [String(v)]) {
          if (!members.has(value)) members.set(value, []);
          members.get(value)!.push(i);
        }
      }
      for (const [value, items] of members) categories.set(value, Int32Array.from(items));
    }
    this.state = { data: trainingDataOf(dataset), scores, order, categories };
    return this;
  }

  recommend(user: Id, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const u = userIndexOf(user, s.data.users);
    return topKInOrder(s.order, s.scores, o.filterSeen ? csrRow(s.data.matrix, u).indices : null, o, s.data.items);
  }

  async recommendMany(users: readonly Id[] | Int32Array, options?: BatchOptions): Promise<BatchRecommendations> {
    const s = this.fittedState();
    const o = resolveBatchOptions(options, s.data.items);
    return batchOf(userIndicesOf(users, s.data.users), o, (u) => topKInOrder(s.order, s.scores, o.filterSeen ? csrRow(s.data.matrix, u).indices : null, o, s.data.items));
  }

  /** Not personalized: the most popular other items. */
  similarItems(item: Id, k = 10): Recommendations {
    const s = this.fittedState();
    const i = itemIndexOf(item, s.data.items);
    const o = resolveRecommendOptions({ k: integer('k', k, 1, 100_000) }, s.data.items);
    return topKInOrder(s.order, s.scores, Int32Array.of(i), o, s.data.items);
  }

  recommendForHistory(history: History, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const h = historyOf(history, s.data.items);
    return topKInOrder(s.order, s.scores, o.filterSeen ? h.indices : null, o, s.data.items);
  }

  /** The most popular items of one category value (no user: nothing is filtered as seen). An unknown value gives no items. */
  recommendInCategory(value: string, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    if (this.options.category === undefined) throw new InvalidArgumentError('recommendInCategory needs the model built with { category: <item feature column> }');
    if (typeof value !== 'string') throw invalid('value', 'a category value (string)', value);
    const o = resolveRecommendOptions(options, s.data.items);
    const items = s.categories.get(value) ?? new Int32Array(0);
    return topKInOrder(items, s.scores, null, o, s.data.items);
  }

  /** Popularity score of every item (index order). */
  get scores(): Float32Array {
    return this.fittedState().scores;
  }

  toState(): ModelState {
    const s = this.fittedState();
    const values = [...s.categories.keys()];
    const indptr = new Int32Array(values.length + 1);
    values.forEach((v, n) => (indptr[n + 1] = indptr[n]! + s.categories.get(v)!.length));
    const members = new Int32Array(indptr[values.length]!);
    values.forEach((v, n) => members.set(s.categories.get(v)!, indptr[n]!));
    const state: ModelState = {
      kind: 'popular',
      version: 1,
      config: { mode: this.options.mode, halfLifeDays: this.options.halfLifeDays, category: this.options.category ?? null },
      arrays: { scores: s.scores, 'category.indptr': indptr, 'category.items': members },
      ids: { 'category.values': values },
    };
    saveTrainingData(s.data, state);
    return state;
  }

  static fromState(state: ModelState): PopularModel {
    checkState(state, 'popular', 1);
    const c = state.config as { mode: PopularMode; halfLifeDays: number; category: string | null };
    const model = new PopularModel({ mode: c.mode, halfLifeDays: c.halfLifeDays, ...(c.category === null ? {} : { category: c.category }) });
    const data = loadTrainingData(state);
    const scores = state.arrays.scores;
    const indptr = state.arrays['category.indptr'];
    const members = state.arrays['category.items'];
    const values = state.ids['category.values'] ?? [];
    if (!(scores instanceof Float32Array) || scores.length !== data.items.size || !(indptr instanceof Int32Array) || !(members instanceof Int32Array) || indptr.length !== values.length + 1) {
      throw new InvalidArgumentError("model state of kind 'popular' has arrays that do not match its id maps");
    }
    const categories = new Map<string, Int32Array>();
    values.forEach((v, n) => categories.set(String(v), members.slice(indptr[n]!, indptr[n + 1]!)));
    model.state = { data, scores, order: orderByScore(scores), categories };
    return model;
  }

  private scoresOf(dataset: Dataset): Float32Array {
    const n = dataset.numItems;
    const scores = new Float32Array(n);
    if (this.options.mode === 'count') {
      const m = dataset.itemMatrix;
      for (let i = 0; i < n; i++) scores[i] = Number(m.indptr[i + 1]! - m.indptr[i]!);
    } else if (this.options.mode === 'sum') {
      for (let i = 0; i < n; i++) scores[i] = csrRow(dataset.itemMatrix, i).values.reduce((a, b) => a + b, 0);
    } else {
      const { items, weights, timestamps } = dataset.log;
      let last = -Infinity;
      for (const t of timestamps) if (Number.isFinite(t) && t > last) last = t;
      if (last === -Infinity) throw new InvalidArgumentError("options.mode: 'trending' needs event timestamps, but the dataset's log has none");
      const halfLife = this.options.halfLifeDays * DAY_MS;
      const acc = new Float64Array(n);
      for (let e = 0; e < items.length; e++) {
        const t = timestamps[e]!;
        if (Number.isFinite(t)) acc[items[e]!]! += weights[e]! * Math.pow(2, -(last - t) / halfLife);
      }
      scores.set(acc);
    }
    return scores;
  }

  private fittedState(): Fitted {
    return assertFitted(this.state, this.name);
  }
}
