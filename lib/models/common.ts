/**
 * Helpers every model shares: resolving recommend options to item indices,
 * building result objects, and the parts of a dataset a trained model keeps
 * (id maps and the training matrix, for filterSeen and fold-in).
 */
import type { CsrArrays } from '../binding.js';
import type { Dataset } from '../data/dataset.js';
import { IdMap, isId, type Id } from '../data/idmap.js';
import { InvalidArgumentError, NotFittedError } from '../errors.js';
import type { BatchOptions, BatchRecommendations, History, ModelState, RecommendOptions, Recommendations } from '../recommender.js';
import { abortSignal, boolean, func, integer, invalid, knownOptions, threads as checkThreads } from '../validate.js';

/** What a trained model keeps of its dataset. A Dataset satisfies it. */
export interface TrainingData {
  users: IdMap;
  items: IdMap;
  /** users x items training matrix (seen items, fold-in histories). */
  matrix: CsrArrays;
}

/** Keep only what a model needs of a dataset (lets the Dataset be collected). */
export function trainingDataOf(dataset: Dataset): TrainingData {
  return { users: dataset.users, items: dataset.items, matrix: dataset.matrix };
}

/** Item filters as dense indices, ready for native calls. */
export interface ResolvedOptions {
  k: number;
  filterSeen: boolean;
  /** Sorted unique item indices never to return (null when none). */
  exclude: Int32Array | null;
  /** Sorted unique item indices to restrict to (null when no restriction). */
  include: Int32Array | null;
}

const RECOMMEND_KEYS = ['k', 'filterSeen', 'exclude', 'include'] as const;
const BATCH_KEYS = [...RECOMMEND_KEYS, 'threads', 'signal', 'onProgress'] as const;

/** Largest k a caller may ask for (a guard against typos like 1e9, which would allocate huge buffers). */
export const MAX_K = 100_000;

function itemIndices(name: string, ids: unknown, items: IdMap): Int32Array | null {
  if (ids === undefined || ids === null) return null;
  if (!Array.isArray(ids)) throw invalid(name, 'an array of item ids', ids);
  const out = new Set<number>();
  // Unknown ids are skipped: they cannot be recommended anyway.
  for (const id of ids) {
    const i = items.index(id as Id);
    if (i !== undefined) out.add(i);
  }
  return Int32Array.from(out).sort();
}

/**
 * Validate recommend options and turn the id filters into sorted index arrays.
 * @throws InvalidArgumentError for k that is not a positive integer, misspelled options or wrong types.
 */
export function resolveRecommendOptions(options: RecommendOptions | undefined, items: IdMap, name = 'options'): ResolvedOptions {
  knownOptions(name, options, RECOMMEND_KEYS);
  const o = options ?? {};
  return {
    k: integer(`${name}.k`, o.k ?? 10, 1, MAX_K),
    filterSeen: boolean(`${name}.filterSeen`, o.filterSeen ?? true),
    exclude: itemIndices(`${name}.exclude`, o.exclude, items),
    include: itemIndices(`${name}.include`, o.include, items),
  };
}

/** An include list naming no known item allows nothing (native scoring reads an empty list as no restriction). */
export function includesNothing(o: ResolvedOptions): boolean {
  return o.include !== null && o.include.length === 0;
}

/** A batch answer with no items: every row padded (-1 / -Infinity), as when fewer than k items qualify. */
export function emptyBatch(count: number, k: number): BatchRecommendations {
  const slots = count * k;
  return { k, count, indices: new Int32Array(slots).fill(-1), scores: new Float32Array(slots).fill(-Infinity) };
}

export interface ResolvedBatchOptions extends ResolvedOptions {
  threads: number;
  signal: AbortSignal | undefined;
  onProgress: ((fraction: number) => void) | undefined;
}

export function resolveBatchOptions(options: BatchOptions | undefined, items: IdMap, name = 'options'): ResolvedBatchOptions {
  knownOptions(name, options, BATCH_KEYS);
  const { threads, signal, onProgress, ...rest } = options ?? {};
  return {
    ...resolveRecommendOptions(rest, items, name),
    threads: checkThreads(threads, `${name}.threads`),
    signal: abortSignal(`${name}.signal`, signal),
    onProgress: onProgress === undefined ? undefined : (func(`${name}.onProgress`, onProgress) as (f: number) => void),
  };
}

export const unknownUserHint = 'the user has no interactions in the training data; use recommendForHistory(items) for new users';

/** Dense user indices for a batch given as ids or as an Int32Array of indices. */
export function userIndicesOf(users: readonly Id[] | Int32Array, map: IdMap): Int32Array {
  if (users instanceof Int32Array) {
    for (let r = 0; r < users.length; r++) {
      if (users[r]! < 0 || users[r]! >= map.size) throw invalid(`users[${r}]`, `a user index in [0, ${map.size})`, users[r]);
    }
    return users;
  }
  if (!Array.isArray(users)) throw invalid('users', 'an array of user ids or an Int32Array of user indices', users);
  const out = new Int32Array(users.length);
  for (let r = 0; r < users.length; r++) out[r] = map.indexOrThrow(users[r]!, 'user', unknownUserHint);
  return out;
}

/** The dense index of a known user. */
export function userIndexOf(user: Id, map: IdMap): number {
  return map.indexOrThrow(user, 'user', unknownUserHint);
}

/** The dense index of a known item. */
export function itemIndexOf(item: Id, map: IdMap): number {
  return map.indexOrThrow(item, 'item');
}

/** Build a Recommendations object from native results (count may be < indices.length). */
export function toRecommendations(items: IdMap, indices: Int32Array, scores: Float32Array, count = indices.length): Recommendations {
  const idx = indices.subarray(0, count);
  return { items: items.idsOf(idx), indices: idx, scores: scores.subarray(0, count) };
}

/**
 * A history (ids, or { item, value }) as sorted item indices and summed
 * weights; unknown items are dropped (a new visitor may have viewed items the
 * model never saw), but an entry that is no id at all is the caller's mistake
 * (silently dropped, it left a history of nothing). Values must be >= 0 unless
 * `allowNegative` (explicit ratings).
 */
export function historyOf(history: History, items: IdMap, name = 'history', allowNegative = false): { indices: Int32Array; values: Float32Array } {
  if (!Array.isArray(history)) throw invalid(name, 'an array of item ids or { item, value } objects', history);
  const agg = new Map<number, number>();
  history.forEach((h: unknown, n: number) => {
    const isObj = typeof h === 'object' && h !== null;
    const id = isObj ? (h as { item?: unknown }).item : h;
    if (!isId(id)) throw invalid(isObj ? `${name}[${n}].item` : `${name}[${n}]`, 'an item id (a string or a finite number) or { item, value }', id);
    const value = isObj ? ((h as { value?: unknown }).value ?? 1) : 1;
    if (typeof value !== 'number' || !Number.isFinite(value) || (value < 0 && !allowNegative)) {
      throw invalid(`${name}[${n}].value`, allowNegative ? 'a finite number' : 'a finite number >= 0', value);
    }
    const i = items.index(id);
    if (i !== undefined) agg.set(i, (agg.get(i) ?? 0) + value);
  });
  const indices = Int32Array.from(agg.keys()).sort();
  const values = Float32Array.from(indices, (i) => agg.get(i)!);
  // Native solvers take float32: a sum beyond its range would arrive as Infinity.
  const over = values.findIndex((v) => !Number.isFinite(v));
  if (over >= 0) throw invalid(`the values of item ${JSON.stringify(items.id(indices[over]!))} in ${name}`, 'a sum within float32 range (|sum| <= 3.4e38)', agg.get(indices[over]!));
  return { indices, values };
}

/** Throw NotFittedError unless the model has been fitted. */
export function assertFitted<T>(value: T | undefined, model: string): T {
  if (value === undefined) throw new NotFittedError(`the ${model} model is not fitted: call fit(dataset) first (or load a saved model)`);
  return value;
}

// ---- persistence of the training data ----------------------------------------

/** Put the training data into a model state (ids and the CSR arrays). */
export function saveTrainingData(data: TrainingData, state: ModelState, prefix = 'train'): void {
  state.ids[`${prefix}.users`] = data.users.ids();
  state.ids[`${prefix}.items`] = data.items.ids();
  state.arrays[`${prefix}.indptr`] = data.matrix.indptr;
  state.arrays[`${prefix}.indices`] = data.matrix.indices;
  state.arrays[`${prefix}.data`] = data.matrix.data;
}

/** Read training data back from a model state. */
export function loadTrainingData(state: ModelState, prefix = 'train'): TrainingData {
  const users = state.ids[`${prefix}.users`];
  const items = state.ids[`${prefix}.items`];
  const indptr = state.arrays[`${prefix}.indptr`];
  const indices = state.arrays[`${prefix}.indices`];
  const data = state.arrays[`${prefix}.data`];
  if (!users || !items || !(indptr instanceof BigInt64Array) || !(indices instanceof Int32Array) || !(data instanceof Float32Array)) {
    throw new InvalidArgumentError(`model state of kind '${state.kind}' lacks its training data (${prefix}.*)`);
  }
  checkIndptr(state.kind, prefix, indptr, users.length, indices.length, data.length);
  return {
    users: IdMap.from(users),
    items: IdMap.from(items),
    matrix: { rows: users.length, cols: items.length, indptr, indices, data },
  };
}

/** Row extents that native scoring can trust (a damaged indptr made it read out of bounds): O(users). */
function checkIndptr(kind: string, prefix: string, indptr: BigInt64Array, rows: number, nnz: number, values: number): void {
  const bad = (what: string) => new InvalidArgumentError(`model state of kind '${kind}' has a damaged ${prefix}.indptr: ${what}`);
  if (indptr.length !== rows + 1) throw bad(`expected ${rows + 1} entries (users + 1) but received ${indptr.length}`);
  if (indptr[0] !== 0n || Number(indptr[rows]) !== nnz || nnz !== values) throw bad(`expected it to run from 0 to ${nnz} (the stored interactions; ${values} values)`);
  for (let r = 0; r < rows; r++) if (indptr[r + 1]! < indptr[r]!) throw bad(`it decreases at row ${r}`);
}

/** Check that a loaded state is of the expected kind and a version this code can read. */
export function checkState(state: ModelState, kind: string, maxVersion: number): void {
  if (state.kind !== kind) throw new InvalidArgumentError(`expected a model state of kind '${kind}' but received '${state.kind}'`);
  if (state.version > maxVersion) {
    throw new InvalidArgumentError(`the '${kind}' model state has version ${state.version}; this fastrec reads up to ${maxVersion}: upgrade fastrec`);
  }
}
