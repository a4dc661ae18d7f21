/**
 * What the native addon exports, exactly. Engines add their functions here
 * next to their C++ binding file (native/napi/<engine>_binding.cpp).
 * Arguments are validated in TypeScript before they reach these functions.
 */

/** A CSR matrix as it crosses the boundary: 64-bit row offsets, sorted 32-bit column indices, float32 values. */
export interface CsrArrays {
  rows: number;
  cols: number;
  indptr: BigInt64Array;
  indices: Int32Array;
  data: Float32Array;
}

export type CombineRule = 'sum' | 'max' | 'last';

export interface NativeBinding {
  simdLevel(): string;
  simdLevels(): string[];
  hardwareThreads(): number;
  cudaCompiled(): boolean;
  debugThrow(kind: string, async?: boolean): Promise<void> | undefined;

  csrFromCoo(
    rows: Int32Array,
    cols: Int32Array,
    values: Float32Array | null,
    nRows: number,
    nCols: number,
    combine: CombineRule,
    allowNegative: boolean,
    threads: number,
  ): Promise<CsrArrays>;
  csrTranspose(matrix: CsrArrays, threads: number): Promise<CsrArrays>;

  // ---- scoring (native/napi/scoring_binding.cpp) ----
  /** Top-k items for one user vector; results have length <= k. */
  factorTopK(
    user: Float32Array,
    items: Float32Array,
    dim: number,
    itemBias: Float32Array | null,
    seen: Int32Array | null,
    exclude: Int32Array | null,
    include: Int32Array | null,
    k: number,
    order?: NativeHandle | null,
  ): { indices: Int32Array; scores: Float32Array; scanned: boolean };
  /** Top-k for users[rows[r]]; rows.length * k results padded with -1 / -Infinity. */
  factorTopKMany(
    users: Float32Array,
    rows: Int32Array,
    items: Float32Array,
    dim: number,
    itemBias: Float32Array | null,
    seen: CsrArrays | null,
    exclude: Int32Array | null,
    include: Int32Array | null,
    k: number,
    threads: number,
    onProgress: ((usersDone: number) => void) | null,
    cancelFlag: Int32Array | null,
    order?: NativeHandle | null,
  ): Promise<{ indices: Int32Array; scores: Float32Array }>;
  // ---- svdknn: truncated SVD (native/napi/svd_binding.cpp) ----
  truncatedSvd(
    matrix: CsrArrays,
    k: number,
    oversample: number,
    powerIterations: number,
    center: boolean,
    seed: number,
    threads: number,
    onProgress: ((fraction: number) => void) | null,
    cancelFlag: Int32Array | null,
  ): Promise<{ u: Float32Array; s: Float32Array; vt: Float32Array; mean: Float32Array | null }>;
  // ---- end svdknn: truncated SVD ----

  // ---- svdknn: neighbourhood models (native/napi/knn_binding.cpp) ----
  /** Top-k neighbours of every row of x (xt = its transpose); rows of the result are sorted best first. */
  knnNeighbours(
    x: CsrArrays,
    xt: CsrArrays,
    k: number,
    similarity: 'cosine' | 'asymmetric' | 'dot',
    alpha: number,
    shrink: number,
    threads: number,
    onProgress: ((rowsDone: number) => void) | null,
    cancelFlag: Int32Array | null,
  ): Promise<{ indptr: BigInt64Array; indices: Int32Array; scores: Float32Array }>;
  /** Top-k rows of x most similar to one query vector (its features and values); `self` (or -1) is skipped. */
  knnQuery(
    xt: CsrArrays,
    sqNorms: Float64Array,
    features: Int32Array,
    values: Float32Array,
    self: number,
    k: number,
    similarity: 'cosine' | 'asymmetric' | 'dot',
    alpha: number,
    shrink: number,
  ): { indices: Int32Array; scores: Float32Array };
  /** score_j = sum_p weights[p] * m[sources[p], j]; top-k with filters (results may be fewer than k). */
  sparseTopK(
    m: CsrArrays,
    sources: Int32Array,
    weights: Float32Array | null,
    seen: Int32Array | null,
    exclude: Int32Array | null,
    include: Int32Array | null,
    k: number,
  ): { indices: Int32Array; scores: Float32Array };
  /** Row r: sources and weights from row rows[r] of `sources`, seen from row rows[r] of `seen`; padded with -1 / -Infinity. */
  sparseTopKMany(
    m: CsrArrays,
    sources: CsrArrays,
    rows: Int32Array,
    seen: CsrArrays | null,
    exclude: Int32Array | null,
    include: Int32Array | null,
    k: number,
    threads: number,
    onProgress: ((rowsDone: number) => void) | null,
    cancelFlag: Int32Array | null,
  ): Promise<{ indices: Int32Array; scores: Float32Array }>;
  // ---- end svdknn: neighbourhood models ----

  // ---- id maps (native/napi/idmap_binding.cpp): the bulk path of IdMap.addAll for string ids ----
  stringIndexNew(): object;
  /** Index every key (UTF-16 code units end to end, with lengths) into `out`; new keys are numbered from nextIndex. Returns the positions of new keys. */
  stringIndexIntern(index: object, text: Uint16Array, lens: Int32Array, nextIndex: number, out: Int32Array): Int32Array;
  /** Store keys with the indices they already have. */
  stringIndexInsert(index: object, text: Uint16Array, lens: Int32Array, indices: Int32Array): void;

  // ---- benchmark hooks (native/napi/bench_binding.cpp; used by bench/, not by the library) ----
  /** Time one kernel of one SIMD level (best of `reps` calls): seconds per call, bytes moved, flops. */
  benchKernel(level: string, kernel: 'dot' | 'axpy' | 'l2sq' | 'gemv' | 'gemm_nt', m: number, n: number, k: number, reps: number): Promise<{ seconds: number; bytes: number; flops: number }>;
  /** Memory bandwidth over a `bytes`-sized buffer (best of `reps`): read (sum) and copy (read + write) in GB/s. */
  benchMemory(bytes: number, reps: number): Promise<{ readGBs: number; copyGBs: number }>;
  // ---- als (native/napi/als_binding.cpp) ----
  alsFit(
    userItems: CsrArrays,
    itemUsers: CsrArrays,
    config: AlsNativeConfig,
    init: AlsNativeFactors | null,
    iterations: number,
    seed: number,
    threads: number,
    computeLoss: boolean,
    onProgress: ((p: { iteration: number; iterations: number; seconds: number; loss?: number }) => void) | null,
    cancelFlag: Int32Array | null,
  ): Promise<AlsNativeFactors & { loss: number | null; itemGram: Float32Array | null }>;
  alsSolveRows(
    matrix: CsrArrays,
    rows: Int32Array,
    side: AlsNativeSide & { target: Float32Array; targetBias: Float32Array | null },
    gram: Float32Array | null,
    config: AlsNativeConfig,
    exact: boolean,
    threads: number,
    cancelFlag: Int32Array | null,
  ): Promise<{ factors: Float32Array; bias: Float32Array | null }>;
  /** A fold-in prepared for one model (config checked, shared term padded); it keeps `side`'s arrays alive. */
  alsFoldInPlan(side: AlsNativeSide, gram: Float32Array | null, config: AlsNativeConfig): NativeHandle;
  alsFoldIn(plan: NativeHandle, indices: Int32Array, values: Float32Array): { factors: Float32Array; bias: number };
  alsExplain(indices: Int32Array, values: Float32Array, side: AlsNativeSide, gram: Float32Array | null, config: AlsNativeConfig, item: number): Float32Array;
  /** With `column`: the Gram matrix of [factors, column] ((dim + 1) squared; itemBias models). */
  alsGram(factors: Float32Array, dim: number, threads: number, column?: Float32Array): Float32Array;
  // ---- end als ----

  // ---- cli: memory-mapped model files (native/napi/mmap_binding.cpp) ----
  /** A read-only ArrayBuffer over the whole file (released when collected); null where mmap is unavailable or the file is empty. */
  mapFile(path: string): ArrayBuffer | null;
  // ---- end cli ----
  // ---- ann (HNSW; native/napi/ann_binding.cpp) ----
  hnswCreate(dim: number, metric: string, M: number, efConstruction: number, seed: number, mipsTransform: boolean, maxNorm: number, capacity: number, storage: 'float32' | 'float16' | 'int8'): NativeHandle;
  hnswInfo(index: NativeHandle): HnswNativeInfo;
  hnswAdd(index: NativeHandle, vectors: Float32Array, labels: Int32Array, threads: number, onProgress: ((done: number) => void) | null): CancellablePromise<void>;
  hnswAddSync(index: NativeHandle, vectors: Float32Array, labels: Int32Array): void;
  hnswRemove(index: NativeHandle, label: number): boolean;
  hnswContains(index: NativeHandle, label: number): boolean;
  hnswGetVector(index: NativeHandle, label: number): Float32Array | null;
  hnswSearch(index: NativeHandle, query: Float32Array, k: number, ef: number, allow: Int32Array | null, deny: Int32Array | null, exactFraction: number): NativeNeighbors & { path: 'graph' | 'filtered-graph' | 'exact' };
  hnswSearchExact(index: NativeHandle, query: Float32Array, k: number, allow: Int32Array | null, deny: Int32Array | null): NativeNeighbors;
  hnswSearchMany(index: NativeHandle, queries: Float32Array, k: number, ef: number, allow: Int32Array | null, deny: Int32Array | null, exactFraction: number, threads: number): CancellablePromise<NativeNeighbors>;
  hnswSave(index: NativeHandle, path: string, meta: Uint8Array): Promise<void>;
  hnswLoad(path: string, mmap: boolean): Promise<{ handle: NativeHandle; meta: Uint8Array }>;
  hnswToBytes(index: NativeHandle, meta: Uint8Array): Promise<Uint8Array>;
  /** The unfiltered single query into caller-owned arrays (length >= k); returns the count found. */
  hnswSearchInto(index: NativeHandle, query: Float32Array, k: number, ef: number, outLabels: Int32Array, outDistances: Float32Array): number;
  /** AnnScorer.recommend in one call (search, deny-list, exact re-scoring, best first) into caller-owned arrays (length >= k); returns the count. */
  hnswRescoredTopK(index: NativeHandle, user: Float32Array, k: number, fetch: number, ef: number, allow: Int32Array | null, deny: Int32Array | null, exactFraction: number, itemFactors: Float32Array, itemBias: Float32Array | null, labelItem: Int32Array | null, outItems: Int32Array, outScores: Float32Array, order: NativeHandle | null): number;
  /** The items by decreasing norm for the exact scans (head 0: the default, scoring/norm_scan.hpp default_scan_head). */
  normOrder(itemFactors: Float32Array, itemBias: Float32Array | null, dim: number, head: number, sync: true): NativeHandle | null;
  normOrder(itemFactors: Float32Array, itemBias: Float32Array | null, dim: number, head: number, sync?: false): Promise<NativeHandle | null>;
  normOrderStats(order: NativeHandle): { scans: number; settled: number; itemsRead: number };
  /** Benchmarks: CPU seconds for the queries one by one, timed in C++. */
  hnswTimeSearch(index: NativeHandle, queries: Float32Array, k: number, ef: number): number;
  hnswFromBytes(bytes: Uint8Array, inPlace: boolean): Promise<{ handle: NativeHandle; meta: Uint8Array }>;
  /** A copy with the same graph, vectors stored as `storage`. */
  hnswWithStorage(index: NativeHandle, storage: 'float32' | 'float16' | 'int8'): Promise<NativeHandle>;
  // ---- end ann ----
  // ---- exact (flat index with exact pruning; native/napi/exact_binding.cpp) ----
  flatCreate(dim: number, metric: string): NativeHandle;
  flatAdd(index: NativeHandle, vectors: Float32Array): number;
  flatInfo(index: NativeHandle): { size: number; dim: number; metric: string; memoryBytes: number; blocks: number };
  flatPartition(index: NativeHandle, blockSize: number, threads: number, seed: number): CancellablePromise<number>;
  flatSearch(index: NativeHandle, query: Float32Array, k: number, threads: number, prune: boolean, allow: Int32Array | null, deny: Int32Array | null): NativeNeighbors & { scored: number };
  flatSearchMany(index: NativeHandle, queries: Float32Array, k: number, threads: number, prune: boolean, allow: Int32Array | null, deny: Int32Array | null): CancellablePromise<NativeNeighbors & { scored: number }>;
  benchExactKernel(level: string, queries: number, items: number, dim: number, reps: number): Promise<{ scanSeconds: number; gemmSeconds: number; flops: number; peakGflops: number }>;
  benchExactStream(bytes: number, threads: number, reps: number): Promise<number>;
  // ---- end exact ----
}


// ---- als types ----
export interface AlsNativeConfig {
  factors: number;
  implicit: boolean;
  confidence: 'linear' | 'proportional';
  alpha: number;
  unobservedWeight: number;
  regularization: number;
  regularizationScaling: 'none' | 'count' | 'frequency';
  nu: number;
  solver: 'cg' | 'cholesky';
  cgSteps: number;
  precondition?: boolean;
  /** fit() only; absent = 'float32'. */
  gatherPrecision?: 'float32' | 'float16' | 'int8';
  /** Implicit only: learn an item bias (absent = false), regularized by itemBiasRegularization (absent = 0.1). */
  itemBias?: boolean;
  itemBiasRegularization?: number;
}
export interface AlsNativeFactors {
  userFactors: Float32Array;
  itemFactors: Float32Array;
  userBias: Float32Array | null;
  itemBias: Float32Array | null;
  globalMean: number;
}
export interface AlsNativeSide {
  fixed: Float32Array;
  fixedBias: Float32Array | null;
  globalMean: number;
}
// ---- end als types ----

// ---- ann types ----
/** An opaque native object (an index) held by a JS wrapper. */
export interface NativeHandle {
  readonly __fastrecNativeHandle: never;
}
/** A promise whose native work stops early when cancel() is called. */
export type CancellablePromise<T> = Promise<T> & { cancel(): void };
/** Labels (dense indices, -1 = none) and distances (+Infinity = none), row after row for batches. */
export interface NativeNeighbors {
  labels: Int32Array;
  distances: Float32Array;
}
export interface HnswNativeInfo {
  size: number;
  slots: number;
  capacity: number;
  dim: number;
  metric: string;
  M: number;
  efConstruction: number;
  memoryBytes: number;
  maxNorm: number;
  mipsTransform: boolean;
  storage: 'float32' | 'float16' | 'int8';
  /** One past the largest live label. */
  labelEnd: number;
}
