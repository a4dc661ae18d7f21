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
import type { Id } from '../data/idmap.js';
import { InvalidArgumentError, NotFittedError } from '../errors.js';
import type { Recommender } from '../recommender.js';
import { abortSignal, boolean, func, integer, invalid, knownOptions, number, threads as checkThreads } from '../validate.js';
import { fullRankingPhase, MAX_LIST, predictorPhase, topKPhase } from './phases.js';
import { prepare } from './relevance.js';
import type { Split } from './split.js';
import {
  DEFAULT_METRICS,
  GLOBAL_METRICS,
  LIST_METRICS,
  RANKING_METRICS,
  type EvaluateOptions,
  type EvaluationResult,
  type MetricColumn,
  type MetricName,
  type RatingPredictor,
  type Resolved,
} from './types.js';
export {
  DEFAULT_METRICS,
  GLOBAL_METRICS,
  LIST_METRICS,
  LOWER_IS_BETTER,
  RANKING_METRICS,
  type EvaluateOptions,
  type EvaluationResult,
  type MetricColumn,
  type MetricName,
  type RatingPredictor,
} from './types.js';
export { featureTokens } from './phases.js';

const ALL_METRICS: readonly MetricName[] = [...RANKING_METRICS, ...LIST_METRICS, ...GLOBAL_METRICS];

const OPTION_KEYS = ['k', 'metrics', 'users', 'filterSeen', 'minRelevance', 'batchSize', 'threads', 'seed', 'aucSamples', 'itemEmbeddings', 'signal', 'onProgress'] as const;


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
