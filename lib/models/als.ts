/**
 * Alternating least squares: implicit feedback (Hu, Koren & Volinsky 2008,
 * with the unobserved-cell weight of iALS, Rendle et al. 2022) and explicit
 * ratings with a global mean and user/item biases. Training runs natively
 * (native/core/als); scoring uses the shared fused top-k (FactorScorer).
 *
 * Implicit objective (w = the dataset's weight of a cell, w0 = unobservedWeight):
 *   sum_observed c_ui (1 - x_u.y_i)^2 + w0 sum_unobserved (x_u.y_i)^2 + sum_u l_u |x_u|^2 + sum_i l_i |y_i|^2
 *   c_ui = 1 + alpha w  (confidence 'linear', HKV)  or  alpha w  ('proportional', the `implicit` library)
 * With itemBias (implicit only) the score is x_u.y_i + b_i: the same objective with x_u.y_i replaced by
 * x_u.y_i + b_i in every cell, plus itemBiasRegularization * sum_i b_i^2 (a constant lambda_b, not scaled
 * per row). The bias lets heavy regularization of the factors keep the items' popularity in b_i.
 * Normal equations: native/core/als/als.hpp, (2) and (3).
 * Explicit objective:
 *   sum_observed (r_ui - mu - b_u - b_i - x_u.y_i)^2 + sum_u l_u (|x_u|^2 + b_u^2) + sum_i l_i (|y_i|^2 + b_i^2)
 * Regularization l_u = regularization * s(n_u): 1 ('none'), n_u ('count', ALS-WR)
 * or (n_u + w0 * n_items)^nu ('frequency'; w0 = 0 for explicit).
 */
import type { AlsNativeConfig, AlsNativeSide, NativeHandle } from '../binding.js';
import { datasetArg, type Dataset } from '../data/dataset.js';
import { csrRow } from '../data/dataset.js';
import type { Id } from '../data/idmap.js';
import { DimensionMismatchError, InvalidArgumentError } from '../errors.js';
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
import { abortSignal, boolean, func, integer, invalid, knownOptions, number, oneOf, threads as checkThreads } from '../validate.js';
import {
  assertFitted,
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
  MAX_K,
  type TrainingData,
} from './common.js';
import { FactorScorer, normalizeRows } from './factor.js';
import { annRecommend, buildModelAnnScorer, type AnnScorer, type AnnScorerOptions } from '../ann.js';
import { registerModel } from './registry.js';

export interface AlsOptions {
  /** Latent factors per user and item (default 64; at most 4096). */
  factors?: number;
  /** Alternating iterations, each solving all users then all items (default 15). */
  iterations?: number;
  /** 'implicit' (weights as confidence, default) or 'explicit' (ratings, with biases). */
  feedback?: 'implicit' | 'explicit';
  /** Implicit confidence of an observed cell: 'linear' = 1 + alpha * w (default), 'proportional' = alpha * w (as the `implicit` library). */
  confidence?: 'linear' | 'proportional';
  /** Confidence scale (default 1). */
  alpha?: number;
  /** Weight of unobserved cells, w0 (default 1; below 1 as in iALS). Implicit only. */
  unobservedWeight?: number;
  /** Regularization lambda (default 0.01 implicit, 0.1 explicit). */
  regularization?: number;
  /** Scale lambda per row: 'none' (default), 'count' (ALS-WR) or 'frequency' ((count + w0 * others)^nu). */
  regularizationScaling?: 'none' | 'count' | 'frequency';
  /** Exponent of 'frequency' scaling (default 1). */
  nu?: number;
  /** 'cg' (conjugate gradient, default) or 'cholesky' (exact). */
  solver?: 'cg' | 'cholesky';
  /** Conjugate-gradient steps per row and half-iteration (default 2). */
  cgSteps?: number;
  /**
   * Implicit CG: precondition each row's system with the inverse of w0 YᵀY + lambda I, the part every row
   * shares (default true). With it, 2 steps end closer to the exact solution than 3 plain steps (the
   * `implicit` library's method; bench/README.md). false: plain CG.
   */
  precondition?: boolean;
  /**
   * Precision of the copy of the fixed side's factors that each row gathers from during fit():
   * 'float16' (default) halves the bytes of these random reads (the dominant cost on large data);
   * the solve itself stays float32. 'float32' gathers the factors themselves. 'int8' (opt-in)
   * gathers from 8-bit rows with one float scale per row (a quarter of the bytes; see bench/README.md
   * for its measured gain and loss). The CG solver only: Cholesky always gathers float32.
   */
  gatherPrecision?: 'float32' | 'float16' | 'int8';
  /** Compute the loss after each iteration for onProgress (costs about one CG step). Default false. */
  computeLoss?: boolean;
  /**
   * Implicit only: learn an item bias b_i, scoring x_u.y_i + b_i (default false). Explicit models always
   * learn user and item biases, so `itemBias: true` with feedback 'explicit' is an error.
   */
  itemBias?: boolean;
  /** Regularization lambda_b of the item biases (default 0.1; constant, not scaled by regularizationScaling). */
  itemBiasRegularization?: number;
}

const OPTION_KEYS = [
  'factors',
  'iterations',
  'feedback',
  'confidence',
  'alpha',
  'unobservedWeight',
  'regularization',
  'regularizationScaling',
  'nu',
  'solver',
  'cgSteps',
  'precondition',
  'gatherPrecision',
  'computeLoss',
  'itemBias',
  'itemBiasRegularization',
] as const;
const FIT_KEYS = ['threads', 'seed', 'signal', 'onProgress'] as const;
const PARTIAL_FIT_KEYS = ['users', 'items', 'threads', 'signal'] as const;

export type ResolvedAlsOptions = Required<AlsOptions>;

/** Training runs in float32: a larger setting would reach it as Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Check every option and fill in the defaults. */
export function resolveAlsOptions(options: AlsOptions | undefined): ResolvedAlsOptions {
  knownOptions('options', options, OPTION_KEYS);
  const o = options ?? {};
  const feedback = oneOf('options.feedback', o.feedback ?? 'implicit', ['implicit', 'explicit'] as const);
  const itemBias = boolean('options.itemBias', o.itemBias ?? false);
  if (itemBias && feedback === 'explicit') {
    throw new InvalidArgumentError("Expected options.itemBias false (or absent) with feedback 'explicit' (explicit ALS always learns user and item biases) but received true");
  }
  return {
    factors: integer('options.factors', o.factors ?? 64, 1, 4096),
    iterations: integer('options.iterations', o.iterations ?? 15, 1, 100_000),
    feedback,
    confidence: oneOf('options.confidence', o.confidence ?? 'linear', ['linear', 'proportional'] as const),
    alpha: number('options.alpha', o.alpha ?? 1, 0, FLOAT32_MAX),
    unobservedWeight: number('options.unobservedWeight', o.unobservedWeight ?? 1, 0, FLOAT32_MAX),
    regularization: number('options.regularization', o.regularization ?? (feedback === 'implicit' ? 0.01 : 0.1), 0, FLOAT32_MAX),
    regularizationScaling: oneOf('options.regularizationScaling', o.regularizationScaling ?? 'none', ['none', 'count', 'frequency'] as const),
    nu: number('options.nu', o.nu ?? 1, -10, 10),
    solver: oneOf('options.solver', o.solver ?? 'cg', ['cg', 'cholesky'] as const),
    cgSteps: integer('options.cgSteps', o.cgSteps ?? 2, 1, 1000),
    precondition: boolean('options.precondition', o.precondition ?? true),
    gatherPrecision: oneOf('options.gatherPrecision', o.gatherPrecision ?? 'float16', ['float32', 'float16', 'int8'] as const),
    computeLoss: boolean('options.computeLoss', o.computeLoss ?? false),
    itemBias,
    itemBiasRegularization: number('options.itemBiasRegularization', o.itemBiasRegularization ?? 0.1, 0, FLOAT32_MAX),
  };
}

function nativeConfig(o: ResolvedAlsOptions): AlsNativeConfig {
  return {
    factors: o.factors,
    implicit: o.feedback === 'implicit',
    confidence: o.confidence,
    alpha: o.alpha,
    unobservedWeight: o.unobservedWeight,
    regularization: o.regularization,
    regularizationScaling: o.regularizationScaling,
    nu: o.nu,
    solver: o.solver,
    cgSteps: o.cgSteps,
    precondition: o.precondition,
    gatherPrecision: o.gatherPrecision,
    itemBias: o.itemBias,
    itemBiasRegularization: o.itemBiasRegularization,
  };
}

/** What a trained model holds. */
interface Trained {
  data: TrainingData;
  userFactors: Float32Array;
  itemFactors: Float32Array;
  /** Explicit only. */
  userBias: Float32Array | null;
  /** Explicit models and implicit ones with itemBias. */
  itemBias: Float32Array | null;
  globalMean: number;
  scorer: FactorScorer;
  /** YᵀY of the item factors (implicit fold-in; with itemBias the Gram of [Y, b]), computed on demand. */
  itemGram?: Float32Array;
  /** foldIn's native plan (alsFoldInPlan), made on demand from the item side and itemGram. */
  foldInPlan?: NativeHandle;
  unitUsers?: Float32Array;
}

export interface FoldInResult {
  /** The user's factor vector (factors floats). */
  factors: Float32Array;
  /** The user's bias (explicit models; 0 for implicit ones). */
  bias: number;
}

/** explain()'s answer; the two extra fields are set for models fitted with itemBias. */
export interface AlsExplanation extends Explanation {
  /** b_item, part of `rest`. */
  itemBias?: number;
  /** -w0 <z, Yᵀb>: the folded-in score's term that no past item carries, part of `rest`. */
  sharedTerm?: number;
}

export interface PartialFitOptions {
  /** Users whose factors are recomputed against the current item factors. */
  users?: readonly Id[];
  /** Items whose factors are recomputed against the (updated) user factors. */
  items?: readonly Id[];
  threads?: number;
  signal?: AbortSignal;
}

export interface RatingMetrics {
  /** Root mean squared error over the pairs both the model and the data know. */
  rmse: number;
  mae: number;
  /** Pairs scored. */
  count: number;
  /** Pairs skipped because the user or item is unknown to the model. */
  skipped: number;
}

export class AlsModel implements Recommender, Persistable {
  readonly name = 'als';
  readonly options: ResolvedAlsOptions;
  /** Loss after the last iteration of the last fit (when computeLoss). */
  lastLoss: number | undefined;
  private trained: Trained | undefined;
  // ---- ann: optional HNSW candidate generation (lib/ann.ts) ----
  private ann: AnnScorer | undefined;

  constructor(options?: AlsOptions) {
    this.options = Object.freeze(resolveAlsOptions(options));
  }

  get fitted(): boolean {
    return this.trained !== undefined;
  }

  private get t(): Trained {
    return assertFitted(this.trained, 'als');
  }

  private get implicit(): boolean {
    return this.options.feedback === 'implicit';
  }

  /** Users x factors, row-major (the model's own array: copy before changing it). */
  get userFactors(): Float32Array {
    return this.t.userFactors;
  }

  /** Replace the user factors (e.g. imported from another system); same shape required. */
  set userFactors(value: Float32Array) {
    const t = this.t;
    checkFactors('userFactors', value, t.data.users.size, this.options.factors);
    t.userFactors = value;
    t.unitUsers = undefined;
  }

  /** Items x factors, row-major. */
  get itemFactors(): Float32Array {
    return this.t.itemFactors;
  }

  set itemFactors(value: Float32Array) {
    const t = this.t;
    checkFactors('itemFactors', value, t.data.items.size, this.options.factors);
    t.itemFactors = value;
    t.itemGram = undefined;
    t.foldInPlan = undefined;
    t.scorer = new FactorScorer(t.data, value, this.options.factors, t.itemBias ?? undefined);
  }

  /** Per-user biases (explicit models), else null. */
  get userBias(): Float32Array | null {
    return this.t.userBias;
  }

  /** Per-item biases (explicit models and implicit ones fitted with itemBias), else null. */
  get itemBias(): Float32Array | null {
    return this.t.itemBias;
  }

  /** Global mean rating (explicit models; 0 for implicit ones). */
  get globalMean(): number {
    return this.t.globalMean;
  }

  /**
   * Train on `dataset` (its weighted users x items matrix). Runs on native
   * threads; resolves to this model. If aborted or failed, the model keeps its
   * previous state.
   */
  async fit(dataset: Dataset, options?: FitOptions): Promise<this> {
    knownOptions('options', options, FIT_KEYS);
    const o = options ?? {};
    const threads = checkThreads(o.threads);
    const seed = integer('options.seed', o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
    const signal = abortSignal('options.signal', o.signal);
    const onProgress = o.onProgress === undefined ? null : (func('options.onProgress', o.onProgress) as FitOptions['onProgress'] & object);
    datasetArg('dataset', dataset);
    if (dataset.matrix.indices.length === 0) {
      throw new InvalidArgumentError('Expected a dataset with at least one interaction for dataset but received an empty matrix');
    }
    const config = nativeConfig(this.options);
    const { flag, release } = cancelFlag(signal);
    try {
      const r = await callAsync((n) =>
        n.alsFit(dataset.matrix, dataset.itemMatrix, config, null, this.options.iterations, seed, threads, this.options.computeLoss, onProgress, flag),
      );
      const data = trainingDataOf(dataset);
      this.trained = {
        data,
        userFactors: r.userFactors,
        itemFactors: r.itemFactors,
        userBias: r.userBias,
        itemBias: r.itemBias,
        globalMean: this.implicit ? 0 : r.globalMean,
        scorer: new FactorScorer(data, r.itemFactors, this.options.factors, r.itemBias ?? undefined),
        itemGram: r.itemGram ?? undefined,
      };
      this.lastLoss = r.loss ?? undefined;
      return this;
    } finally {
      release();
    }
  }

  /** The factor vector of a known user (a view). */
  userVector(user: Id): Float32Array {
    const t = this.t;
    const u = userIndexOf(user, t.data.users);
    return t.userFactors.subarray(u * this.options.factors, (u + 1) * this.options.factors);
  }

  /** The factor vector of a known item (a view). */
  itemVector(item: Id): Float32Array {
    const t = this.t;
    const i = itemIndexOf(item, t.data.items);
    return t.itemFactors.subarray(i * this.options.factors, (i + 1) * this.options.factors);
  }

  /** Top-k items for a known user: exact fused scoring (x_u.y_i, plus b_i with itemBias, plus mu + b_u + b_i for explicit models). */
  recommend(user: Id, options?: RecommendOptions): Recommendations {
    const t = this.t;
    const o = resolveRecommendOptions(options, t.data.items);
    const u = userIndexOf(user, t.data.users);
    const k = this.options.factors;
    const userVector = t.userFactors.subarray(u * k, (u + 1) * k);
    const rec = this.ann?.itemFactors === t.itemFactors
      ? annRecommend(this.ann, t.data.items, userVector, t.scorer.seenOf(u), o)
      : t.scorer.recommend(userVector, t.scorer.seenOf(u), o);
    if (!this.implicit) addConstant(rec.scores, t.globalMean + t.userBias![u]!);
    return rec;
  }

  /**
   * Route `recommend` through an HNSW index over the item factors (and item
   * biases): approximate, much faster on large catalogs; candidates are
   * re-scored exactly. `false` returns to exact scoring. A refit (new item
   * factors) falls back to exact scoring until this is called again; call it
   * again after partialFit on items too.
   */
  async useAnnIndex(options: AnnScorerOptions | false = {}): Promise<void> {
    if (options === false) {
      this.ann = undefined;
      return;
    }
    const t = this.t;
    this.ann = await buildModelAnnScorer(t.itemFactors, this.options.factors, t.itemBias, options);
  }

  /** Top-k for many users (ids or dense indices), batched on native threads; never builds the full score matrix. */
  async recommendMany(users: readonly Id[] | Int32Array, options?: BatchOptions): Promise<BatchRecommendations> {
    const t = this.t;
    const o = resolveBatchOptions(options, t.data.items);
    const rows = userIndicesOf(users, t.data.users);
    const out = await t.scorer.recommendMany(t.userFactors, rows, o);
    if (!this.implicit) {
      for (let r = 0; r < rows.length; r++) {
        const c = t.globalMean + t.userBias![rows[r]!]!;
        for (let j = r * out.k; j < (r + 1) * out.k; j++) if (out.indices[j]! >= 0) out.scores[j]! += c;
      }
    }
    return out;
  }

  /** Items with the most similar factor vectors (cosine of y_i; item biases play no part), excluding the item itself. */
  similarItems(item: Id, k = 10): Recommendations {
    const t = this.t;
    integer('k', k, 1, MAX_K);
    return t.scorer.similarItems(itemIndexOf(item, t.data.items), k);
  }

  /** Users with the most similar factor vectors (cosine), excluding the user. Results' `items` hold user ids. */
  similarUsers(user: Id, k = 10): Recommendations {
    const t = this.t;
    integer('k', k, 1, MAX_K);
    const u = userIndexOf(user, t.data.users);
    const dim = this.options.factors;
    t.unitUsers ??= normalizeRows(t.userFactors, dim);
    const query = t.unitUsers.slice(u * dim, (u + 1) * dim);
    const r = callSync((n) => n.factorTopK(query, t.unitUsers!, dim, null, Int32Array.of(u), null, null, k));
    return toRecommendations(t.data.users, r.indices, r.scores);
  }

  /**
   * Factors for a user described by a history (new, or with fresh events),
   * without refitting: the exact solution of the user's normal equations
   * against the current item factors (Cholesky). Unknown items are ignored.
   */
  foldIn(history: History): FoldInResult {
    const t = this.t;
    const h = historyOf(history, t.data.items, 'history', !this.implicit);
    return callSync((n) => n.alsFoldIn(this.foldInPlan(), h.indices, h.values));
  }

  /** Alias of foldIn, under the name `implicit` users know. */
  recalculateUser(history: History): FoldInResult {
    return this.foldIn(history);
  }

  /** Top-k for a user known only by their history (fold-in, then exact scoring; the history's items are skipped when filterSeen). */
  recommendForHistory(history: History, options?: RecommendOptions): Recommendations {
    const t = this.t;
    const o = resolveRecommendOptions(options, t.data.items);
    const h = historyOf(history, t.data.items, 'history', !this.implicit);
    const f = callSync((n) => n.alsFoldIn(this.foldInPlan(), h.indices, h.values));
    const rec = t.scorer.recommend(f.factors, h.indices, o);
    if (!this.implicit) addConstant(rec.scores, t.globalMean + f.bias);
    return rec;
  }

  /**
   * Why `item` scores as it does for `user`. The user's factors solve
   * W x_u = sum_j b_j y_j (W the user's weighted Gram matrix, b_j = c_uj for
   * implicit, r_uj - mu - b_j for explicit), so with W z = y_item the score is
   * sum_j b_j <z, y_j>: each past item j contributes b_j <z, y_j>. This is
   * exact for the user's folded-in factors; `rest` holds mu + b_item (explicit)
   * plus the difference between the trained and the folded-in score (zero at
   * convergence). With itemBias, b_j = c_uj - (c_uj - w0) b_j (als.hpp (3)) and
   * `rest` holds b_item plus the term every user shares, -w0 <z, Yᵀb> (the
   * unobserved cells' pull towards -b), reported alone as `sharedTerm`.
   */
  explain(user: Id, item: Id): AlsExplanation {
    const t = this.t;
    const u = userIndexOf(user, t.data.users);
    const i = itemIndexOf(item, t.data.items);
    const row = csrRow(t.data.matrix, u);
    const parts = callSync((n) => n.alsExplain(row.indices, row.values, this.itemSide(), this.itemGram(), nativeConfig(this.options), i));
    const score = this.scoreOf(u, i);
    let sum = 0;
    const contributions = Array.from(parts.subarray(0, row.indices.length), (w, j) => {
      sum += w;
      return { item: t.data.items.id(row.indices[j]!), weight: w };
    }).sort((a, b) => b.weight - a.weight);
    if (!this.options.itemBias) return { item, score, contributions, rest: score - sum };
    return { item, score, contributions, rest: score - sum, itemBias: t.itemBias![i]!, sharedTerm: parts[row.indices.length]! };
  }

  /** The model's score (predicted rating for explicit models) for a known user and item. */
  predict(user: Id, item: Id): number {
    const t = this.t;
    return this.scoreOf(userIndexOf(user, t.data.users), itemIndexOf(item, t.data.items));
  }

  /**
   * RMSE and MAE of the predicted ratings on every stored cell of `test`
   * (matched by ids; pairs with an unknown user or item are skipped).
   */
  evaluateRatings(test: Dataset): RatingMetrics {
    const t = this.t;
    datasetArg('test', test);
    let se = 0;
    let ae = 0;
    let count = 0;
    let skipped = 0;
    const m = test.matrix;
    for (let r = 0; r < m.rows; r++) {
      const lo = Number(m.indptr[r]);
      const hi = Number(m.indptr[r + 1]);
      if (lo === hi) continue;
      const u = t.data.users.index(test.users.id(r));
      for (let e = lo; e < hi; e++) {
        const i = u === undefined ? undefined : t.data.items.index(test.items.id(m.indices[e]!));
        if (u === undefined || i === undefined) {
          skipped++;
          continue;
        }
        const err = m.data[e]! - this.scoreOf(u, i);
        se += err * err;
        ae += Math.abs(err);
        count++;
      }
    }
    return { rmse: count ? Math.sqrt(se / count) : NaN, mae: count ? ae / count : NaN, count, skipped };
  }

  /**
   * Recompute exactly (Cholesky) the factors of some users (against the
   * current item factors) and then some items (against the updated user factors) from `dataset`,
   * which may hold new interactions and new users or items (their ids are
   * added; new rows start from zero). Resolves to this model; on abort the
   * model is unchanged.
   */
  async partialFit(dataset: Dataset, options?: PartialFitOptions): Promise<this> {
    const t = this.t;
    datasetArg('dataset', dataset);
    knownOptions('options', options, PARTIAL_FIT_KEYS);
    const o = options ?? {};
    const threads = checkThreads(o.threads);
    const signal = abortSignal('options.signal', o.signal);
    const k = this.options.factors;
    // The dataset's id maps must extend the model's (same ids at the same indices).
    for (const [name, mine, theirs] of [
      ['users', t.data.users, dataset.users],
      ['items', t.data.items, dataset.items],
    ] as const) {
      if (theirs.size < mine.size) throw new DimensionMismatchError(`dataset has ${theirs.size} ${name}; the model has ${mine.size}: build it from the model's id maps`);
      for (let r = 0; r < mine.size; r += Math.max(1, Math.floor(mine.size / 64))) {
        if (theirs.id(r) !== mine.id(r)) throw new DimensionMismatchError(`dataset ${name} ids do not extend the model's (index ${r}): build it from the model's id maps`);
      }
    }
    const userRows = idsToIndices('options.users', o.users, dataset.users, 'user');
    const itemRows = idsToIndices('options.items', o.items, dataset.items, 'item');
    let userFactors = grow(t.userFactors, dataset.users.size * k);
    let itemFactors = grow(t.itemFactors, dataset.items.size * k);
    let userBias = t.userBias ? grow(t.userBias, dataset.users.size) : null;
    let itemBias = t.itemBias ? grow(t.itemBias, dataset.items.size) : null;
    const config = nativeConfig(this.options);
    const { flag, release } = cancelFlag(signal);
    try {
      if (userRows.length > 0) {
        const gram = this.implicit ? (itemFactors === t.itemFactors ? this.itemGram() : gramOf(itemFactors, k, itemBias, threads)) : null;
        const r = await callAsync((n) =>
          n.alsSolveRows(
            dataset.matrix,
            userRows,
            { fixed: itemFactors, fixedBias: itemBias, globalMean: t.globalMean, target: userFactors, targetBias: userBias },
            gram,
            config,
            true, // exact: the rows' least-squares solutions, whatever the training solver
            threads,
            flag,
          ),
        );
        userFactors = r.factors;
        userBias = r.bias;
      }
      if (itemRows.length > 0) {
        const r = await callAsync((n) =>
          n.alsSolveRows(
            dataset.itemMatrix,
            itemRows,
            { fixed: userFactors, fixedBias: userBias, globalMean: t.globalMean, target: itemFactors, targetBias: itemBias },
            null,
            config,
            true, // exact: the rows' least-squares solutions, whatever the training solver
            threads,
            flag,
          ),
        );
        itemFactors = r.factors;
        itemBias = r.bias;
      }
    } finally {
      release();
    }
    const data = trainingDataOf(dataset);
    this.trained = {
      data,
      userFactors,
      itemFactors,
      userBias,
      itemBias,
      globalMean: t.globalMean,
      scorer: new FactorScorer(data, itemFactors, k, itemBias ?? undefined),
    };
    return this;
  }

  /** Everything needed to rebuild this model (see loadModel / saveModel). */
  toState(): ModelState {
    const t = this.t;
    const state: ModelState = {
      kind: 'als',
      version: 1,
      config: { ...this.options, globalMean: t.globalMean },
      arrays: { userFactors: t.userFactors, itemFactors: t.itemFactors },
      ids: {},
    };
    if (t.userBias) state.arrays.userBias = t.userBias;
    if (t.itemBias) state.arrays.itemBias = t.itemBias;
    saveTrainingData(t.data, state);
    return state;
  }

  /** Rebuild a model saved with toState(). */
  static fromState(state: ModelState): AlsModel {
    checkState(state, 'als', 1);
    const { globalMean, ...options } = state.config as AlsOptions & { globalMean?: number };
    const model = new AlsModel(options);
    const data = loadTrainingData(state);
    const k = model.options.factors;
    const userFactors = state.arrays.userFactors;
    const itemFactors = state.arrays.itemFactors;
    if (!(userFactors instanceof Float32Array) || !(itemFactors instanceof Float32Array)) {
      throw new InvalidArgumentError("model state of kind 'als' lacks its factor arrays (userFactors, itemFactors)");
    }
    checkFactors('userFactors', userFactors, data.users.size, k);
    checkFactors('itemFactors', itemFactors, data.items.size, k);
    let userBias: Float32Array | null = null;
    let itemBias: Float32Array | null = null;
    if (model.options.itemBias) {
      const ib = state.arrays.itemBias;
      if (!(ib instanceof Float32Array) || ib.length !== data.items.size) {
        throw new InvalidArgumentError("model state of kind 'als' (implicit with itemBias) lacks a valid itemBias array (one float per item)");
      }
      itemBias = ib;
      checkFactors('itemBias', ib, data.items.size, 1);
    }
    if (model.options.feedback === 'explicit') {
      const ub = state.arrays.userBias;
      const ib = state.arrays.itemBias;
      if (!(ub instanceof Float32Array) || !(ib instanceof Float32Array) || ub.length !== data.users.size || ib.length !== data.items.size) {
        throw new InvalidArgumentError("model state of kind 'als' (explicit) lacks valid userBias / itemBias arrays");
      }
      userBias = ub;
      itemBias = ib;
      checkFactors('userBias', ub, data.users.size, 1);
      checkFactors('itemBias', ib, data.items.size, 1);
      // Every prediction adds mu: a missing or damaged one would shift them all.
      number('state.config.globalMean', globalMean);
    }
    model.trained = {
      data,
      userFactors,
      itemFactors,
      userBias,
      itemBias,
      globalMean: model.options.feedback === 'explicit' ? globalMean! : 0,
      scorer: new FactorScorer(data, itemFactors, k, itemBias ?? undefined),
    };
    return model;
  }

  // ---- internals ----

  private scoreOf(u: number, i: number): number {
    const t = this.t;
    const k = this.options.factors;
    let s = 0;
    for (let c = 0; c < k; c++) s += t.userFactors[u * k + c]! * t.itemFactors[i * k + c]!;
    if (!this.implicit) s += t.globalMean + t.userBias![u]! + t.itemBias![i]!;
    else if (t.itemBias) s += t.itemBias[i]!;
    return s;
  }

  private itemSide(): AlsNativeSide {
    const t = this.t;
    return { fixed: t.itemFactors, fixedBias: t.itemBias, globalMean: t.globalMean };
  }

  private itemGram(): Float32Array | null {
    const t = this.t;
    if (!this.implicit) return null;
    t.itemGram ??= gramOf(t.itemFactors, this.options.factors, t.itemBias, 0);
    return t.itemGram;
  }

  /** The native fold-in plan of the current item side, made on first use. */
  private foldInPlan(): NativeHandle {
    const t = this.t;
    t.foldInPlan ??= callSync((n) => n.alsFoldInPlan(this.itemSide(), this.itemGram(), nativeConfig(this.options)));
    return t.foldInPlan;
  }
}

function checkFactors(name: string, value: unknown, rows: number, k: number): void {
  if (!(value instanceof Float32Array)) throw invalid(name, 'a Float32Array', value);
  if (value.length !== rows * k) throw new DimensionMismatchError(`${name} has ${value.length} values; expected ${rows} rows x ${k} factors = ${rows * k}`);
  for (let j = 0; j < value.length; j++) {
    if (!Number.isFinite(value[j]!)) throw new InvalidArgumentError(`Expected finite values in ${name} but received ${value[j]} at index ${j}`);
  }
}

/** The Gram matrix fold-in needs: YᵀY, or with item biases the Gram of [Y, b] (als.hpp (3)). */
function gramOf(itemFactors: Float32Array, k: number, itemBias: Float32Array | null, threads: number): Float32Array {
  return callSync((n) => (itemBias ? n.alsGram(itemFactors, k, threads, itemBias) : n.alsGram(itemFactors, k, threads)));
}

function addConstant(scores: Float32Array, c: number): void {
  for (let j = 0; j < scores.length; j++) scores[j]! += c;
}

/** A copy of `a` lengthened with zeros (or `a` itself when long enough). */
function grow(a: Float32Array, length: number): Float32Array {
  if (a.length === length) return a;
  const out = new Float32Array(length);
  out.set(a);
  return out;
}

function idsToIndices(name: string, ids: unknown, map: TrainingData['users'], kind: 'user' | 'item'): Int32Array {
  if (ids === undefined) return new Int32Array(0);
  if (!Array.isArray(ids)) throw invalid(name, `an array of ${kind} ids`, ids);
  const out = new Set<number>();
  for (const id of ids) out.add(map.indexOrThrow(id as Id, kind));
  return Int32Array.from(out).sort();
}


registerModel('als', (state) => AlsModel.fromState(state));
