/**
 * The one interface every model implements (ALS, PureSVD, item/user-kNN,
 * baselines, the hybrid), with the same option names and the same errors.
 *
 * Ids: `user` and `item` arguments are the dataset's ids (strings or numbers,
 * as given to Interactions). Batch methods also accept dense user indices as
 * an Int32Array, which is what evaluation uses.
 */
import type { Dataset } from './data/dataset.js';
import type { Id } from './data/idmap.js';

/** Options of `recommend` and `recommendMany`. */
export interface RecommendOptions {
  /** Number of items to return (default 10). Larger than the catalog returns what there is. */
  k?: number;
  /** Drop the items the user interacted with in training (default true). */
  filterSeen?: boolean;
  /** Item ids never to return. */
  exclude?: readonly Id[];
  /** Only return items among these ids. */
  include?: readonly Id[];
}

export interface BatchOptions extends RecommendOptions {
  threads?: number;
  signal?: AbortSignal;
  /** Called with the fraction done, in [0, 1]. */
  onProgress?: (fraction: number) => void;
}

/** Options every `fit` accepts (models add their own hyper-parameters). */
export interface FitOptions {
  /** Native threads (0 = all cores). */
  threads?: number;
  /** Seed for every random choice (initialization, sampling). */
  seed?: number;
  /** Aborts training; the promise rejects with AbortError and the model is left as it was. */
  signal?: AbortSignal;
  /** Progress reports, e.g. { iteration, seconds, loss } for iterative models. */
  onProgress?: (progress: FitProgress) => void;
}

export interface FitProgress {
  /** 1-based step (iteration) just finished. */
  iteration: number;
  /** Total steps planned. */
  iterations: number;
  seconds: number;
  loss?: number;
}

/** Results for one user or item, best first. */
export interface Recommendations {
  /** Item ids. */
  items: Id[];
  /** Dense item indices (same order). */
  indices: Int32Array;
  /** Scores (higher is better; same order). */
  scores: Float32Array;
}

/**
 * Results for many users: row r holds the recommendations of the r-th user
 * asked for, `k` slots per row; unused slots have index -1 and score -Infinity.
 */
export interface BatchRecommendations {
  k: number;
  /** Number of users (rows). */
  count: number;
  indices: Int32Array;
  scores: Float32Array;
}

/** Why an item was recommended: the contributions that make up its score. */
export interface Explanation {
  item: Id;
  score: number;
  /** Contributions, largest first (e.g. the user's past items and how much each added). */
  contributions: { item: Id; weight: number }[];
  /** Part of the score not attributed to any past item (bias, popularity...). */
  rest?: number;
}

/** A user's history for fold-in: item ids, or items with weights. */
export type History = readonly Id[] | readonly { item: Id; value?: number }[];

export interface Recommender {
  /** Short model name, e.g. 'als', 'itemknn'. */
  readonly name: string;
  /** True once fit (or load) succeeded. */
  readonly fitted: boolean;
  /** Train on a dataset (off the JS thread). Resolves to the model itself. */
  fit(dataset: Dataset, options?: FitOptions): Promise<this>;
  /** Top-k items for a known user (synchronous: microseconds to a millisecond). */
  recommend(user: Id, options?: RecommendOptions): Recommendations;
  /** Top-k for many users, batched and multithreaded; users as ids or as dense indices (Int32Array). */
  recommendMany(users: readonly Id[] | Int32Array, options?: BatchOptions): Promise<BatchRecommendations>;
  /** Items most similar to `item`, excluding itself. */
  similarItems(item: Id, k?: number): Recommendations;
  /**
   * Top-k for a user described only by a history (a new visitor, or fresh
   * events): fold-in where the model allows it.
   */
  recommendForHistory(history: History, options?: RecommendOptions): Recommendations;
  /** The contributions behind one item's score for a user, where the model has them. */
  explain?(user: Id, item: Id): Explanation;
}

/** Typed arrays that can be stored in a model file. */
export type StateArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array | BigInt64Array;

/**
 * Everything needed to rebuild a trained model: JSON configuration plus named
 * typed arrays. Model files (lib/io/modelfile.ts) store this; each model class
 * has `toState()` and a static `fromState(state)`, registered by `kind`.
 */
export interface ModelState {
  /** Model kind, e.g. 'als'. */
  kind: string;
  /** The model's own state version (bump when the layout changes). */
  version: number;
  /** JSON-serializable configuration and small values (ids live in `ids`). */
  config: Record<string, unknown>;
  /** Large numeric arrays (factors, neighbour lists, the training matrix...). */
  arrays: Record<string, StateArray>;
  /** Id lists (user and item ids, in index order). */
  ids: Record<string, readonly (string | number)[]>;
}

/** A model that can be saved. */
export interface Persistable {
  toState(): ModelState;
}
