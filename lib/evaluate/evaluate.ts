/**
 * evaluate(model, split): top-k recommendations for the test users in batches
 * (model.recommendMany, native and multithreaded; the next batch is computed
 * while the previous one is scored), then the metrics of metrics.ts per user
 * and their means.
 *
 * Relevant items of a user: the user's test pairs whose value (the test
 * matrix entry: combined and weighted like the dataset) is > 0, or >=
 * minRelevance when given, minus cold items (coldStart 'exclude') and, with
 * filterSeen (default), minus items the user already has in training (a model
 * that filters seen items could never recommend them; temporal splits keep
 * repeats, and these are counted in `counts.seenPairs`).
 *
 * Users evaluated: the split's users (or the requested subset) with at least
 * one usable test pair (a catalog item, not seen in training under
 * filterSeen). A user whose usable pairs are all below minRelevance stays
 * evaluated for the list metrics but gets NaN for the ranking metrics.
 * rmse/mae pool every catalog test pair of the evaluated users (relevant or
 * not, repeats included) against predictMany.
 */
import type { CsrArrays } from '../binding.js';
import { csrRow } from '../data/dataset.js';
import type { FeatureTable } from '../data/features.js';
import type { Id, IdMap } from '../data/idmap.js';
import { AbortError, InvalidArgumentError, NotFittedError } from '../errors.js';
import type { BatchRecommendations, Recommender } from '../recommender.js';
import { abortSignal, boolean, func, integer, invalid, knownOptions, number, threads as checkThreads } from '../validate.js';
import * as M from './metrics.js';
import { deriveSeed, Random } from './random.js';
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
const ALL_METRICS: readonly MetricName[] = [...RANKING_METRICS, ...LIST_METRICS, ...GLOBAL_METRICS];
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

const OPTION_KEYS = ['k', 'metrics', 'users', 'filterSeen', 'minRelevance', 'batchSize', 'threads', 'seed', 'aucSamples', 'itemEmbeddings', 'signal', 'onProgress'] as const;

/** Largest list evaluate asks a model for (recommendMany's own limit). */
const MAX_LIST = 100_000;

/**
 * Evaluate a model trained on `split.train` against `split.test`.
 * @throws NotFittedError when the model is not fitted; InvalidArgumentError for bad options,
 *   for rmse/mae/sampledAuc needs a model can't meet, or a model returning item indices out of range.
 */
export async function evaluate(model: Recommender, split: Split, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const t0 = performance.now();
  const o = resolveOptions(model, split, options);
  const ctx = prepare(split, o);
  const n = ctx.users.length;
  const columns = new Map<string, MetricColumn>();
  const column = (name: string, aggregate: MetricColumn['aggregate'] = 'mean', weighted = false): MetricColumn => {
    let c = columns.get(name);
    if (!c) {
      c = { name, aggregate, values: aggregate === 'global' ? null : new Float64Array(n).fill(NaN), weights: weighted ? new Float64Array(n) : null, value: NaN };
      columns.set(name, c);
    }
    return c;
  };
  // Declare columns in a stable order: per k, then the global ones.
  for (const k of o.k) for (const m of o.metrics) if (!(GLOBAL_METRICS as readonly string[]).includes(m)) column(`${m}@${k}`, m === 'coverage' ? 'global' : 'mean');
  for (const m of o.metrics) if ((GLOBAL_METRICS as readonly string[]).includes(m)) column(m, m === 'rmse' ? 'rootMean' : 'mean', m === 'rmse' || m === 'mae');

  const wantsLists = o.metrics.some((m) => !(GLOBAL_METRICS as readonly string[]).includes(m));
  const phases = (wantsLists ? 1 : 0) + (o.metrics.includes('auc') || (o.metrics.includes('sampledAuc') && !hasPredictor(model)) ? 1 : 0) + (o.metrics.some((m) => m === 'rmse' || m === 'mae' || (m === 'sampledAuc' && hasPredictor(model))) ? 1 : 0);
  let phase = 0;
  const progress = (done: number) => o.onProgress?.((phase + done / Math.max(1, n)) / Math.max(1, phases));

  if (wantsLists) {
    await topKPhase(model, ctx, o, column, progress);
    phase++;
  }
  if (o.metrics.includes('auc') || (o.metrics.includes('sampledAuc') && !hasPredictor(model))) {
    await fullRankingPhase(model, ctx, o, column, progress);
    phase++;
  }
  if (o.metrics.some((m) => m === 'rmse' || m === 'mae' || (m === 'sampledAuc' && hasPredictor(model)))) {
    await predictorPhase(model as Recommender & RatingPredictor, ctx, o, column, progress);
    phase++;
  }

  const metrics: Record<string, number> = {};
  for (const c of columns.values()) {
    if (c.aggregate !== 'global') c.value = aggregateColumn(c);
    metrics[c.name] = c.value;
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    model: model.name,
    k: o.k,
    metrics,
    columns: [...columns.values()],
    users: ctx.users,
    counts: { ...ctx.counts, coldUsers: split.info.coldUsers, coldItems: split.info.coldItems },
    seconds,
    usersPerSecond: n / Math.max(seconds, 1e-9),
  };
}

/** The reported value of a column over a subset of its users (all when `rows` is omitted): Σ values / Σ weights, NaN skipped. */
export function aggregateColumn(c: MetricColumn, rows?: ArrayLike<number>): number {
  if (!c.values) return c.value;
  const v = c.values;
  const w = c.weights;
  let sum = 0;
  let weight = 0;
  const m = rows ? rows.length : v.length;
  for (let j = 0; j < m; j++) {
    const r = rows ? rows[j]! : j;
    const x = v[r]!;
    if (Number.isNaN(x)) continue;
    sum += x;
    weight += w ? w[r]! : 1;
  }
  if (weight === 0) return NaN;
  return c.aggregate === 'rootMean' ? Math.sqrt(sum / weight) : sum / weight;
}

// ---- options ---------------------------------------------------------------------

interface Resolved {
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

function hasPredictor(model: unknown): boolean {
  return typeof (model as Partial<RatingPredictor>).predictMany === 'function';
}

function resolveOptions(model: Recommender, split: Split, options: EvaluateOptions): Resolved {
  if (typeof model !== 'object' || model === null || typeof model.recommendMany !== 'function') {
    throw invalid('model', 'a Recommender (an object with recommendMany)', model);
  }
  if (!model.fitted) throw new NotFittedError(`the model '${model.name}' is not fitted: call fit(split.train) before evaluate`);
  if (typeof split !== 'object' || split === null || !split.train || !split.test || !(split.users instanceof Int32Array)) {
    throw invalid('split', 'a Split (from randomSplit, leaveLastKSplit, timeSplit or kFoldSplits)', split);
  }
  knownOptions('options', options, OPTION_KEYS);
  const ks = Array.isArray(options.k) ? options.k : [options.k ?? 10];
  if (ks.length === 0) throw invalid('options.k', 'a positive integer or a non-empty array of them', options.k);
  const k = [...new Set(ks.map((x, j) => integer(Array.isArray(options.k) ? `options.k[${j}]` : 'options.k', x, 1, MAX_LIST)))].sort((a, b) => a - b);
  const metrics = options.metrics ?? DEFAULT_METRICS;
  if (!Array.isArray(metrics) || metrics.length === 0) throw invalid('options.metrics', `a non-empty array of metric names (${ALL_METRICS.join(', ')})`, metrics);
  metrics.forEach((m, j) => {
    if (!ALL_METRICS.includes(m)) throw invalid(`options.metrics[${j}]`, `one of ${ALL_METRICS.join(', ')}`, m);
  });
  if ((metrics.includes('rmse') || metrics.includes('mae')) && !hasPredictor(model)) {
    throw new InvalidArgumentError(`options.metrics: 'rmse' and 'mae' need a rating model with predictMany(users, items); the model '${model.name}' has none`);
  }
  let users: Int32Array | null = null;
  let sample: number | null = null;
  if (typeof options.users === 'number') sample = integer('options.users', options.users, 1);
  else if (options.users instanceof Int32Array) {
    options.users.forEach((u, j) => integer(`options.users[${j}]`, u, 0, split.train.numUsers - 1));
    users = options.users;
  } else if (Array.isArray(options.users)) {
    users = Int32Array.from(options.users, (id: Id) => split.train.users.indexOrThrow(id, 'user'));
  } else if (options.users !== undefined) throw invalid('options.users', 'an array of user ids, an Int32Array of user indices or a sample size', options.users);
  const emb = options.itemEmbeddings;
  if (emb !== undefined) {
    if (typeof emb !== 'object' || emb === null || !(emb.vectors instanceof Float32Array)) throw invalid('options.itemEmbeddings', '{ vectors: Float32Array, dim }', emb);
    const dim = integer('options.itemEmbeddings.dim', emb.dim, 1);
    if (emb.vectors.length !== dim * split.train.numItems) {
      throw invalid('options.itemEmbeddings.vectors', `a Float32Array of length numItems * dim = ${split.train.numItems * dim}`, emb.vectors);
    }
  }
  if (metrics.includes('diversity') && !emb && !split.train.itemFeatures) {
    throw new InvalidArgumentError("options.metrics: 'diversity' needs item features on the dataset or options.itemEmbeddings ({ vectors, dim })");
  }
  return {
    k,
    kMax: k[k.length - 1]!,
    metrics: [...new Set(metrics)],
    users,
    sample,
    filterSeen: boolean('options.filterSeen', options.filterSeen ?? true),
    minRelevance: options.minRelevance === undefined ? null : number('options.minRelevance', options.minRelevance),
    batchSize: integer('options.batchSize', options.batchSize ?? 4096, 1),
    threads: checkThreads(options.threads),
    seed: integer('options.seed', options.seed ?? 42, 0, 2 ** 32 - 1),
    aucSamples: integer('options.aucSamples', options.aucSamples ?? 100, 1),
    itemEmbeddings: emb,
    signal: abortSignal('options.signal', options.signal),
    onProgress: options.onProgress === undefined ? undefined : (func('options.onProgress', options.onProgress) as (f: number) => void),
  };
}

// ---- the users' relevant items ------------------------------------------------------

interface Context {
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

function prepare(split: Split, o: Resolved): Context {
  const train = split.train;
  const popularity = train.itemCounts();
  const include = split.info.coldStart === 'include';
  const catalog = new Uint8Array(train.numItems);
  let catalogSize = 0;
  for (let i = 0; i < catalog.length; i++) if (include || popularity[i]! > 0) (catalog[i] = 1), catalogSize++;
  let trainUsers = 0;
  for (const c of train.userCounts()) if (c > 0) trainUsers++;

  let candidates = split.users;
  let skippedUsers = 0;
  if (o.users) {
    const allowed = new Set(split.users);
    const kept = [...new Set(o.users)].filter((u) => allowed.has(u));
    skippedUsers += new Set(o.users).size - kept.length;
    candidates = Int32Array.from(kept);
  } else if (o.sample !== null && o.sample < split.users.length) {
    const pick = new Random(o.seed).shuffle(split.users.slice()).subarray(0, o.sample);
    candidates = pick.sort();
  }

  const users: number[] = [];
  const relStart: number[] = [0];
  const relItems: number[] = [];
  const relGains: number[] = [];
  const counts = { users: 0, usersWithoutRelevant: 0, skippedUsers, relevantPairs: 0, coldItemPairs: 0, seenPairs: 0, belowRelevance: 0 };
  for (const u of candidates) {
    const row = csrRow(split.test.matrix, u);
    const seen = csrRow(train.matrix, u).indices;
    let usable = 0;
    let relevant = 0;
    let s = 0;
    for (let p = 0; p < row.indices.length; p++) {
      const item = row.indices[p]!;
      const value = row.values[p]!;
      if (!catalog[item]) { counts.coldItemPairs++; continue; }
      if (o.filterSeen) {
        while (s < seen.length && seen[s]! < item) s++; // both rows are sorted
        if (s < seen.length && seen[s] === item) { counts.seenPairs++; continue; }
      }
      usable++;
      if (o.minRelevance === null ? value > 0 : value >= o.minRelevance) {
        relItems.push(item);
        relGains.push(value);
        relevant++;
      } else counts.belowRelevance++;
    }
    if (usable === 0) { skippedUsers++; continue; }
    users.push(u);
    relStart.push(relItems.length);
    if (relevant === 0) counts.usersWithoutRelevant++;
    counts.relevantPairs += relevant;
  }
  counts.users = users.length;
  counts.skippedUsers = skippedUsers;
  return {
    split,
    users: Int32Array.from(users),
    relStart: Int32Array.from(relStart),
    relItems: Int32Array.from(relItems),
    relGains: Float64Array.from(relGains),
    catalog,
    catalogSize,
    popularity,
    trainUsers,
    trainMatrix: train.matrix,
    counts,
  };
}

// ---- phase 1: top-k lists and the metrics on them ----------------------------------------

type ColumnOf = (name: string, aggregate?: MetricColumn['aggregate'], weighted?: boolean) => MetricColumn;

async function batched(
  model: Recommender,
  ctx: Context,
  o: Resolved,
  k: number,
  batchSize: number,
  score: (recs: BatchRecommendations, first: number) => void,
  progress: (done: number) => void,
): Promise<void> {
  const n = ctx.users.length;
  const ask = (first: number) => {
    const batch = ctx.users.subarray(first, Math.min(n, first + batchSize));
    const p = Promise.resolve(model.recommendMany(batch, { k, filterSeen: o.filterSeen, threads: o.threads, ...(o.signal ? { signal: o.signal } : {}) }));
    p.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
    return p;
  };
  let pending = n > 0 ? ask(0) : null;
  for (let first = 0; first < n; first += batchSize) {
    if (o.signal?.aborted) throw new AbortError('evaluation aborted');
    const recs = await pending!;
    const count = Math.min(batchSize, n - first);
    pending = first + batchSize < n ? ask(first + batchSize) : null;
    checkBatch(model, recs, count, ctx.split.train.numItems);
    score(recs, first);
    progress(first + count);
  }
}

function checkBatch(model: Recommender, recs: BatchRecommendations, count: number, numItems: number): void {
  if (!recs || !(recs.indices instanceof Int32Array) || recs.count !== count || recs.indices.length < count * recs.k) {
    throw new InvalidArgumentError(`model '${model.name}': recommendMany returned ${recs?.count} rows for ${count} users (or a malformed result)`);
  }
  for (let p = 0; p < count * recs.k; p++) {
    const i = recs.indices[p]!;
    if (i >= numItems || i < -1) throw new InvalidArgumentError(`model '${model.name}': recommendMany returned item index ${i}, outside [0, ${numItems}) (was it fitted on split.train?)`);
  }
}

async function topKPhase(model: Recommender, ctx: Context, o: Resolved, column: ColumnOf, progress: (done: number) => void): Promise<void> {
  const n = ctx.users.length;
  const ranking = o.metrics.filter((m) => (RANKING_METRICS as readonly string[]).includes(m));
  const listMetrics = o.metrics.filter((m) => m === 'diversity' || m === 'novelty' || m === 'popularity');
  const wantsCoverage = o.metrics.includes('coverage');
  const distance = listMetrics.includes('diversity') ? diversityDistance(ctx, o) : null;
  // Coverage needs every user's list: keep the union per k as a marker per item.
  const covered = wantsCoverage ? o.k.map(() => new Uint8Array(ctx.catalog.length)) : [];
  const kCols = o.k.map((k) => ({
    k,
    ranking: ranking.map((m) => ({ m, col: column(`${m}@${k}`) })),
    lists: listMetrics.map((m) => ({ m, col: column(`${m}@${k}`) })),
  }));
  const gainAt = new Float64Array(ctx.catalog.length); // gain of each relevant item of the current user, 0 elsewhere
  const isRel = new Uint8Array(ctx.catalog.length);

  await batched(model, ctx, o, o.kMax, o.batchSize, (recs, first) => {
    for (let r = 0; r < recs.count; r++) {
      const j = first + r;
      const list = recs.indices.subarray(r * recs.k, r * recs.k + Math.min(recs.k, o.kMax));
      let len = 0;
      while (len < list.length && list[len]! >= 0) len++;
      const lo = ctx.relStart[j]!, hi = ctx.relStart[j + 1]!;
      for (let p = lo; p < hi; p++) (isRel[ctx.relItems[p]!] = 1), (gainAt[ctx.relItems[p]!] = ctx.relGains[p]!);
      const gains = new Float64Array(len);
      for (let p = 0; p < len; p++) {
        const i = list[p]!;
        if (isRel[i]) (gains[p] = gainAt[i]!), (isRel[i] = 0); // an item listed twice counts once
      }
      for (let p = lo; p < hi; p++) (isRel[ctx.relItems[p]!] = 0), (gainAt[ctx.relItems[p]!] = 0);
      const matched: M.RankedRelevance = { gains, relevant: hi - lo, idealGains: ranking.includes('ndcgGraded') ? ctx.relGains.slice(lo, hi).sort().reverse() : EMPTY_F64 };
      for (const kc of kCols) {
        for (const { m, col } of kc.ranking) col.values![j] = RANKING_FN[m as (typeof RANKING_METRICS)[number]](matched, kc.k);
        const nk = Math.min(len, kc.k);
        for (const { m, col } of kc.lists) {
          col.values![j] =
            m === 'diversity' ? M.intraListDiversity(list, nk, distance!)
            : m === 'novelty' ? M.novelty(list, nk, ctx.popularity, ctx.trainUsers)
            : M.averagePopularity(list, nk, ctx.popularity, ctx.trainUsers);
        }
      }
      if (wantsCoverage) o.k.forEach((k, x) => { for (let p = 0; p < Math.min(len, k); p++) covered[x]![list[p]!] = 1; });
    }
  }, progress);

  o.k.forEach((k, x) => {
    if (!wantsCoverage) return;
    let c = 0;
    for (let i = 0; i < ctx.catalog.length; i++) if (covered[x]![i] && ctx.catalog[i]) c++;
    column(`coverage@${k}`).value = ctx.catalogSize > 0 && n > 0 ? c / ctx.catalogSize : NaN;
  });
}

const EMPTY_F64 = new Float64Array(0);
const RANKING_FN: Record<(typeof RANKING_METRICS)[number], (m: M.RankedRelevance, k: number) => number> = {
  precision: M.precision,
  implicitPrecision: M.implicitPrecision,
  recall: M.recall,
  ndcg: M.ndcg,
  ndcgGraded: M.ndcgGraded,
  map: M.averagePrecision,
  mrr: M.reciprocalRank,
  hitRate: M.hitRate,
};

function diversityDistance(ctx: Context, o: Resolved): (a: number, b: number) => number {
  if (o.itemEmbeddings) return M.cosineDistance(o.itemEmbeddings.vectors, o.itemEmbeddings.dim);
  return M.jaccardDistance(featureTokens(ctx.split.train.itemFeatures!, ctx.split.train.items));
}

/** Sorted token ids per item: "column=value" for categorical and multi-valued columns. */
export function featureTokens(table: FeatureTable, items: IdMap): Int32Array[] {
  const dict = new Map<string, number>();
  const cols = table.columns.filter((c) => table.schema[c] === 'categorical' || table.schema[c] === 'multi');
  return items.ids().map((id) => {
    const row = table.get(id);
    const out = new Set<number>();
    for (const c of cols) {
      const v = row?.[c];
      if (v === undefined) continue;
      for (const x of Array.isArray(v) ? v : [String(v)]) {
        const key = `${c}=${x}`;
        let t = dict.get(key);
        if (t === undefined) dict.set(key, (t = dict.size));
        out.add(t);
      }
    }
    return Int32Array.from(out).sort();
  });
}

// ---- phase 2: full rankings (AUC) ------------------------------------------------------

async function fullRankingPhase(model: Recommender, ctx: Context, o: Resolved, column: ColumnOf, progress: (done: number) => void): Promise<void> {
  const numItems = ctx.split.train.numItems;
  if (numItems > MAX_LIST) {
    throw new InvalidArgumentError(`options.metrics: full 'auc' ranks the whole catalog, at most ${MAX_LIST} items (this one has ${numItems}); use 'sampledAuc' with a model that has predictMany`);
  }
  const wantsFull = o.metrics.includes('auc');
  const wantsSampled = o.metrics.includes('sampledAuc');
  const full = wantsFull ? column('auc') : null;
  const sampled = wantsSampled ? column('sampledAuc') : null;
  // Keep a batch's full lists to about 32 MiB.
  const batchSize = Math.max(1, Math.min(o.batchSize, Math.floor((1 << 22) / numItems)));
  const isPos = new Uint8Array(numItems);
  const blocked = new Uint8Array(numItems); // the current user's training items (not candidates under filterSeen)
  const scoreOf = new Float64Array(numItems).fill(-Infinity);
  // Listed candidates of the current user, compacted (typed buffers reused across users).
  const keptScores = new Float64Array(numItems);
  const keptPos = new Uint8Array(numItems);
  await batched(model, ctx, o, numItems, batchSize, (recs, first) => {
    for (let r = 0; r < recs.count; r++) {
      const j = first + r;
      const u = ctx.users[j]!;
      const lo = ctx.relStart[j]!, hi = ctx.relStart[j + 1]!;
      const seen = o.filterSeen ? csrRow(ctx.trainMatrix, u).indices : EMPTY_I32;
      for (let p = 0; p < seen.length; p++) blocked[seen[p]!] = 1;
      for (let p = lo; p < hi; p++) isPos[ctx.relItems[p]!] = 1;
      const nPos = hi - lo;
      const nNeg = ctx.catalogSize - seen.length - nPos; // seen items are warm, so they are in the catalog
      const base = r * recs.k;
      let kept = 0;
      const ids = recs.indices, scs = recs.scores, catalog = ctx.catalog, stride = recs.k;
      // Keep the listed candidates only (a model may list cold or seen items; those are not candidates).
      for (let p = 0; p < stride; p++) {
        const i = ids[base + p]!;
        if (i < 0) break;
        if (catalog[i] === 0 || blocked[i] === 1) continue;
        const sc = scs[base + p]!;
        keptScores[kept] = sc;
        keptPos[kept++] = isPos[i]!;
        if (sampled) scoreOf[i] = sc;
      }
      if (full) full.values![j] = M.auc(keptScores, keptPos, kept, nPos, nNeg);
      if (sampled) sampled.values![j] = sampledAucOf(ctx, o, j, (i) => scoreOf[i]!, isPos, blocked);
      if (sampled) {
        for (let p = 0; p < stride; p++) {
          const i = ids[base + p]!;
          if (i < 0) break;
          scoreOf[i] = -Infinity;
        }
      }
      for (let p = lo; p < hi; p++) isPos[ctx.relItems[p]!] = 0;
      for (let p = 0; p < seen.length; p++) blocked[seen[p]!] = 0;
    }
  }, progress);
}

const EMPTY_I32 = new Int32Array(0);

/** Sampled negatives of user j: uniform with replacement over the catalog minus positives and seen items, seeded per user. */
function sampleNegatives(ctx: Context, o: Resolved, j: number, isPos: Uint8Array, blocked: Uint8Array): Int32Array {
  const rng = new Random(deriveSeed(o.seed, ctx.users[j]!));
  const out = new Int32Array(o.aucSamples);
  const n = ctx.catalog.length;
  let got = 0;
  // Rejection sampling; give up after many misses (a user who has seen almost the whole catalog).
  for (let tries = 0; got < out.length && tries < 100 * out.length + 1000; tries++) {
    const i = rng.int(n);
    if (!ctx.catalog[i] || isPos[i] || blocked[i]) continue;
    out[got++] = i;
  }
  return out.subarray(0, got);
}

function sampledAucOf(ctx: Context, o: Resolved, j: number, score: (item: number) => number, isPos: Uint8Array, blocked: Uint8Array): number {
  const lo = ctx.relStart[j]!, hi = ctx.relStart[j + 1]!;
  const neg = sampleNegatives(ctx, o, j, isPos, blocked);
  const pos = Float64Array.from(ctx.relItems.subarray(lo, hi), score);
  return M.pairwiseAuc(pos, Float64Array.from(neg, score));
}

// ---- phase 3: pairwise predictions (rmse, mae, sampled AUC) --------------------------------

async function predictorPhase(model: Recommender & RatingPredictor, ctx: Context, o: Resolved, column: ColumnOf, progress: (done: number) => void): Promise<void> {
  const rmse = o.metrics.includes('rmse') ? column('rmse', 'rootMean', true) : null;
  const mae = o.metrics.includes('mae') ? column('mae', 'mean', true) : null;
  const sampled = o.metrics.includes('sampledAuc') ? column('sampledAuc') : null;
  const n = ctx.users.length;
  const isPos = new Uint8Array(ctx.catalog.length);
  const blocked = new Uint8Array(ctx.catalog.length);
  for (let first = 0; first < n; first += o.batchSize) {
    if (o.signal?.aborted) throw new AbortError('evaluation aborted');
    const last = Math.min(n, first + o.batchSize);
    // Pairs to predict: the rating pairs (every usable test pair, relevant or not) and the AUC samples.
    const pu: number[] = [];
    const pi: number[] = [];
    const actual: number[] = [];
    const spans: { ratingLo: number; ratingHi: number; negHi: number }[] = [];
    for (let j = first; j < last; j++) {
      const u = ctx.users[j]!;
      const ratingLo = pu.length;
      if (rmse || mae) {
        const row = csrRow(ctx.split.test.matrix, u);
        for (let p = 0; p < row.indices.length; p++) {
          if (!ctx.catalog[row.indices[p]!]) continue;
          pu.push(u), pi.push(row.indices[p]!), actual.push(row.values[p]!);
        }
      }
      const ratingHi = pu.length;
      if (sampled) {
        const lo = ctx.relStart[j]!, hi = ctx.relStart[j + 1]!;
        for (let p = lo; p < hi; p++) pu.push(u), pi.push(ctx.relItems[p]!), actual.push(NaN), (isPos[ctx.relItems[p]!] = 1);
        const seen = o.filterSeen ? csrRow(ctx.trainMatrix, u).indices : EMPTY_I32;
        for (let p = 0; p < seen.length; p++) blocked[seen[p]!] = 1;
        for (const i of sampleNegatives(ctx, o, j, isPos, blocked)) pu.push(u), pi.push(i), actual.push(NaN);
        for (let p = 0; p < seen.length; p++) blocked[seen[p]!] = 0;
        for (let p = lo; p < hi; p++) isPos[ctx.relItems[p]!] = 0;
      }
      spans.push({ ratingLo, ratingHi, negHi: pu.length });
    }
    const predicted = await model.predictMany(Int32Array.from(pu), Int32Array.from(pi));
    if (!(predicted instanceof Float32Array) || predicted.length !== pu.length) {
      throw new InvalidArgumentError(`model '${model.name}': predictMany returned ${describeLength(predicted)} for ${pu.length} pairs`);
    }
    for (let j = first; j < last; j++) {
      const { ratingLo, ratingHi, negHi } = spans[j - first]!;
      if (ratingHi > ratingLo) {
        let se = 0, ae = 0;
        for (let p = ratingLo; p < ratingHi; p++) {
          const d = predicted[p]! - actual[p]!;
          se += d * d;
          ae += Math.abs(d);
        }
        const count = ratingHi - ratingLo;
        if (rmse) (rmse.values![j] = se), (rmse.weights![j] = count);
        if (mae) (mae.values![j] = ae), (mae.weights![j] = count);
      }
      if (sampled) {
        const nPos = ctx.relStart[j + 1]! - ctx.relStart[j]!;
        sampled.values![j] = M.pairwiseAuc(predicted.subarray(ratingHi, ratingHi + nPos), predicted.subarray(ratingHi + nPos, negHi));
      }
    }
    progress(last);
  }
}

function describeLength(x: unknown): string {
  return ArrayBuffer.isView(x) ? `a ${x.constructor.name} of length ${(x as Float32Array).length}` : String(x);
}
