/**
 * PureSVD (Cremonesi, Koren & Turrin 2010): a truncated SVD R ≈ U Σ Vᵀ of the
 * users x items training matrix; a user's scores are r_u V Vᵀ, i.e. the user
 * vector p_u = r_u V (= (U Σ)_u for a training user) against the item factors
 * V. A new user is folded in the same way from their history: p = h V.
 */
import { annRecommend, buildModelAnnScorer, type AnnScorer, type AnnScorerOptions } from '../ann.js';
import type { Dataset } from '../data/dataset.js';
import { csrRow } from '../data/dataset.js';
import type { Id } from '../data/idmap.js';
import { InvalidArgumentError } from '../errors.js';
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
import { truncatedSvd } from '../svd.js';
import { integer, knownOptions } from '../validate.js';
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
import { FactorScorer } from './factor.js';
import { resolveFitOptions } from './fitoptions.js';

export interface PureSvdOptions {
  /** Number of singular vectors kept (default 50; capped at min(users, items)). */
  factors?: number;
  /** Oversampling of the randomized SVD (default 10). */
  oversample?: number;
  /** Power iterations of the randomized SVD (default 4). */
  powerIterations?: number;
}

const OPTIONS = ['factors', 'oversample', 'powerIterations'] as const;

interface Fitted {
  data: TrainingData;
  factors: number;
  /** users x factors: R V. */
  userFactors: Float32Array;
  /** items x factors: V. */
  itemFactors: Float32Array;
  scorer: FactorScorer;
}

export class PureSvdModel implements Recommender, Persistable {
  readonly name = 'puresvd';
  readonly options: Readonly<Required<PureSvdOptions>>;
  private state: Fitted | undefined;
  // ---- ann: optional HNSW candidate generation (lib/ann.ts) ----
  private ann: AnnScorer | undefined;

  constructor(options: PureSvdOptions = {}) {
    knownOptions('options', options, OPTIONS);
    this.options = Object.freeze({
      factors: integer('options.factors', options.factors ?? 50, 1, 10_000),
      oversample: integer('options.oversample', options.oversample ?? 10, 0, 10_000),
      powerIterations: integer('options.powerIterations', options.powerIterations ?? 4, 0, 1000),
    });
  }

  get fitted(): boolean {
    return this.state !== undefined;
  }

  /** Item factors V (items x factors, row-major), e.g. for an ANN index. */
  get itemFactors(): Float32Array {
    return this.fittedState().itemFactors;
  }

  async fit(dataset: Dataset, options?: FitOptions): Promise<this> {
    const fit = resolveFitOptions(options);
    const m = dataset.matrix;
    if (m.rows < 1 || m.cols < 1) throw new InvalidArgumentError(`PureSVD needs at least one user and one item; the dataset has ${m.rows} x ${m.cols}`);
    const factors = Math.min(this.options.factors, m.rows, m.cols);
    const t0 = performance.now();
    const r = await truncatedSvd(m, {
      k: factors,
      oversample: this.options.oversample,
      powerIterations: this.options.powerIterations,
      seed: fit.seed,
      threads: fit.threads,
      signal: fit.signal,
      onProgress: fit.onProgress
        ? (f) => fit.onProgress!({ iteration: Math.round(f * 100), iterations: 100, seconds: (performance.now() - t0) / 1000 })
        : undefined,
    });
    const itemFactors = new Float32Array(m.cols * factors);
    for (let f = 0; f < factors; f++) for (let i = 0; i < m.cols; i++) itemFactors[i * factors + f] = r.vt[f * m.cols + i]!;
    // p_u = r_u V exactly (U Σ equals it only up to the randomized range error),
    // so that recommend, fold-in and explain agree.
    const userFactors = new Float32Array(m.rows * factors);
    const acc = new Float64Array(factors);
    for (let u = 0; u < m.rows; u++) {
      acc.fill(0);
      for (let p = Number(m.indptr[u]); p < Number(m.indptr[u + 1]); p++) {
        const w = m.data[p]!;
        const base = m.indices[p]! * factors;
        for (let f = 0; f < factors; f++) acc[f]! += w * itemFactors[base + f]!;
      }
      userFactors.set(acc, u * factors);
    }
    this.state = this.build(trainingDataOf(dataset), factors, userFactors, itemFactors);
    return this;
  }

  recommend(user: Id, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const u = userIndexOf(user, s.data.users);
    const userVector = s.userFactors.subarray(u * s.factors, (u + 1) * s.factors);
    if (this.ann?.itemFactors === s.itemFactors) return annRecommend(this.ann, s.data.items, userVector, s.scorer.seenOf(u), o);
    return s.scorer.recommend(userVector, s.scorer.seenOf(u), o);
  }

  /**
   * Route `recommend` through an HNSW index over the item factors
   * (approximate, candidates re-scored exactly); `false` returns to exact
   * scoring. A refit falls back to exact scoring until this is called again.
   */
  async useAnnIndex(options: AnnScorerOptions | false = {}): Promise<void> {
    if (options === false) {
      this.ann = undefined;
      return;
    }
    const s = this.fittedState();
    this.ann = await buildModelAnnScorer(s.itemFactors, s.factors, null, options);
  }

  async recommendMany(users: readonly Id[] | Int32Array, options?: BatchOptions): Promise<BatchRecommendations> {
    const s = this.fittedState();
    const o = resolveBatchOptions(options, s.data.items);
    return s.scorer.recommendMany(s.userFactors, userIndicesOf(users, s.data.users), o);
  }

  similarItems(item: Id, k = 10): Recommendations {
    const s = this.fittedState();
    return s.scorer.similarItems(itemIndexOf(item, s.data.items), integer('k', k, 1, 100_000));
  }

  /** Fold-in: p = h V for the history h, then scores p Vᵀ. */
  recommendForHistory(history: History, options?: RecommendOptions): Recommendations {
    const s = this.fittedState();
    const o = resolveRecommendOptions(options, s.data.items);
    const h = historyOf(history, s.data.items);
    const p = new Float64Array(s.factors);
    for (let n = 0; n < h.indices.length; n++) {
      const base = h.indices[n]! * s.factors;
      for (let f = 0; f < s.factors; f++) p[f]! += h.values[n]! * s.itemFactors[base + f]!;
    }
    return s.scorer.recommend(Float32Array.from(p), h.indices, o);
  }

  /** score(u, j) = Σ_i r_ui <v_i, v_j>: each past item i contributes r_ui <v_i, v_j>. */
  explain(user: Id, item: Id): Explanation {
    const s = this.fittedState();
    const u = userIndexOf(user, s.data.users);
    const j = itemIndexOf(item, s.data.items);
    const row = csrRow(s.data.matrix, u);
    const contributions: { item: Id; weight: number }[] = [];
    let score = 0;
    for (let n = 0; n < row.indices.length; n++) {
      const i = row.indices[n]!;
      let dot = 0;
      for (let f = 0; f < s.factors; f++) dot += s.itemFactors[i * s.factors + f]! * s.itemFactors[j * s.factors + f]!;
      const w = row.values[n]! * dot;
      score += w;
      contributions.push({ item: s.data.items.id(i), weight: w });
    }
    contributions.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
    return { item, score, contributions };
  }

  toState(): ModelState {
    const s = this.fittedState();
    const state: ModelState = {
      kind: 'puresvd',
      version: 1,
      config: { ...this.options, fittedFactors: s.factors },
      arrays: { userFactors: s.userFactors, itemFactors: s.itemFactors },
      ids: {},
    };
    saveTrainingData(s.data, state);
    return state;
  }

  static fromState(state: ModelState): PureSvdModel {
    checkState(state, 'puresvd', 1);
    const c = state.config as Required<PureSvdOptions> & { fittedFactors: number };
    const model = new PureSvdModel({ factors: c.factors, oversample: c.oversample, powerIterations: c.powerIterations });
    const data = loadTrainingData(state);
    const userFactors = state.arrays.userFactors;
    const itemFactors = state.arrays.itemFactors;
    const f = c.fittedFactors;
    if (!(userFactors instanceof Float32Array) || !(itemFactors instanceof Float32Array) || userFactors.length !== data.users.size * f || itemFactors.length !== data.items.size * f) {
      throw new InvalidArgumentError("model state of kind 'puresvd' has factor arrays that do not match its id maps");
    }
    model.state = model.build(data, f, userFactors, itemFactors);
    return model;
  }

  private build(data: TrainingData, factors: number, userFactors: Float32Array, itemFactors: Float32Array): Fitted {
    return { data, factors, userFactors, itemFactors, scorer: new FactorScorer(data, itemFactors, factors) };
  }

  private fittedState(): Fitted {
    return assertFitted(this.state, this.name);
  }
}
