/**
 * Random baseline: item scores are a seeded hash of (seed, user, item), so a
 * user's list is reproducible and different users get different lists. The
 * floor every model must beat.
 */
import type { Dataset } from '../data/dataset.js';
import { csrRow } from '../data/dataset.js';
import type { Id } from '../data/idmap.js';
import type { BatchOptions, BatchRecommendations, FitOptions, History, ModelState, Persistable, RecommendOptions, Recommendations, Recommender } from '../recommender.js';
import { InvalidArgumentError } from '../errors.js';
import { integer, knownOptions } from '../validate.js';
import { batchOf, topKByScores } from './baseline.js';
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
  type ResolvedOptions,
  type TrainingData,
} from './common.js';
import { resolveFitOptions } from './fitoptions.js';

export interface RandomOptions {
  /** Seed of the scores (default 0); fit's `seed` overrides it. */
  seed?: number;
}

/** A uniform float in [0, 1) from three integers (murmur3-style finalizer). */
function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(c + 0x165667b1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

export class RandomModel implements Recommender, Persistable {
  readonly name = 'random';
  private seed: number;
  private state: { data: TrainingData } | undefined;

  constructor(options: RandomOptions = {}) {
    knownOptions('options', options, ['seed']);
    this.seed = integer('options.seed', options.seed ?? 0, 0, 2 ** 32 - 1);
  }

  get fitted(): boolean {
    return this.state !== undefined;
  }

  async fit(dataset: Dataset, options?: FitOptions): Promise<this> {
    const fit = resolveFitOptions(options);
    if (options?.seed !== undefined) this.seed = fit.seed >>> 0;
    this.state = { data: trainingDataOf(dataset) };
    return this;
  }

  recommend(user: Id, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const u = userIndexOf(user, s.data.users);
    return this.ranked(u, o.filterSeen ? csrRow(s.data.matrix, u).indices : null, o);
  }

  async recommendMany(users: readonly Id[] | Int32Array, options?: BatchOptions): Promise<BatchRecommendations> {
    const s = this.fittedState();
    const o = resolveBatchOptions(options, s.data.items);
    return batchOf(userIndicesOf(users, s.data.users), o, (u) => this.ranked(u, o.filterSeen ? csrRow(s.data.matrix, u).indices : null, o));
  }

  similarItems(item: Id, k = 10): Recommendations {
    const s = this.fittedState();
    const i = itemIndexOf(item, s.data.items);
    const o = resolveRecommendOptions({ k: integer('k', k, 1, 100_000) }, s.data.items);
    return this.ranked(-1 - i, Int32Array.of(i), o);
  }

  /** A random list for the history (seeded by the history's items). */
  recommendForHistory(history: History, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const h = historyOf(history, s.data.items);
    let key = h.indices.length;
    for (const i of h.indices) key = Math.imul(key ^ i, 0x01000193);
    return this.ranked(key, o.filterSeen ? h.indices : null, o);
  }

  toState(): ModelState {
    const s = this.fittedState();
    const state: ModelState = { kind: 'random', version: 1, config: { seed: this.seed }, arrays: {}, ids: {} };
    saveTrainingData(s.data, state);
    return state;
  }

  static fromState(state: ModelState): RandomModel {
    checkState(state, 'random', 1);
    const seed = (state.config as { seed: number }).seed;
    if (typeof seed !== 'number') throw new InvalidArgumentError("model state of kind 'random' lacks its seed");
    const model = new RandomModel({ seed });
    model.state = { data: loadTrainingData(state) };
    return model;
  }

  private ranked(key: number, seen: Int32Array | null, o: ResolvedOptions): Recommendations {
    const s = this.fittedState();
    const n = s.data.items.size;
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) scores[i] = hash3(this.seed, key, i);
    return topKByScores(scores, seen, o, s.data.items);
  }

  private fittedState(): { data: TrainingData } {
    return assertFitted(this.state, this.name);
  }
}
