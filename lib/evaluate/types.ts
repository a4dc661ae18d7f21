/**
 * Types shared by evaluate() and its phases: metric names, options, results,
 * and the resolved options and per-evaluation context passed between phases.
 */
import type { CsrArrays } from '../binding.js';
import type { Id } from '../data/idmap.js';
import type { Split } from './split.js';

/** A model that predicts a score (a rating, for rating models) for given (user, item) index pairs. */
export interface RatingPredictor {
  predictMany(users: Int32Array, items: Int32Array): Promise<Float32Array> | Float32Array;
}

/** Metrics evaluated at each k. */
export const RANKING_METRICS = ['precision', 'implicitPrecision', 'recall', 'ndcg', 'ndcgGraded', 'map', 'mrr', 'hitRate'] as const;
/** Beyond-accuracy metrics of the top-k lists, evaluated at each k. */
export const LIST_METRICS = ['coverage', 'diversity', 'novelty', 'popularity'] as const;
/** Metrics without k. */
export const GLOBAL_METRICS = ['auc', 'sampledAuc', 'rmse', 'mae'] as const;
export type MetricName = (typeof RANKING_METRICS)[number] | (typeof LIST_METRICS)[number] | (typeof GLOBAL_METRICS)[number];
export const DEFAULT_METRICS: readonly MetricName[] = ['precision', 'recall', 'ndcg', 'map', 'mrr', 'hitRate', 'coverage'];

/** Metrics where smaller is better (the rest: larger is better). */
export const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['rmse', 'mae', 'popularity']);

export interface EvaluateOptions {
  /** Cut-off(s) (default 10). */
  k?: number | readonly number[];
  /** Metric names (default precision, recall, ndcg, map, mrr, hitRate, coverage). */
  metrics?: readonly MetricName[];
  /** Users to evaluate: ids, dense indices, or a number (a seeded random sample of the split's users). Default: all of split.users. */
  users?: readonly Id[] | Int32Array | number;
  /** Drop training items from recommendations and from the relevant sets (default true). */
  filterSeen?: boolean;
  /** A test pair is relevant when its value is >= minRelevance (default: > 0). */
  minRelevance?: number;
  /** Users per recommendMany call (default 4096). */
  batchSize?: number;
  threads?: number;
  /** Seed for user sampling and sampledAuc's negatives (default 42). */
  seed?: number;
  /** Negatives sampled per user for sampledAuc (default 100; sampled uniformly with replacement). */
  aucSamples?: number;
  /** Item vectors for diversity (row i = item index i); default: the training dataset's item features (Jaccard distance). */
  itemEmbeddings?: { vectors: Float32Array; dim: number };
  signal?: AbortSignal;
  /** Called after each batch with the fraction of users done, in [0, 1]. */
  onProgress?: (fraction: number) => void;
}

/**
 * One metric's values. `values[j]` belongs to `users[j]` (NaN where undefined
 * for that user). The reported value is Σ values / Σ weights (weights: 1 per
 * defined value when null), square-rooted for 'rootMean' (RMSE pools squared
 * errors over pairs); 'global' metrics (coverage) have no per-user values.
 */
export interface MetricColumn {
  name: string;
  aggregate: 'mean' | 'rootMean' | 'global';
  values: Float64Array | null;
  weights: Float64Array | null;
  value: number;
}

export interface EvaluationResult {
  model: string;
  k: number[];
  /** Metric name (e.g. 'ndcg@10', 'auc') → value. */
  metrics: Record<string, number>;
  columns: MetricColumn[];
  /** Dense indices of the evaluated users. */
  users: Int32Array;
  counts: {
    /** Users evaluated (with at least one usable test pair). */
    users: number;
    /** Evaluated users with no relevant item (left out of ranking metrics). */
    usersWithoutRelevant: number;
    /** Requested users not evaluated: no usable test pair, or not among the split's users (e.g. cold). */
    skippedUsers: number;
    /** Relevant test pairs scored. */
    relevantPairs: number;
    /** Test pairs of evaluated users dropped: cold items, items seen in training (filterSeen), below minRelevance. */
    coldItemPairs: number;
    seenPairs: number;
    belowRelevance: number;
    /** From the split. */
    coldUsers: number;
    coldItems: number;
  };
  seconds: number;
  usersPerSecond: number;
}

/** Options after validation (evaluate.ts resolves them). */
export interface Resolved {
  k: number[];
  kMax: number;
  metrics: MetricName[];
  users: Int32Array | null;
  sample: number | null;
  filterSeen: boolean;
  minRelevance: number | null;
  batchSize: number;
  threads: number;
  seed: number;
  aucSamples: number;
  itemEmbeddings: { vectors: Float32Array; dim: number } | undefined;
  signal: AbortSignal | undefined;
  onProgress: ((fraction: number) => void) | undefined;
}

/** The users to evaluate, their relevant items and the training facts the metrics need (relevance.ts builds it). */
export interface Context {
  split: Split;
  users: Int32Array;
  /** Per evaluated user j: relevant items relItems[relStart[j]..relStart[j+1]) with gains relGains. */
  relStart: Int32Array;
  relItems: Int32Array;
  relGains: Float64Array;
  /** Items a model may recommend: 1 = in the catalog (warm, or every item with coldStart 'include'). */
  catalog: Uint8Array;
  catalogSize: number;
  /** Training popularity (users per item) and the number of users with any training interaction. */
  popularity: Int32Array;
  trainUsers: number;
  trainMatrix: CsrArrays;
  counts: Omit<EvaluationResult['counts'], 'coldUsers' | 'coldItems'>;
}

export type ColumnOf = (name: string, aggregate?: MetricColumn['aggregate'], weighted?: boolean) => MetricColumn;
