/**
 * tune(modelFactory, space, split): grid or random search over model options.
 * Every trial builds a fresh model from the factory, fits it on the
 * validation split's training side (split.validation.train) and evaluates it
 * on the validation side, so the test side is never looked at while choosing.
 *
 * Early stopping is over trials: with `patience` set, the search stops after
 * that many consecutive trials without an improvement of more than
 * `minDelta` on the tuned metric. With `refit`, the best options are fitted
 * once more on split.train and evaluated on split.test.
 */
import type { FitOptions, Recommender } from '../recommender.js';
import { AbortError, InvalidArgumentError } from '../errors.js';
import { abortSignal, func, integer, invalid, knownOptions, number, oneOf } from '../validate.js';
import { evaluate, GLOBAL_METRICS, LIST_METRICS, RANKING_METRICS, type EvaluateOptions, type EvaluationResult, type MetricName } from './evaluate.js';
import { isBetter } from './compare.js';
import { Random } from './random.js';
import type { Split } from './split.js';

/** A dimension of the search space: a list of values, or a numeric range (uniform, or log-uniform with `log`). */
export type SearchDimension = readonly unknown[] | { min: number; max: number; log?: boolean; integer?: boolean };
export type SearchSpace = Record<string, SearchDimension>;

export interface TuneOptions {
  /** The metric to optimize, e.g. 'ndcg@10', 'recall@20', 'auc', 'rmse' (lower is better for rmse, mae, popularity). */
  metric: string;
  /** 'grid' (every combination, in order; the default when every dimension is a list) or 'random'. */
  strategy?: 'grid' | 'random';
  /** Maximum number of trials (default: the whole grid; 20 for random search). */
  trials?: number;
  /** Seed of the random search and of every fit (default 42). */
  seed?: number;
  /** Stop after this many trials without improvement (default: never). */
  patience?: number;
  /** The improvement that counts (default 0). */
  minDelta?: number;
  /** Extra metrics to record per trial. */
  metrics?: readonly MetricName[];
  /** Options passed to every fit (threads...; seed defaults to options.seed). */
  fit?: FitOptions;
  /** Options passed to every evaluate (users sample, batchSize, threads...). */
  evaluate?: Omit<EvaluateOptions, 'k' | 'metrics' | 'signal'>;
  /** Fit the best options on split.train and evaluate on split.test at the end (default false). */
  refit?: boolean;
  signal?: AbortSignal;
  /** Called after each trial. */
  onTrial?: (trial: Trial) => void;
}

export interface Trial {
  index: number;
  params: Record<string, unknown>;
  /** The tuned metric on the validation split. */
  value: number;
  metrics: Record<string, number>;
  fitSeconds: number;
  evaluateSeconds: number;
}

export interface TuneResult {
  metric: string;
  direction: 'maximize' | 'minimize';
  strategy: 'grid' | 'random';
  trials: Trial[];
  best: Trial;
  /** True when early stopping ended the search before the planned trials. */
  stoppedEarly: boolean;
  /** With refit: the best options fitted on split.train and evaluated on split.test. */
  test?: EvaluationResult;
}

const KEYS = ['metric', 'strategy', 'trials', 'seed', 'patience', 'minDelta', 'metrics', 'fit', 'evaluate', 'refit', 'signal', 'onTrial'] as const;

/**
 * Search model options on the validation split of `split` (make it with `{ validation: ... }`).
 * @throws InvalidArgumentError for a split without validation, an unknown metric or a malformed space.
 */
export async function tune(
  modelFactory: (params: Record<string, unknown>) => Recommender,
  space: SearchSpace,
  split: Split,
  options: TuneOptions,
): Promise<TuneResult> {
  func('modelFactory', modelFactory);
  knownOptions('options', options, KEYS);
  if (typeof options !== 'object' || options === null) throw invalid('options', "an options object with a metric, e.g. { metric: 'ndcg@10' }", options);
  const validation = split?.validation;
  if (!validation) {
    throw new InvalidArgumentError('split: tune needs a validation split; make the split with { validation: true } (or { validation: { fraction } })');
  }
  const { metric, k } = parseMetric(options.metric);
  const dims = checkSpace(space);
  const allLists = dims.every(([, d]) => Array.isArray(d));
  const strategy = oneOf('options.strategy', options.strategy ?? (allLists ? 'grid' : 'random'), ['grid', 'random'] as const);
  if (strategy === 'grid' && !allLists) throw invalid('space', 'only lists of values for a grid search (ranges need strategy: \'random\')', space);
  const seed = integer('options.seed', options.seed ?? 42, 0, 2 ** 32 - 1);
  const gridSize = allLists ? dims.reduce((p, [, d]) => p * (d as unknown[]).length, 1) : Infinity;
  const trials = integer('options.trials', options.trials ?? (strategy === 'grid' ? gridSize : 20), 1);
  const patience = options.patience === undefined ? Infinity : integer('options.patience', options.patience, 1);
  const minDelta = number('options.minDelta', options.minDelta ?? 0, 0);
  const signal = abortSignal('options.signal', options.signal);
  const onTrial = options.onTrial === undefined ? undefined : (func('options.onTrial', options.onTrial) as (t: Trial) => void);
  const metricName = k === undefined ? metric : `${metric}@${k}`;
  const extra = options.metrics ?? [];
  const evalOptions: EvaluateOptions = {
    ...(options.evaluate ?? {}),
    metrics: [...new Set([metric as MetricName, ...extra])],
    k: k ?? 10,
    seed,
    ...(signal ? { signal } : {}),
  };
  const fitOptions: FitOptions = { seed, ...(options.fit ?? {}), ...(signal ? { signal } : {}) };

  const candidates = strategy === 'grid' ? gridPoints(dims).slice(0, trials) : randomPoints(dims, trials, seed);
  const done: Trial[] = [];
  let best: Trial | undefined;
  let sinceBest = 0;
  let stoppedEarly = false;
  for (const params of candidates) {
    if (signal?.aborted) throw new AbortError('tuning aborted');
    const model = modelFactory({ ...params });
    const t0 = performance.now();
    await model.fit(validation.train, fitOptions);
    const t1 = performance.now();
    const r = await evaluate(model, validation, evalOptions);
    const trial: Trial = { index: done.length, params, value: r.metrics[metricName]!, metrics: r.metrics, fitSeconds: (t1 - t0) / 1000, evaluateSeconds: r.seconds };
    done.push(trial);
    onTrial?.(trial);
    const improved = !best || (isBetter(metricName, trial.value, best.value) && Math.abs(trial.value - best.value) > minDelta) || Number.isNaN(best.value);
    if (improved) {
      best = trial;
      sinceBest = 0;
    } else if (++sinceBest >= patience) {
      stoppedEarly = done.length < candidates.length;
      break;
    }
  }
  const result: TuneResult = {
    metric: metricName,
    direction: isBetter(metricName, 1, 0) ? 'maximize' : 'minimize',
    strategy,
    trials: done,
    best: best!,
    stoppedEarly,
  };
  if (options.refit) {
    const model = modelFactory({ ...best!.params });
    await model.fit(split.train, fitOptions);
    result.test = await evaluate(model, split, evalOptions);
  }
  return result;
}

function parseMetric(value: unknown): { metric: string; k: number | undefined } {
  const names = [...RANKING_METRICS, ...LIST_METRICS, ...GLOBAL_METRICS] as readonly string[];
  const m = typeof value === 'string' ? /^([A-Za-z]+)(?:@(\d+))?$/.exec(value) : null;
  const ok = m && names.includes(m[1]!) && (m[2] === undefined) === (GLOBAL_METRICS as readonly string[]).includes(m[1]!) && (m[2] === undefined || Number(m[2]) >= 1);
  if (!ok) throw invalid('options.metric', "a metric such as 'ndcg@10', 'recall@20', 'map@10', 'auc' or 'rmse' (ranking and list metrics need @k)", value);
  return { metric: m![1]!, k: m![2] === undefined ? undefined : Number(m![2]) };
}

function checkSpace(space: unknown): [string, SearchDimension][] {
  if (typeof space !== 'object' || space === null || Array.isArray(space) || Object.keys(space).length === 0) {
    throw invalid('space', 'an object mapping option names to a list of values or { min, max, log?, integer? }', space);
  }
  return Object.entries(space as SearchSpace).map(([name, d]) => {
    if (Array.isArray(d)) {
      if (d.length === 0) throw invalid(`space.${name}`, 'a non-empty list of values', d);
      return [name, d];
    }
    if (typeof d !== 'object' || d === null) throw invalid(`space.${name}`, 'a list of values or { min, max, log?, integer? }', d);
    knownOptions(`space.${name}`, d, ['min', 'max', 'log', 'integer']);
    const r = d as { min: number; max: number; log?: boolean };
    number(`space.${name}.min`, r.min);
    number(`space.${name}.max`, r.max, r.min);
    if (r.log && r.min <= 0) throw invalid(`space.${name}.min`, 'a number > 0 for a log-uniform range', r.min);
    return [name, d];
  });
}

/** Every combination, the first dimension varying slowest. */
function gridPoints(dims: [string, SearchDimension][]): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [name, values] of dims) points = points.flatMap((p) => (values as unknown[]).map((v) => ({ ...p, [name]: v })));
  return points;
}

/** `n` seeded random points; repeats of an earlier point are redrawn (up to a limit, for small discrete spaces). */
function randomPoints(dims: [string, SearchDimension][], n: number, seed: number): Record<string, unknown>[] {
  const rng = new Random(seed);
  const out: Record<string, unknown>[] = [];
  const keys = new Set<string>();
  for (let tries = 0; out.length < n && tries < 50 * n; tries++) {
    const p: Record<string, unknown> = {};
    for (const [name, d] of dims) {
      if (Array.isArray(d)) p[name] = d[rng.int(d.length)];
      else {
        const r = d as { min: number; max: number; log?: boolean; integer?: boolean };
        let v = r.log ? Math.exp(Math.log(r.min) + rng.next() * (Math.log(r.max) - Math.log(r.min))) : r.min + rng.next() * (r.max - r.min);
        if (r.integer) v = Math.min(r.max, Math.max(r.min, Math.round(v)));
        p[name] = v;
      }
    }
    const key = JSON.stringify(p);
    if (keys.has(key)) continue;
    keys.add(key);
    out.push(p);
  }
  return out;
}
