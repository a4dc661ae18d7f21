/**
 * Nearest-neighbour search: an HNSW graph index ({@link HnswIndex}), an exact
 * index ({@link ExactIndex}), and {@link AnnScorer}, which lets factor models
 * recommend through the graph (candidates from the index, exact re-scoring).
 *
 * Vectors are one flat Float32Array (row after row) or an array of
 * Float32Arrays. Items are named by ids (strings or numbers) kept in an
 * {@link IdMap}; results carry `labels` (the IdMap indices, an Int32Array),
 * `distances` (a Float32Array) and `ids`.
 *
 * Distances: 'l2' squared Euclidean; 'ip' 1 - <q, x>; 'cosine' 1 - cos(q, x).
 */
import { IdMap, type Id } from './data/idmap.js';
import { CorruptFileError, DimensionMismatchError, InvalidArgumentError } from './errors.js';
import { decodeIndexMeta, encodeIndexMeta } from './ann-meta.js';
import type { NativeHandle, NativeNeighbors, CancellablePromise } from './binding.js';
import { callAsync, callSync } from './native.js';
import * as v from './validate.js';
import type { Recommendations } from './recommender.js';
import { toRecommendations, type ResolvedOptions } from './models/common.js';

export type AnnMetric = 'l2' | 'ip' | 'cosine';
const METRICS: readonly AnnMetric[] = ['l2', 'ip', 'cosine'];

/**
 * How an HNSW index stores its vectors (queries are always float32):
 * 'float32'; 'float16' (half the bytes, ~1e-3 relative error per coordinate);
 * 'int8' (a byte per coordinate plus one float scale per vector: each coordinate
 * within max|x|/254 of its value; every metric). The graph is built from the
 * stored form. See bench/README.md ("ANN") for speed and recall.
 */
export type AnnStorage = 'float32' | 'float16' | 'int8';
export const ANN_STORAGES: readonly AnnStorage[] = ['float32', 'float16', 'int8'];

/** Vectors as one flat row-major Float32Array or an array of rows. */
export type Vectors = Float32Array | readonly Float32Array[];

export interface HnswOptions {
  /** Distance (default 'l2'). */
  metric?: AnnMetric;
  /** Links per node (default 16; 2M on the bottom layer). */
  M?: number;
  /** Beam width while building (default 200). */
  efConstruction?: number;
  /** Default beam width of searches (default 64); raise it for recall, lower it for speed. */
  ef?: number;
  /** Seed of the level draws (default 42). */
  seed?: number;
  /** Items to make room for up front (grows as needed). */
  capacity?: number;
  /**
   * For metric 'ip': search through the Euclidean transform (Bachrach et al. 2014):
   * items get an extra coordinate sqrt(maxNorm² - |x|²), so L2 order equals
   * inner-product order. Usually higher recall than raw inner product.
   */
  mipsTransform?: boolean;
  /** The transform's maximum item norm (default: the largest norm in the first batch added). */
  maxNorm?: number;
  /**
   * How vectors are stored ({@link AnnStorage}): 'float32' (default), 'float16' (half
   * the bytes and memory traffic per distance; distances carry ~1e-3 relative error)
   * or 'int8' (a quarter, plus 4 bytes per vector).
   */
  storage?: AnnStorage;
  /**
   * With a filter allowing at most this share of the items, search scans the
   * allowed items exactly instead of walking the graph (default 0.1: at 100,000 x 64 the
   * exact scan beat the filtered graph walk up to 10% allowed, see bench/README.md; the
   * scan's cost grows with the collection, so lower it for much larger ones).
   */
  exactThreshold?: number;
}

export interface AddOptions {
  threads?: number;
  signal?: AbortSignal;
  /** Called with the number of vectors linked so far. */
  onProgress?: (done: number) => void;
}

/** A set of ids resolved once to the index's labels (see {@link HnswIndex.filter}); reuse it across searches. */
export class AnnFilter {
  constructor(readonly labels: Int32Array) {}
}

/** Ids (or an AnnFilter) as index labels; unknown ids are dropped, since they cannot be returned anyway. */
function resolveFilter(idMap: IdMap, name: string, ids: Iterable<Id> | AnnFilter | undefined): Int32Array | null {
  if (ids === undefined) return null;
  if (ids instanceof AnnFilter) return ids.labels;
  if (ids === null || typeof (ids as Iterable<Id>)[Symbol.iterator] !== 'function') throw v.invalid(name, 'an iterable of ids or an AnnFilter', ids);
  const out: number[] = [];
  for (const id of ids) {
    const label = idMap.index(id);
    if (label !== undefined) out.push(label);
  }
  return Int32Array.from(out);
}

/**
 * Sort a few dozen re-scored candidates in place, best score first, ties by
 * smaller index (insertion sort: cheaper than a comparator sort at this size).
 */
export function sortCandidates(cand: Int32Array, scores: Float32Array): void {
  for (let a = 1; a < cand.length; a++) {
    const s = scores[a]!;
    const i = cand[a]!;
    let b = a - 1;
    while (b >= 0 && (scores[b]! < s || (scores[b] === s && cand[b]! > i))) {
      scores[b + 1] = scores[b]!;
      cand[b + 1] = cand[b]!;
      b--;
    }
    scores[b + 1] = s;
    cand[b + 1] = i;
  }
}

export interface AnnSearchOptions {
  /** Beam width (default: the index's ef). Raised to k when smaller. */
  ef?: number;
  /** Only these ids may be returned (ids, or an AnnFilter from index.filter(ids) to skip the id lookups). */
  allow?: Iterable<Id> | AnnFilter;
  /** These ids are never returned. */
  deny?: Iterable<Id> | AnnFilter;
  /** Overrides the index's exactThreshold for this search. */
  exactThreshold?: number;
}

export interface AnnBatchOptions extends AnnSearchOptions {
  threads?: number;
  signal?: AbortSignal;
}

/** Neighbours of one query, closest first. */
export interface Neighbors {
  ids: Id[];
  /** IdMap indices of the ids. */
  labels: Int32Array;
  distances: Float32Array;
}

/** Neighbours of many queries: row r is labels[r*k .. r*k+k), padded with -1 / +Infinity. */
export interface BatchNeighbors {
  k: number;
  labels: Int32Array;
  distances: Float32Array;
}

// ---- shared argument handling ------------------------------------------------

/** Flatten vectors to one Float32Array of n rows of `dim`. */
export function flattenVectors(name: string, vectors: unknown, dim: number): Float32Array {
  if (vectors instanceof Float32Array) {
    if (vectors.length % dim !== 0) {
      throw new DimensionMismatchError(`${name}: a flat Float32Array of length ${vectors.length} is not a whole number of rows of dimension ${dim}`);
    }
    return vectors;
  }
  if (Array.isArray(vectors)) {
    const out = new Float32Array(vectors.length * dim);
    vectors.forEach((row: unknown, i: number) => {
      if (!(row instanceof Float32Array)) throw v.invalid(`${name}[${i}]`, 'a Float32Array', row);
      if (row.length !== dim) throw new DimensionMismatchError(`${name}[${i}]: expected ${dim} numbers but received ${row.length}`);
      out.set(row, i * dim);
    });
    return out;
  }
  throw v.invalid(name, 'a Float32Array (rows one after another) or an array of Float32Arrays', vectors);
}

function withSignal<T>(promise: CancellablePromise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) promise.cancel();
  const onAbort = () => promise.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  return promise.finally(() => signal.removeEventListener('abort', onAbort));
}

function queryArg(query: unknown, dim: number): Float32Array {
  if (!(query instanceof Float32Array)) throw v.invalid('query', `a Float32Array of length ${dim}`, query);
  if (query.length !== dim) throw new DimensionMismatchError(`query: expected ${dim} numbers but received ${query.length}`);
  return query;
}

function kArg(k: unknown): number {
  return v.integer('k', k, 0, 1 << 24);
}

// ---- HNSW --------------------------------------------------------------------

/** The default options object of search(): recognised by identity, so the common call skips option checks. */
const NO_OPTIONS: AnnSearchOptions = Object.freeze({});

const HNSW_OPTIONS = ['metric', 'M', 'efConstruction', 'ef', 'seed', 'capacity', 'mipsTransform', 'maxNorm', 'exactThreshold', 'storage'] as const;

/** An HNSW graph index (Malkov & Yashunin 2018) over float32 vectors. */
export class HnswIndex {
  /** The ids of the items, ever added (removed ids keep their index). */
  readonly idMap: IdMap;
  readonly dim: number;
  readonly metric: AnnMetric;
  /** Default beam width of searches. */
  ef: number;
  /** Default exact-scan threshold (share of items allowed by a filter). */
  exactThreshold: number;
  private readonly handle: NativeHandle;
  /** Output arrays of the unfiltered single-query path, reused by every call. */
  private outLabels = new Int32Array(16);
  private outDistances = new Float32Array(16);

  private constructor(handle: NativeHandle, dim: number, metric: AnnMetric, idMap: IdMap, ef: number, exactThreshold: number) {
    this.handle = handle;
    this.dim = dim;
    this.metric = metric;
    this.idMap = idMap;
    this.ef = ef;
    this.exactThreshold = exactThreshold;
  }

  /** An empty index for vectors of `dim` numbers. */
  static create(dim: number, options: HnswOptions = {}): HnswIndex {
    v.knownOptions('options', options, HNSW_OPTIONS);
    v.integer('dim', dim, 1, 65535);
    const metric = v.oneOf('options.metric', options.metric ?? 'l2', METRICS);
    const M = v.integer('options.M', options.M ?? 16, 2, 256);
    const efc = v.integer('options.efConstruction', options.efConstruction ?? 200, 1, 1 << 20);
    const ef = v.integer('options.ef', options.ef ?? 64, 1, 1 << 20);
    const seed = v.integer('options.seed', options.seed ?? 42, 0, Number.MAX_SAFE_INTEGER);
    const capacity = v.integer('options.capacity', options.capacity ?? 0, 0, 2 ** 31 - 1);
    const mips = v.boolean('options.mipsTransform', options.mipsTransform ?? false);
    if (mips && metric !== 'ip') throw v.invalid('options.mipsTransform', "false unless metric is 'ip'", mips);
    const maxNorm = v.number('options.maxNorm', options.maxNorm ?? 0, 0);
    const exact = v.number('options.exactThreshold', options.exactThreshold ?? 0.1, 0, 1);
    const storage = v.oneOf('options.storage', options.storage ?? 'float32', ANN_STORAGES);
    const handle = callSync((n) => n.hnswCreate(dim, metric, M, efc, seed, mips, maxNorm, capacity, storage));
    return new HnswIndex(handle, dim, metric, new IdMap(), ef, exact);
  }

  /**
   * Build an index from vectors in one multithreaded call. `ids` default to
   * 0..n-1; an IdMap names row i by its id i.
   */
  static async build(vectors: Vectors, options: HnswOptions & AddOptions & { dim?: number; ids?: readonly Id[] | IdMap } = {}): Promise<HnswIndex> {
    const { threads, signal, onProgress, ids, dim: dimOpt, ...rest } = options;
    const dim = dimOpt ?? (Array.isArray(vectors) ? (vectors[0] as Float32Array | undefined)?.length : undefined);
    if (dim === undefined) throw v.invalid('options.dim', 'the vector dimension (needed for a flat Float32Array)', dimOpt);
    const flat = flattenVectors('vectors', vectors, dim);
    const n = flat.length / dim;
    const index = HnswIndex.create(dim, { ...rest, capacity: rest.capacity ?? n });
    const idList = ids instanceof IdMap ? ids.ids() : ids ?? Array.from({ length: n }, (_, i) => i);
    await index.add(idList, flat, { threads, signal, onProgress });
    return index;
  }

  /** Live items. */
  get size(): number {
    return this.info().size;
  }

  /** Sizes and parameters, including the bytes the index holds. */
  info(): { size: number; slots: number; capacity: number; dim: number; metric: string; M: number; efConstruction: number; memoryBytes: number; maxNorm: number; mipsTransform: boolean; storage: AnnStorage } {
    return callSync((n) => n.hnswInfo(this.handle));
  }

  private labelsFor(ids: readonly Id[], count: number): Int32Array {
    if (!Array.isArray(ids)) throw v.invalid('ids', 'an array of ids', ids);
    if (ids.length !== count) throw new DimensionMismatchError(`ids: expected one id per vector (${count}) but received ${ids.length}`);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) labels[i] = this.idMap.add(ids[i]!);
    return labels;
  }

  /**
   * A copy of this index with the same graph (links, ids, removed items, search
   * defaults) whose vectors are stored as `storage`, converted from this index's
   * stored vectors, off the JS thread. E.g. build from float32 vectors, serve an
   * int8 copy; or compare storages on one graph.
   */
  async withStorage(storage: AnnStorage): Promise<HnswIndex> {
    const s = v.oneOf('storage', storage, ANN_STORAGES);
    const handle = await callAsync((n) => n.hnswWithStorage(this.handle, s));
    return new HnswIndex(handle, this.dim, this.metric, IdMap.from(this.idMap.ids()), this.ef, this.exactThreshold);
  }

  /** Add (or replace) items, linking them on native threads. */
  async add(ids: readonly Id[], vectors: Vectors, options: AddOptions = {}): Promise<void> {
    v.knownOptions('options', options, ['threads', 'signal', 'onProgress']);
    const flat = flattenVectors('vectors', vectors, this.dim);
    const labels = this.labelsFor(ids, flat.length / this.dim);
    const threads = v.threads(options.threads);
    const signal = v.abortSignal('options.signal', options.signal);
    const onProgress = options.onProgress === undefined ? null : (v.func('options.onProgress', options.onProgress) as (d: number) => void);
    await callAsync((n) => withSignal(n.hnswAdd(this.handle, flat, labels, threads, onProgress), signal));
  }

  /** Add (or replace) one item synchronously (cheap for single items). */
  addOne(id: Id, vector: Float32Array): void {
    const q = queryArg(vector, this.dim);
    const labels = this.labelsFor([id], 1);
    callSync((n) => n.hnswAddSync(this.handle, q, labels));
  }

  /** Mark an item deleted (its slot is reused by later adds). False if absent. */
  remove(id: Id): boolean {
    const label = this.idMap.index(id);
    return label === undefined ? false : callSync((n) => n.hnswRemove(this.handle, label));
  }

  has(id: Id): boolean {
    const label = this.idMap.index(id);
    return label !== undefined && callSync((n) => n.hnswContains(this.handle, label));
  }

  /** The stored vector of an id (cosine: normalized), or undefined. */
  vector(id: Id): Float32Array | undefined {
    const label = this.idMap.index(id);
    if (label === undefined) return undefined;
    return callSync((n) => n.hnswGetVector(this.handle, label)) ?? undefined;
  }

  /** Resolve ids to labels once, for filters used by many searches. Unknown ids are dropped. */
  filter(ids: Iterable<Id>): AnnFilter {
    return new AnnFilter(resolveFilter(this.idMap, 'ids', ids) ?? new Int32Array(0));
  }


  private resolveSearch(options: AnnSearchOptions, k: number) {
    const ef = v.integer('options.ef', options.ef ?? this.ef, 1, 1 << 20);
    const exact = v.number('options.exactThreshold', options.exactThreshold ?? this.exactThreshold, 0, 1);
    return {
      ef: Math.max(ef, k),
      exact,
      allow: resolveFilter(this.idMap, 'options.allow', options.allow),
      deny: resolveFilter(this.idMap, 'options.deny', options.deny),
    };
  }

  private neighbors(r: NativeNeighbors): Neighbors {
    return { ids: this.idMap.idsOf(r.labels), labels: r.labels, distances: r.distances };
  }

  /** The k nearest items of one query (synchronous: microseconds). Fewer when fewer are reachable or allowed. */
  search(query: Float32Array, k = 10, options: AnnSearchOptions = NO_OPTIONS): Neighbors & { path: 'graph' | 'filtered-graph' | 'exact' } {
    if (options !== NO_OPTIONS) v.knownOptions('options', options, ['ef', 'allow', 'deny', 'exactThreshold']);
    const q = queryArg(query, this.dim);
    k = kArg(k);
    if (options.allow === undefined && options.deny === undefined) return this.searchUnfiltered(q, k, options.ef);
    const o = this.resolveSearch(options, k);
    const r = callSync((n) => n.hnswSearch(this.handle, q, k, o.ef, o.allow, o.deny, o.exact));
    return { ...this.neighbors(r), path: r.path };
  }

  /**
   * The common case on its own path: the native call writes into arrays this
   * index keeps (no result object or typed arrays made in C++, which cost
   * more than a small search) and small copies are made here.
   */
  private searchUnfiltered(q: Float32Array, k: number, efOption: number | undefined): Neighbors & { path: 'graph' } {
    const ef = efOption === undefined ? this.ef : v.integer('options.ef', efOption, 1, 1 << 20);
    const r = this.searchInto(q, k, ef);
    return { ids: this.idMap.idsOf(r.labels), labels: r.labels, distances: r.distances, path: 'graph' };
  }

  private searchInto(q: Float32Array, k: number, ef: number): NativeNeighbors {
    if (this.outLabels.length < k) {
      this.outLabels = new Int32Array(k);
      this.outDistances = new Float32Array(k);
    }
    const n = callSync((nb) => nb.hnswSearchInto(this.handle, q, k, Math.max(ef, k), this.outLabels, this.outDistances));
    return { labels: this.outLabels.slice(0, n), distances: this.outDistances.slice(0, n) };
  }

  /**
   * The request-path search: labels in, labels out, no id mapping and no
   * option checks (the caller validated the query's length and the filters).
   * Serving one query per request, those checks cost as much as a cheap search.
   */
  searchLabels(query: Float32Array, k: number, ef: number, allow: Int32Array | null, deny: Int32Array | null): NativeNeighbors {
    if (allow === null && deny === null) return this.searchInto(query, k, ef);
    return callSync((n) => n.hnswSearch(this.handle, query, k, Math.max(ef, k), allow, deny, this.exactThreshold));
  }

  /**
   * AnnScorer's request step (native/core/ann/rescored_topk.hpp): search, deny-list, exact
   * re-scoring from `itemFactors`, best first into `outItems`/`outScores`; returns the count.
   * The caller (AnnScorer) has validated everything.
   */
  rescoredTopKInto(user: Float32Array, k: number, fetch: number, allow: Int32Array | null, deny: Int32Array | null, itemFactors: Float32Array, itemBias: Float32Array | null, labelItem: Int32Array | null, outItems: Int32Array, outScores: Float32Array, order: NativeHandle | null = null): number {
    return callSync((n) => n.hnswRescoredTopK(this.handle, user, k, fetch, this.ef, allow, deny, this.exactThreshold, itemFactors, itemBias, labelItem, outItems, outScores, order));
  }

  /** Exact k nearest among the live (and allowed) items: the ground truth. */
  searchExact(query: Float32Array, k = 10, options: Pick<AnnSearchOptions, 'allow' | 'deny'> = {}): Neighbors {
    v.knownOptions('options', options, ['allow', 'deny']);
    const q = queryArg(query, this.dim);
    k = kArg(k);
    const allow = resolveFilter(this.idMap, 'options.allow', options.allow);
    const deny = resolveFilter(this.idMap, 'options.deny', options.deny);
    return this.neighbors(callSync((n) => n.hnswSearchExact(this.handle, q, k, allow, deny)));
  }

  /** Many queries on native threads. */
  async searchMany(queries: Vectors, k = 10, options: AnnBatchOptions = {}): Promise<BatchNeighbors> {
    v.knownOptions('options', options, ['ef', 'allow', 'deny', 'exactThreshold', 'threads', 'signal']);
    const flat = flattenVectors('queries', queries, this.dim);
    k = kArg(k);
    const o = this.resolveSearch(options, k);
    const threads = v.threads(options.threads);
    const signal = v.abortSignal('options.signal', options.signal);
    const r = await callAsync((n) => withSignal(n.hnswSearchMany(this.handle, flat, k, o.ef, o.allow, o.deny, o.exact, threads), signal));
    return { k, labels: r.labels, distances: r.distances };
  }

  /** The META section of the saved form: ids and search defaults. */
  private meta(): Uint8Array {
    return encodeIndexMeta({ dim: this.dim, metric: this.metric, ef: this.ef, exactThreshold: this.exactThreshold, ids: this.idMap.ids() });
  }

  /**
   * Save to `path`: one versioned file with per-section checksums holding the
   * graph, the vectors, the ids and the search defaults (written beside the
   * target and renamed into place).
   */
  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path === '') throw v.invalid('path', 'a file path', path);
    const meta = this.meta();
    await callAsync((n) => n.hnswSave(this.handle, path, meta));
  }

  /** The saved form in memory (the same bytes {@link save} writes), e.g. to embed the index in another file. */
  async toBytes(): Promise<Uint8Array> {
    const meta = this.meta();
    return callAsync((n) => n.hnswToBytes(this.handle, meta));
  }

  /** Load a saved index; memory-mapped by default (fast start-up, pages read on demand). */
  static async load(path: string, options: { mmap?: boolean } = {}): Promise<HnswIndex> {
    if (typeof path !== 'string' || path === '') throw v.invalid('path', 'a file path', path);
    v.knownOptions('options', options, ['mmap']);
    const mmap = v.boolean('options.mmap', options.mmap ?? true);
    const r = await callAsync((n) => n.hnswLoad(path, mmap));
    return HnswIndex.adopt(r.handle, r.meta, `HNSW index file '${path}'`);
  }

  /**
   * An index from the bytes of {@link toBytes} (or of a saved file). By default
   * the bytes are used in place, without copying the graph and vectors (e.g. a
   * view into a memory-mapped model file): the index keeps them referenced, never
   * writes to them (its first add or remove copies them), and they must not be
   * modified while the index lives. `copy: true` copies them instead.
   */
  static async fromBytes(bytes: Uint8Array, options: { copy?: boolean } = {}): Promise<HnswIndex> {
    if (!(bytes instanceof Uint8Array)) throw v.invalid('bytes', 'a Uint8Array', bytes);
    v.knownOptions('options', options, ['copy']);
    const copy = v.boolean('options.copy', options.copy ?? false);
    const r = await callAsync((n) => n.hnswFromBytes(bytes, !copy));
    return HnswIndex.adopt(r.handle, r.meta, 'HNSW index bytes');
  }

  private static adopt(handle: NativeHandle, metaBytes: Uint8Array, source: string): HnswIndex {
    const info = callSync((n) => n.hnswInfo(handle));
    const meta = decodeIndexMeta(metaBytes, source, { dim: info.dim, metric: info.metric });
    if (info.labelEnd > meta.idMap.size) throw new CorruptFileError(`corrupt ${source}: the graph has labels up to ${info.labelEnd - 1} but only ${meta.idMap.size} ids`);
    return new HnswIndex(handle, info.dim, info.metric as AnnMetric, meta.idMap, meta.ef, meta.exactThreshold);
  }
}

// ---- exact index -------------------------------------------------------------

/**
 * Collections at least this large are partitioned for exact pruning by
 * {@link ExactIndex.build} with `prune: 'auto'` (see bench/README.md, "Exact top-k":
 * the partition costs about one brute-force batch of a few hundred queries and
 * made clustered collections several times faster, uniform ones no slower).
 */
export const EXACT_AUTO_PRUNE_MIN = 50_000;
/** Stored rows searched as queries by build() with prune 'auto' to decide whether pruning pays. */
const EXACT_AUTO_PROBES = 64;

export interface ExactIndexOptions {
  metric?: AnnMetric;
  /**
   * Exact pruning: items are clustered into blocks with a centre and radius, and
   * a search skips every block whose score bound (Cauchy-Schwarz / triangle
   * inequality, with a margin for float rounding) is below its current k-th best,
   * so results stay exactly those of the full scan. true: build() and optimize()
   * partition and searches prune; false: never; 'auto' (default): build()
   * partitions collections of at least {@link EXACT_AUTO_PRUNE_MIN} items and keeps
   * pruning on only if 64 stored rows searched as queries scored at most half the
   * items (see {@link ExactIndex.pruning}).
   */
  prune?: boolean | 'auto';
  /** Items per block of the partition (default 512). */
  blockSize?: number;
}

export interface ExactSearchOptions {
  threads?: number;
  /** Only these ids may be returned (ids, or an AnnFilter from index.filter(ids)); an allow-list of at most 1/16 of the items scans just those. */
  allow?: Iterable<Id> | AnnFilter;
  /** These ids are never returned. */
  deny?: Iterable<Id> | AnnFilter;
  /** Use the partition's bounds (default {@link ExactIndex.pruning}; false scans every item, e.g. to compare). */
  prune?: boolean;
}

/** Results of {@link ExactIndex.search} with the work done. */
export type ExactNeighbors = Neighbors & {
  /** Item scores computed (the collection's size for a full scan; fewer when pruning skipped blocks). */
  scored: number;
};

/** Results of {@link ExactIndex.searchMany} with the work done. */
export type ExactBatchNeighbors = BatchNeighbors & {
  /** Query x item scores computed over the batch (queries x size for a full scan). */
  scored: number;
};

const EXACT_OPTIONS = ['metric', 'prune', 'blockSize'] as const;

/**
 * Exact nearest neighbours: one query streams the items at memory bandwidth
 * (split over threads for large collections), batches run a register-blocked
 * queries x items kernel fused with top-k. After {@link ExactIndex.optimize}
 * (or {@link ExactIndex.build}) searches skip blocks that provably cannot hold a
 * result. Append-only; items added after optimize() are always scanned.
 */
export class ExactIndex {
  readonly idMap = new IdMap();
  readonly dim: number;
  readonly metric: AnnMetric;
  readonly prune: boolean | 'auto';
  readonly blockSize: number;
  private readonly handle: NativeHandle;
  private rowIds: Id[] = [];
  private busy = 0;
  private partitioning = false;
  private pruneByDefault = true;

  constructor(dim: number, options: ExactIndexOptions = {}) {
    v.knownOptions('options', options, EXACT_OPTIONS);
    this.dim = v.integer('dim', dim, 1, 65535);
    this.metric = v.oneOf('options.metric', options.metric ?? 'l2', METRICS);
    const prune = options.prune ?? 'auto';
    if (prune !== true && prune !== false && prune !== 'auto') throw v.invalid('options.prune', "true, false or 'auto'", prune);
    this.prune = prune;
    this.blockSize = v.integer('options.blockSize', options.blockSize ?? 512, 16, 1 << 24);
    this.handle = callSync((n) => n.flatCreate(dim, this.metric));
  }

  /**
   * An index over `vectors` (ids default to 0..n-1), partitioned for pruning
   * off the JS thread when `prune` is true, or 'auto' and the collection is large.
   */
  static async build(
    vectors: Vectors,
    options: ExactIndexOptions & { dim?: number; ids?: readonly Id[] | IdMap; threads?: number; signal?: AbortSignal } = {},
  ): Promise<ExactIndex> {
    v.knownOptions('options', options, [...EXACT_OPTIONS, 'dim', 'ids', 'threads', 'signal']);
    const { ids, dim: dimOpt, threads, signal, ...rest } = options;
    const dim = dimOpt ?? (Array.isArray(vectors) ? (vectors[0] as Float32Array | undefined)?.length : undefined);
    if (dim === undefined) throw v.invalid('options.dim', 'the vector dimension (needed for a flat Float32Array)', dimOpt);
    const flat = flattenVectors('vectors', vectors, dim);
    const n = flat.length / dim;
    const index = new ExactIndex(dim, rest);
    index.add(ids instanceof IdMap ? ids.ids() : ids ?? Array.from({ length: n }, (_, i) => i), flat);
    if (index.prune === true || (index.prune === 'auto' && n >= EXACT_AUTO_PRUNE_MIN)) {
      await index.optimize({ threads, signal });
      if (index.prune === 'auto') await index.checkPruning(flat, threads, signal);
    }
    return index;
  }

  get size(): number {
    return this.rowIds.length;
  }

  /** Blocks of the partition (0 before optimize()). */
  get blocks(): number {
    return callSync((n) => n.flatInfo(this.handle)).blocks;
  }

  /** Sizes, including the bytes the index holds. */
  info(): { size: number; dim: number; metric: string; memoryBytes: number; blocks: number } {
    return callSync((n) => n.flatInfo(this.handle));
  }

  /**
   * 'auto': keep pruning on only if it saves at least half the work for queries
   * like the data (EXACT_AUTO_PROBES stored rows as queries). Where the data has
   * no structure (uniform) the bounds cut almost nothing and cost a little.
   */
  private async checkPruning(flat: Float32Array, threads: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    const n = flat.length / this.dim;
    const probes = Math.min(n, EXACT_AUTO_PROBES);
    const queries = new Float32Array(probes * this.dim);
    for (let i = 0; i < probes; i++) {
      const r = Math.floor((i * n) / probes);
      queries.set(flat.subarray(r * this.dim, (r + 1) * this.dim), i * this.dim);
    }
    const r = await this.searchMany(queries, 10, { threads, signal, prune: true });
    this.pruneByDefault = r.scored <= 0.5 * probes * n;
  }

  /** Whether searches use the partition's bounds unless told otherwise. */
  get pruning(): boolean {
    return this.pruneByDefault && this.prune !== false && this.blocks > 0;
  }

  private checkIdle(what: string): void {
    if (this.partitioning) throw new InvalidArgumentError(`ExactIndex.${what}: cannot run while optimize() is partitioning the index; await it first`);
  }

  /** Append items (ids must be new). */
  add(ids: readonly Id[], vectors: Vectors): void {
    this.checkIdle('add');
    if (this.busy) throw new InvalidArgumentError('ExactIndex.add: cannot add while a searchMany() is running; await it first');
    const flat = flattenVectors('vectors', vectors, this.dim);
    const n = flat.length / this.dim;
    if (!Array.isArray(ids) || ids.length !== n) throw new DimensionMismatchError(`ids: expected one id per vector (${n}) but received ${Array.isArray(ids) ? ids.length : typeof ids}`);
    const seen = new Set<Id>();
    for (const id of ids) {
      if (this.idMap.has(id) || seen.has(id)) throw v.invalid('ids', 'ids not already in the index', id);
      seen.add(id);
    }
    callSync((x) => x.flatAdd(this.handle, flat));
    for (const id of ids) {
      this.idMap.add(id);
      this.rowIds.push(id);
    }
  }

  /**
   * Partition every item into blocks (the leaves of a ball tree built by recursive
   * 2-means splits) so that searches can prune; re-partitions from scratch when
   * called again. Resolves with the number of blocks.
   */
  async optimize(options: { threads?: number; signal?: AbortSignal; seed?: number } = {}): Promise<number> {
    v.knownOptions('options', options, ['threads', 'signal', 'seed']);
    const threads = v.threads(options.threads);
    const signal = v.abortSignal('options.signal', options.signal);
    const seed = v.integer('options.seed', options.seed ?? 1, 0, 2 ** 32 - 1);
    this.checkIdle('optimize');
    if (this.busy) throw new InvalidArgumentError('ExactIndex.optimize: cannot partition while a searchMany() is running; await it first');
    this.partitioning = true;
    try {
      const blocks = await callAsync((n) => withSignal(n.flatPartition(this.handle, this.blockSize, threads, seed), signal));
      this.pruneByDefault = true;
      return blocks;
    } finally {
      this.partitioning = false;
    }
  }

  /** Resolve ids to labels once, for filters used by many searches. Unknown ids are dropped. */
  filter(ids: Iterable<Id>): AnnFilter {
    return new AnnFilter(resolveFilter(this.idMap, 'ids', ids) ?? new Int32Array(0));
  }


  private searchArgs(options: ExactSearchOptions, defaultThreads: number | undefined) {
    const threads = defaultThreads === undefined ? v.threads(options.threads) : v.integer('options.threads', options.threads ?? defaultThreads, 0, 1024);
    const prune = options.prune ?? this.pruneByDefault;
    if (typeof prune !== 'boolean') throw v.invalid('options.prune', 'a boolean', prune);
    const allow = resolveFilter(this.idMap, 'options.allow', options.allow);
    const deny = resolveFilter(this.idMap, 'options.deny', options.deny);
    return { threads, prune: prune && this.prune !== false, allow, deny };
  }

  /** The k nearest items of one query (synchronous; threads default 1). */
  search(query: Float32Array, k = 10, options: ExactSearchOptions = {}): ExactNeighbors {
    v.knownOptions('options', options, ['threads', 'prune', 'allow', 'deny']);
    const q = queryArg(query, this.dim);
    k = kArg(k);
    const { threads, prune, allow, deny } = this.searchArgs(options, 1);
    this.checkIdle('search');
    const r = callSync((n) => n.flatSearch(this.handle, q, k, threads, prune, allow, deny));
    return { ids: this.idMap.idsOf(r.labels), labels: r.labels, distances: r.distances, scored: r.scored };
  }

  /** Many queries on native threads: row r is labels[r*k .. r*k+k), padded with -1 / +Infinity. */
  async searchMany(queries: Vectors, k = 10, options: ExactSearchOptions & { signal?: AbortSignal } = {}): Promise<ExactBatchNeighbors> {
    v.knownOptions('options', options, ['threads', 'signal', 'prune', 'allow', 'deny']);
    const flat = flattenVectors('queries', queries, this.dim);
    k = kArg(k);
    const { threads, prune, allow, deny } = this.searchArgs(options, undefined);
    const signal = v.abortSignal('options.signal', options.signal);
    this.checkIdle('searchMany');
    this.busy++;
    try {
      const r = await callAsync((n) => withSignal(n.flatSearchMany(this.handle, flat, k, threads, prune, allow, deny), signal));
      return { k, labels: r.labels, distances: r.distances, scored: r.scored };
    } finally {
      this.busy--;
    }
  }
}

// ---- recommending through the index --------------------------------------------

export interface AnnScorerOptions {
  /** Links per node (default 16). */
  M?: number;
  /** Build beam width (default 200). */
  efConstruction?: number;
  /** Search beam width (default 100). */
  ef?: number;
  /**
   * Inner product through the Euclidean transform (default false: on real ALS factors the native
   * inner-product graph reached higher recall per query cost, see bench/README.md).
   */
  mipsTransform?: boolean;
  /** Candidates fetched per result before exact re-scoring (default 2: 2k candidates). */
  oversample?: number;
  /** Vector storage in the index (default 'float16': candidates are re-scored from the float32 factors anyway). */
  storage?: AnnStorage;
  /**
   * Try an exact scan of the items by decreasing norm before the graph (default true): see
   * {@link AnnScorer}. false: always the graph.
   */
  normScan?: boolean;
  threads?: number;
  signal?: AbortSignal;
  seed?: number;
}

/** Top items as dense indices and exact scores, best first. */
export interface ScoredItems {
  indices: Int32Array;
  scores: Float32Array;
}

/**
 * Maximum-inner-product recommendation through an HNSW index: score(u, i) =
 * <u, v_i> (+ bias_i). The index holds [v_i, bias_i] and queries are [u, 1],
 * so a bias folds into the inner product. Seen / excluded items go into the
 * native deny-list (never a JS callback), an include list into the allow-list;
 * k * oversample candidates come back and are re-scored exactly, best k kept.
 *
 * Before the graph (unless `normScan: false` or with an include list), the
 * items are scanned exactly in decreasing norm until |u'| |v_i'| (an upper
 * bound of every later score) falls below the k-th best: matrix factorization
 * gives popular items large norms, so for most users that settles the exact
 * answer within the first few hundred items, faster than the graph's
 * approximate one. A scan that needs more than 4,096 items (an eighth of a
 * smaller catalog) gives way to the graph (scoring/norm_scan.hpp;
 * bench/README.md, HTTP service section).
 */
export class AnnScorer {
  readonly index: HnswIndex;
  /** The item factors indexed (models compare it with their current array to detect a refit). */
  readonly itemFactors: Float32Array;
  private readonly dim: number;
  private readonly bias: Float32Array | undefined;
  private readonly oversample: number;
  /** The items by decreasing norm for the exact scan, or null (not built yet, normScan false, or a norm not finite). */
  private order: NativeHandle | null = null;
  /**
   * Resolves once the exact scan is in use (its order is built off the JS thread: 24 ms per 100,000
   * items). `build()` waits for it; after `fromIndex()`, await it before serving, or the first answers
   * come from the graph alone.
   */
  readonly ready: Promise<void>;

  /** Item index of each label, or null when labels are the item indices (an index built by {@link build}). */
  private readonly labelItem: Int32Array | null;
  private denyBuf = new Int32Array(64);
  /** recommendInto's results (the first `count` entries of its last call). */
  outItems = new Int32Array(16);
  outScores = new Float32Array(16);

  private constructor(index: HnswIndex, items: Float32Array, dim: number, bias: Float32Array | undefined, oversample: number, normScan: boolean) {
    this.index = index;
    this.itemFactors = items;
    this.dim = dim;
    this.bias = bias;
    this.oversample = oversample;
    this.ready = normScan
      ? callAsync((n) => n.normOrder(items, bias ?? null, dim, 0)).then(
          (h) => void (this.order = h),
          () => undefined, // no order: the graph answers, as with normScan false
        )
      : Promise.resolve();
    const ids = index.idMap.ids();
    let identity = true;
    for (let i = 0; i < ids.length && identity; i++) identity = ids[i] === i;
    this.labelItem = identity ? null : Int32Array.from(ids as number[]);
  }

  /**
   * How the exact scan in decreasing norm has done for this scorer so far:
   * queries it was tried for, those it answered exactly (the rest went to the
   * graph) and the items those read in all; null while no order is in use
   * (normScan false, not built yet, or a norm not finite). A model whose
   * norms say little about its users' best items shows a low settled share.
   */
  scanStats(): { scans: number; settled: number; itemsRead: number } | null {
    const order = this.order;
    return order ? callSync((n) => n.normOrderStats(order)) : null;
  }

  /** Candidates fetched per result before exact re-scoring. */
  get oversampleFactor(): number {
    return this.oversample;
  }

  /**
   * A scorer over an index built earlier (e.g. loaded from a model file with
   * HnswIndex.fromBytes): its ids must be item indices and its vectors the
   * factors (plus the bias as a last coordinate when there is one).
   */
  static fromIndex(index: HnswIndex, itemFactors: Float32Array, dim: number, options: { itemBias?: Float32Array; oversample?: number; normScan?: boolean } = {}): AnnScorer {
    if (!(index instanceof HnswIndex)) throw v.invalid('index', 'an HnswIndex', index);
    if (!(itemFactors instanceof Float32Array)) throw v.invalid('itemFactors', 'a Float32Array', itemFactors);
    v.integer('dim', dim, 1, 65534);
    if (itemFactors.length % dim !== 0) throw new DimensionMismatchError(`itemFactors: length ${itemFactors.length} is not a multiple of dim ${dim}`);
    const n = itemFactors.length / dim;
    const bias = options.itemBias;
    if (bias !== undefined && (!(bias instanceof Float32Array) || bias.length !== n)) throw v.invalid('options.itemBias', `a Float32Array of length ${n}`, bias);
    const want = bias ? dim + 1 : dim;
    if (index.dim !== want) throw new DimensionMismatchError(`index: expected vectors of ${want} numbers (the factors${bias ? ' and the bias' : ''}) but the index holds ${index.dim}`);
    if (index.metric !== 'ip') throw v.invalid('index.metric', "'ip'", index.metric);
    const ids = index.idMap.ids();
    if (ids.length !== n) throw new DimensionMismatchError(`index: holds ${ids.length} items; the factors have ${n}`);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= n) throw v.invalid(`index id #${i}`, `an item index in [0, ${n})`, id);
    }
    return new AnnScorer(index, itemFactors, dim, bias, v.number('options.oversample', options.oversample ?? 2, 1, 1000), v.boolean('options.normScan', options.normScan ?? true));
  }

  /** Index item factors (n x dim, row-major) with an optional item bias. */
  static async build(itemFactors: Float32Array, dim: number, options: AnnScorerOptions & { itemBias?: Float32Array } = {}): Promise<AnnScorer> {
    v.knownOptions('options', options, ['M', 'efConstruction', 'ef', 'mipsTransform', 'oversample', 'threads', 'signal', 'seed', 'itemBias', 'storage', 'normScan']);
    if (!(itemFactors instanceof Float32Array)) throw v.invalid('itemFactors', 'a Float32Array', itemFactors);
    v.integer('dim', dim, 1, 65534);
    if (itemFactors.length % dim !== 0) throw new DimensionMismatchError(`itemFactors: length ${itemFactors.length} is not a multiple of dim ${dim}`);
    const n = itemFactors.length / dim;
    const bias = options.itemBias;
    if (bias !== undefined && (!(bias instanceof Float32Array) || bias.length !== n)) throw v.invalid('options.itemBias', `a Float32Array of length ${n}`, bias);
    const oversample = v.number('options.oversample', options.oversample ?? 2, 1, 1000);
    const normScan = v.boolean('options.normScan', options.normScan ?? true);
    const d = bias ? dim + 1 : dim;
    let vectors = itemFactors;
    if (bias) {
      vectors = new Float32Array(n * d);
      for (let i = 0; i < n; i++) {
        vectors.set(itemFactors.subarray(i * dim, (i + 1) * dim), i * d);
        vectors[i * d + dim] = bias[i]!;
      }
    }
    const index = await HnswIndex.build(vectors, {
      dim: d,
      metric: 'ip',
      mipsTransform: options.mipsTransform ?? false,
      M: options.M ?? 16,
      efConstruction: options.efConstruction ?? 200,
      ef: options.ef ?? 100,
      seed: options.seed ?? 42,
      storage: options.storage ?? 'float16',
      threads: options.threads,
      signal: options.signal,
    });
    const scorer = new AnnScorer(index, itemFactors, dim, bias, oversample, normScan);
    await scorer.ready;
    return scorer;
  }

  /**
   * The best k items for a user vector. `seen` and `exclude` are item indices
   * never returned; `include` (if given) the only ones allowed.
   */
  recommend(user: Float32Array, k: number, filters: { seen?: ArrayLike<number> | null; exclude?: ArrayLike<number> | null; include?: ArrayLike<number> | null } = {}): ScoredItems {
    const n = this.recommendInto(user, k, filters);
    return { indices: this.outItems.slice(0, n), scores: this.outScores.slice(0, n) };
  }

  /**
   * {@link recommend} into this scorer's own output arrays, `outItems` and
   * `outScores` (valid until its next call; the first `count` entries):
   * a request path that formats the answer right away allocates nothing.
   * Short deny lists (a user's seen items) are dropped after an unfiltered
   * search for fetch + |deny| candidates, cheaper than a filter bitmap over
   * every item; candidates are re-scored exactly (float16 storage and the
   * transform lose a little precision). One native call: rescored_topk.hpp.
   */
  recommendInto(user: Float32Array, k: number, filters: { seen?: ArrayLike<number> | null; exclude?: ArrayLike<number> | null; include?: ArrayLike<number> | null } = {}): number {
    if (!(user instanceof Float32Array) || user.length !== this.dim) throw v.invalid('user', `a Float32Array of length ${this.dim}`, user);
    k = kArg(k);
    const seen = filters.seen;
    // Labels are the item indices (an index built by build()): a typed seen list is already the deny list.
    const deny = this.labelItem === null && seen instanceof Int32Array && !filters.exclude?.length ? seen : this.denyList(seen, filters.exclude);
    const allow = filters.include ? this.toLabels(filters.include) : null;
    const fetch = Math.max(k, Math.ceil(k * this.oversample));
    if (this.outItems.length < k) {
      this.outItems = new Int32Array(k);
      this.outScores = new Float32Array(k);
    }
    return this.index.rescoredTopKInto(user, k, fetch, allow, deny, this.itemFactors, this.bias ?? null, this.labelItem, this.outItems, this.outScores, this.order);
  }

  /** Item indices as index labels (unknown ones dropped). */
  private toLabels(items: ArrayLike<number>): Int32Array {
    const out = new Int32Array(items.length);
    const map = this.labelItem ? this.index.idMap : null;
    let n = 0;
    for (let j = 0; j < items.length; j++) {
      const label = map ? map.index(items[j]!) : items[j]!;
      if (label !== undefined) out[n++] = label;
    }
    return out.subarray(0, n);
  }

  /** Seen and excluded items as one label list, in a buffer reused across calls (the native search copies it into its filter). */
  private denyList(a?: ArrayLike<number> | null, b?: ArrayLike<number> | null): Int32Array | null {
    const na = a?.length ?? 0;
    const nb = b?.length ?? 0;
    if (na + nb === 0) return null;
    if (this.denyBuf.length < na + nb) this.denyBuf = new Int32Array(Math.max(na + nb, 2 * this.denyBuf.length));
    const buf = this.denyBuf;
    const map = this.labelItem ? this.index.idMap : null;
    let n = 0;
    for (let j = 0; j < na; j++) {
      const label = map ? map.index(a![j]!) : a![j]!;
      if (label !== undefined) buf[n++] = label;
    }
    for (let j = 0; j < nb; j++) {
      const label = map ? map.index(b![j]!) : b![j]!;
      if (label !== undefined) buf[n++] = label;
    }
    return buf.subarray(0, n);
  }
}

/** The first `keep` labels not in `sortedDeny`, in order (a new array). */
export function dropDenied(labels: Int32Array, sortedDeny: Int32Array, keep: number): Int32Array {
  const out = new Int32Array(Math.min(keep, labels.length));
  let n = 0;
  for (let c = 0; c < labels.length && n < out.length; c++) {
    const x = labels[c]!;
    let lo = 0;
    let hi = sortedDeny.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sortedDeny[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    if (lo < sortedDeny.length && sortedDeny[lo] === x) continue;
    out[n++] = x;
  }
  return out.subarray(0, n);
}

/**
 * A model's `recommend` through an AnnScorer: resolved options (as from
 * resolveRecommendOptions) in, Recommendations out. For factor models' use.
 */
export function annRecommend(scorer: AnnScorer, items: IdMap, userVector: Float32Array, seen: Int32Array | null, options: ResolvedOptions): Recommendations {
  const r = scorer.recommend(userVector, options.k, {
    seen: options.filterSeen ? seen : null,
    exclude: options.exclude,
    include: options.include,
  });
  return toRecommendations(items, r.indices, r.scores);
}

/** Options of a model's useAnnIndex(): the scorer's, validated here. */
export async function buildModelAnnScorer(itemFactors: Float32Array, dim: number, itemBias: Float32Array | null | undefined, options: AnnScorerOptions): Promise<AnnScorer> {
  return AnnScorer.build(itemFactors, dim, { ...options, ...(itemBias ? { itemBias } : {}) });
}
