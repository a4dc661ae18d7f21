/**
 * Train/test splits of a Dataset, all seeded and reproducible.
 *
 * Every split rebuilds train and test with Dataset.fromLog over the SAME id
 * maps (so a user or item has the same index on both sides) and with the
 * dataset's build options (combine, weighting, allowNegative, feature tables).
 *
 * - randomSplit:    per user, a random fraction (or count) of the user's
 *                   distinct (user, item) pairs goes to test; all events of a
 *                   pair go to the same side, so no test pair is seen in training.
 * - leaveLastKSplit: per user, the k latest events (by timestamp, log order
 *                   breaking ties) go to test.
 * - timeSplit:      a global cut-off: events at or after it go to test.
 * - kFoldSplits:    each user's pairs are dealt over k folds; fold f is the test
 *                   side of split f.
 *
 * Users or items that only appear on the test side ("cold") cannot be scored
 * by a model trained on the train side. They are counted in `info` and, by
 * default (coldStart: 'exclude'), cold users are left out of `users` (the users
 * evaluate scores) and cold items out of every user's relevant set.
 */
import { Dataset, datasetArg, type DatasetOptions, type EventLog } from '../data/dataset.js';
import { InvalidArgumentError } from '../errors.js';
import { integer, invalid, knownOptions, number, oneOf, threads as checkThreads } from '../validate.js';
import { deriveSeed, Random } from './random.js';

export type ColdStartPolicy = 'exclude' | 'include';
export type SplitStrategy = 'random' | 'leaveLastK' | 'time' | 'kfold';

/** What a split did, for reports. Counts are of events unless named otherwise. */
export interface SplitInfo {
  strategy: SplitStrategy;
  /** Seed of the random choices (null for the deterministic temporal splits). */
  seed: number | null;
  /** k-fold: this split's fold (0-based) and the number of folds. */
  fold?: number;
  folds?: number;
  /** Time split: the cut-off in epoch milliseconds (test events have timestamp >= cutoff). */
  cutoff?: number;
  trainEvents: number;
  testEvents: number;
  /** Users with at least one test event. */
  testUsers: number;
  /** Test users with no training event (cold users), and their test events. */
  coldUsers: number;
  coldUserEvents: number;
  /** Items with test events but no training event (cold items), and their test events. */
  coldItems: number;
  coldItemEvents: number;
  coldStart: ColdStartPolicy;
}

export interface Split {
  /** The training side (fit models on it). */
  readonly train: Dataset;
  /** The held-out side (same id maps as train). */
  readonly test: Dataset;
  /** Dense indices of the users to score: test users, minus cold users when coldStart is 'exclude'. Sorted. */
  readonly users: Int32Array;
  /** Indices into the source log (dataset.log, or the parent's train.log for a validation split) of each side's events. */
  readonly events: { readonly train: Int32Array; readonly test: Int32Array };
  readonly info: SplitInfo;
  /** A split of `train` into a smaller train and a validation side, for tuning (when asked for). */
  readonly validation?: Split;
}

/** How to carve the validation split from the training side (same strategy as the outer split). */
export interface ValidationOptions {
  /** random / kfold / time: fraction held out (default 0.1). */
  fraction?: number;
  /** random / kfold: a count of pairs per user instead of a fraction; leaveLastK: events per user (default the split's k). */
  count?: number;
  /** Seed of the validation split (default derived from the split's seed). */
  seed?: number;
}

interface CommonOptions {
  /** What to do with users and items that only appear in test (default 'exclude'). */
  coldStart?: ColdStartPolicy;
  /** Also carve a validation split from the training side. */
  validation?: ValidationOptions | boolean;
  threads?: number;
}

export interface RandomSplitOptions extends CommonOptions {
  /** Fraction of each user's distinct items held out (default 0.2; rounded to the nearest count). */
  fraction?: number;
  /** Exact number of each user's distinct items held out (instead of fraction). */
  count?: number;
  /** Users keep at least this many distinct items in training (default 1). */
  minTrain?: number;
  seed?: number;
}

export interface LeaveLastKOptions extends CommonOptions {
  /** Events per user held out (default 1). */
  k?: number;
  /** Users keep at least this many events in training (default 1). */
  minTrain?: number;
}

export interface TimeSplitOptions extends CommonOptions {
  /** Cut-off: events at or after it are test (epoch ms or a Date). */
  cutoff?: number | Date;
  /** Or: the cut-off is the timestamp quantile that leaves about this fraction of events in test. */
  fraction?: number;
}

export interface KFoldOptions extends Omit<CommonOptions, 'validation'> {
  /** Number of folds (default 5). */
  folds?: number;
  seed?: number;
  /** Carve a validation split (random hold-out per user) from each fold's training side. */
  validation?: ValidationOptions | boolean;
}

const COMMON = ['coldStart', 'validation', 'threads'] as const;
const VALIDATION_KEYS = ['fraction', 'count', 'seed'] as const;
const DEFAULT_SEED = 42;

// ---- public API -------------------------------------------------------------

/** Random hold-out per user, by distinct (user, item) pairs. */
export async function randomSplit(dataset: Dataset, options: RandomSplitOptions = {}): Promise<Split> {
  datasetArg('dataset', dataset);
  knownOptions('options', options, [...COMMON, 'fraction', 'count', 'minTrain', 'seed']);
  const holdout = resolveHoldout('options', options.fraction, options.count, 0.2);
  const minTrain = integer('options.minTrain', options.minTrain ?? 1, 0);
  const seed = integer('options.seed', options.seed ?? DEFAULT_SEED, 0, 2 ** 32 - 1);
  const common = resolveCommon(options);
  const mask = randomMask(dataset.log, dataset.numUsers, holdout, minTrain, seed);
  const validation = common.validation && ((log: EventLog) => {
    const v = resolveHoldout('options.validation', common.validation!.fraction, common.validation!.count, 0.1);
    const vseed = common.validation!.seed ?? deriveSeed(seed, 1);
    return { mask: randomMask(log, dataset.numUsers, v, minTrain, vseed), info: { strategy: 'random' as const, seed: vseed } };
  });
  return makeSplit(dataset, dataset.log, mask, { strategy: 'random', seed }, common, validation);
}

/** Per user, the k latest events are test. Needs timestamps on every event. */
export async function leaveLastKSplit(dataset: Dataset, options: LeaveLastKOptions = {}): Promise<Split> {
  datasetArg('dataset', dataset);
  knownOptions('options', options, [...COMMON, 'k', 'minTrain']);
  const k = integer('options.k', options.k ?? 1, 1);
  const minTrain = integer('options.minTrain', options.minTrain ?? 1, 0);
  const common = resolveCommon(options);
  requireTimestamps(dataset.log, 'leaveLastKSplit');
  const mask = lastKMask(dataset.log, dataset.numUsers, k, minTrain);
  const validation = common.validation && ((log: EventLog) => {
    const vk = integer('options.validation.count', common.validation!.count ?? k, 1);
    return { mask: lastKMask(log, dataset.numUsers, vk, minTrain), info: { strategy: 'leaveLastK' as const, seed: null } };
  });
  return makeSplit(dataset, dataset.log, mask, { strategy: 'leaveLastK', seed: null }, common, validation);
}

/** A global time cut-off: events with timestamp >= cutoff are test. Needs timestamps on every event. */
export async function timeSplit(dataset: Dataset, options: TimeSplitOptions): Promise<Split> {
  datasetArg('dataset', dataset);
  knownOptions('options', options, [...COMMON, 'cutoff', 'fraction']);
  if (options === undefined || (options.cutoff === undefined) === (options.fraction === undefined)) {
    throw invalid('options', 'exactly one of { cutoff } (epoch ms or Date) or { fraction } (of events in test)', options);
  }
  const common = resolveCommon(options);
  requireTimestamps(dataset.log, 'timeSplit');
  const cutoff = resolveCutoff(dataset.log, options.cutoff, options.fraction, 'options');
  const validation = common.validation && ((log: EventLog) => {
    const c = resolveCutoff(log, undefined, common.validation!.fraction ?? 0.1, 'options.validation');
    return { mask: timeMask(log, c), info: { strategy: 'time' as const, seed: null, cutoff: c } };
  });
  return makeSplit(dataset, dataset.log, timeMask(dataset.log, cutoff), { strategy: 'time', seed: null, cutoff }, common, validation);
}

/** k-fold cross-validation: each user's distinct items are dealt over the folds at random. Returns one split per fold. */
export async function kFoldSplits(dataset: Dataset, options: KFoldOptions = {}): Promise<Split[]> {
  datasetArg('dataset', dataset);
  knownOptions('options', options, [...COMMON, 'folds', 'seed']);
  const folds = integer('options.folds', options.folds ?? 5, 2);
  const seed = integer('options.seed', options.seed ?? DEFAULT_SEED, 0, 2 ** 32 - 1);
  const common = resolveCommon(options);
  const foldOf = foldAssignment(dataset.log, dataset.numUsers, folds, seed);
  const out: Split[] = [];
  for (let f = 0; f < folds; f++) {
    const mask = new Uint8Array(foldOf.length);
    for (let e = 0; e < foldOf.length; e++) mask[e] = foldOf[e] === f ? 1 : 0;
    const validation = common.validation && ((log: EventLog) => {
      const v = resolveHoldout('options.validation', common.validation!.fraction, common.validation!.count, 0.1);
      const vseed = common.validation!.seed ?? deriveSeed(seed, 100 + f);
      return { mask: randomMask(log, dataset.numUsers, v, 1, vseed), info: { strategy: 'random' as const, seed: vseed } };
    });
    out.push(await makeSplit(dataset, dataset.log, mask, { strategy: 'kfold', seed, fold: f, folds }, common, validation));
  }
  return out;
}

// ---- assignment of events to sides ---------------------------------------------

type Holdout = { fraction: number; count?: undefined } | { count: number; fraction?: undefined };

/** Events grouped by user: order[start[u]..start[u+1]) are user u's event indices in log order (counting sort). */
export function eventsByUser(users: Int32Array, nUsers: number): { order: Int32Array; start: Int32Array } {
  const start = new Int32Array(nUsers + 1);
  for (let e = 0; e < users.length; e++) start[users[e]! + 1]!++;
  for (let u = 0; u < nUsers; u++) start[u + 1]! += start[u]!;
  const fill = start.slice(0, nUsers);
  const order = new Int32Array(users.length);
  for (let e = 0; e < users.length; e++) order[fill[users[e]!]!++] = e;
  return { order, start };
}

/**
 * Calls fn(events, pairStarts) per user, with the user's events sorted by item
 * (then log order) and pairStarts the offsets where each distinct item begins
 * (plus the end).
 */
function forEachUserPairs(log: EventLog, nUsers: number, fn: (events: Int32Array, pairStarts: number[]) => void): void {
  const { order, start } = eventsByUser(log.users, nUsers);
  const items = log.items;
  for (let u = 0; u < nUsers; u++) {
    const events = order.subarray(start[u]!, start[u + 1]!);
    if (events.length === 0) continue;
    events.sort((a, b) => items[a]! - items[b]! || a - b);
    const pairStarts = [0];
    for (let p = 1; p < events.length; p++) if (items[events[p]!] !== items[events[p - 1]!]) pairStarts.push(p);
    pairStarts.push(events.length);
    fn(events, pairStarts);
  }
}

function randomMask(log: EventLog, nUsers: number, holdout: Holdout, minTrain: number, seed: number): Uint8Array {
  const mask = new Uint8Array(log.users.length);
  const rng = new Random(seed);
  forEachUserPairs(log, nUsers, (events, pairStarts) => {
    const nPairs = pairStarts.length - 1;
    const wanted = holdout.count ?? Math.round(holdout.fraction * nPairs);
    const nTest = Math.min(wanted, nPairs - minTrain);
    if (nTest <= 0) return;
    // Partial Fisher–Yates: the first nTest slots of a shuffled pair list.
    const pairs = Int32Array.from({ length: nPairs }, (_, i) => i);
    for (let i = 0; i < nTest; i++) {
      const j = i + rng.int(nPairs - i);
      const t = pairs[i]!;
      pairs[i] = pairs[j]!;
      pairs[j] = t;
      for (let p = pairStarts[pairs[i]!]!; p < pairStarts[pairs[i]! + 1]!; p++) mask[events[p]!] = 1;
    }
  });
  return mask;
}

function lastKMask(log: EventLog, nUsers: number, k: number, minTrain: number): Uint8Array {
  const mask = new Uint8Array(log.users.length);
  const { order, start } = eventsByUser(log.users, nUsers);
  const ts = log.timestamps;
  for (let u = 0; u < nUsers; u++) {
    const events = order.subarray(start[u]!, start[u + 1]!);
    const nTest = Math.min(k, events.length - minTrain);
    if (nTest <= 0) continue;
    // Equal timestamps keep log order (later in the log counts as later).
    events.sort((a, b) => ts[a]! - ts[b]! || a - b);
    for (let p = events.length - nTest; p < events.length; p++) mask[events[p]!] = 1;
  }
  return mask;
}

function timeMask(log: EventLog, cutoff: number): Uint8Array {
  const mask = new Uint8Array(log.users.length);
  for (let e = 0; e < mask.length; e++) mask[e] = log.timestamps[e]! >= cutoff ? 1 : 0;
  return mask;
}

function foldAssignment(log: EventLog, nUsers: number, folds: number, seed: number): Int32Array {
  const foldOf = new Int32Array(log.users.length);
  const rng = new Random(seed);
  forEachUserPairs(log, nUsers, (events, pairStarts) => {
    const nPairs = pairStarts.length - 1;
    const pairs = rng.shuffle(Int32Array.from({ length: nPairs }, (_, i) => i));
    // Deal the shuffled pairs round-robin from a random first fold, so users with few items do not all land in fold 0.
    const offset = rng.int(folds);
    for (let j = 0; j < nPairs; j++) {
      const f = (offset + j) % folds;
      for (let p = pairStarts[pairs[j]!]!; p < pairStarts[pairs[j]! + 1]!; p++) foldOf[events[p]!] = f;
    }
  });
  return foldOf;
}

// ---- building the two datasets -----------------------------------------------------

function subsetLog(log: EventLog, idx: Int32Array): EventLog {
  const n = idx.length;
  const out: EventLog = { users: new Int32Array(n), items: new Int32Array(n), weights: new Float32Array(n), timestamps: new Float64Array(n) };
  for (let j = 0; j < n; j++) {
    const e = idx[j]!;
    out.users[j] = log.users[e]!;
    out.items[j] = log.items[e]!;
    out.weights[j] = log.weights[e]!;
    out.timestamps[j] = log.timestamps[e]!;
  }
  return out;
}

function sideIndices(mask: Uint8Array, side: 0 | 1): Int32Array {
  let n = 0;
  for (let e = 0; e < mask.length; e++) if (mask[e] === side) n++;
  const out = new Int32Array(n);
  n = 0;
  for (let e = 0; e < mask.length; e++) if (mask[e] === side) out[n++] = e;
  return out;
}

type BaseInfo = Pick<SplitInfo, 'strategy' | 'seed' | 'fold' | 'folds' | 'cutoff'>;
type ValidationMaker = ((trainLog: EventLog) => { mask: Uint8Array; info: BaseInfo }) | false | undefined;

async function makeSplit(
  dataset: Dataset,
  log: EventLog,
  mask: Uint8Array,
  base: BaseInfo,
  common: ResolvedCommon,
  validation: ValidationMaker,
): Promise<Split> {
  const trainIdx = sideIndices(mask, 0);
  const testIdx = sideIndices(mask, 1);
  const opts: DatasetOptions = {
    combine: dataset.options.combine,
    weighting: dataset.options.weighting,
    allowNegative: dataset.options.allowNegative,
    threads: common.threads,
  };
  if (dataset.itemFeatures) opts.itemFeatures = dataset.itemFeatures;
  if (dataset.userFeatures) opts.userFeatures = dataset.userFeatures;
  const train = await Dataset.fromLog(subsetLog(log, trainIdx), dataset.users, dataset.items, opts);
  const test = await Dataset.fromLog(subsetLog(log, testIdx), dataset.users, dataset.items, opts);

  // Cold users and items: on the test side only.
  const trainUserCounts = train.userCounts();
  const trainItemCounts = train.itemCounts();
  const testUserCounts = test.userCounts();
  const testItemCounts = test.itemCounts();
  let testUsers = 0, coldUsers = 0, coldItems = 0;
  const users: number[] = [];
  for (let u = 0; u < testUserCounts.length; u++) {
    if (testUserCounts[u] === 0) continue;
    testUsers++;
    const cold = trainUserCounts[u] === 0;
    if (cold) coldUsers++;
    if (!cold || common.coldStart === 'include') users.push(u);
  }
  for (let i = 0; i < testItemCounts.length; i++) if (testItemCounts[i]! > 0 && trainItemCounts[i] === 0) coldItems++;
  let coldUserEvents = 0, coldItemEvents = 0;
  for (const e of testIdx) {
    if (trainUserCounts[log.users[e]!] === 0) coldUserEvents++;
    if (trainItemCounts[log.items[e]!] === 0) coldItemEvents++;
  }
  const info: SplitInfo = {
    ...base,
    trainEvents: trainIdx.length,
    testEvents: testIdx.length,
    testUsers,
    coldUsers,
    coldUserEvents,
    coldItems,
    coldItemEvents,
    coldStart: common.coldStart,
  };
  const split: { -readonly [K in keyof Split]: Split[K] } = { train, test, users: Int32Array.from(users), events: { train: trainIdx, test: testIdx }, info };
  if (validation) {
    const v = validation(train.log);
    split.validation = await makeSplit(dataset, train.log, v.mask, v.info, common, undefined);
  }
  return split;
}

// ---- option checks ----------------------------------------------------------------

interface ResolvedCommon {
  coldStart: ColdStartPolicy;
  validation: ValidationOptions | undefined;
  threads: number;
}

function resolveCommon(options: CommonOptions): ResolvedCommon {
  const coldStart = oneOf('options.coldStart', options.coldStart ?? 'exclude', ['exclude', 'include'] as const);
  let validation: ValidationOptions | undefined;
  if (options.validation === true) validation = {};
  else if (options.validation !== undefined && options.validation !== false) {
    knownOptions('options.validation', options.validation, VALIDATION_KEYS);
    validation = options.validation;
    if (validation.seed !== undefined) integer('options.validation.seed', validation.seed, 0, 2 ** 32 - 1);
  }
  return { coldStart, validation, threads: checkThreads(options.threads) };
}

function resolveHoldout(name: string, fraction: unknown, count: unknown, defaultFraction: number): Holdout {
  if (fraction !== undefined && count !== undefined) throw invalid(name, 'either fraction or count, not both', { fraction, count });
  if (count !== undefined) return { count: integer(`${name}.count`, count, 1) };
  const f = number(`${name}.fraction`, fraction ?? defaultFraction, 0, 1);
  if (f <= 0 || f >= 1) throw invalid(`${name}.fraction`, 'a number strictly between 0 and 1', f);
  return { fraction: f };
}

function resolveCutoff(log: EventLog, cutoff: unknown, fraction: unknown, name: string): number {
  if (cutoff !== undefined) {
    const c = cutoff instanceof Date ? cutoff.getTime() : cutoff;
    return number(`${name}.cutoff`, c);
  }
  const f = number(`${name}.fraction`, fraction, 0, 1);
  if (f <= 0 || f >= 1) throw invalid(`${name}.fraction`, 'a number strictly between 0 and 1', f);
  if (log.timestamps.length === 0) return Infinity;
  const sorted = Float64Array.from(log.timestamps).sort();
  // The smallest timestamp such that about `f` of the events are at or after it.
  return sorted[Math.min(sorted.length - 1, Math.floor((1 - f) * sorted.length))]!;
}

function requireTimestamps(log: EventLog, what: string): void {
  for (let e = 0; e < log.timestamps.length; e++) {
    if (Number.isNaN(log.timestamps[e]!)) {
      let missing = 0;
      for (const t of log.timestamps) if (Number.isNaN(t)) missing++;
      throw new InvalidArgumentError(
        `${what} needs a timestamp on every event, but ${missing} of ${log.timestamps.length} events have none (the first is event ${e}); give the interactions a timestamp column or use randomSplit`,
      );
    }
  }
}

