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
  // ---- ann (HNSW + flat exact index; native/napi/ann_binding.cpp) ----
  hnswCreate(dim: number, metric: string, M: number, efConstruction: number, seed: number, mipsTransform: boolean, maxNorm: number, capacity: number): NativeHandle;
  hnswInfo(index: NativeHandle): HnswNativeInfo;
  hnswAdd(index: NativeHandle, vectors: Float32Array, labels: Int32Array, threads: number, onProgress: ((done: number) => void) | null): CancellablePromise<void>;
  hnswAddSync(index: NativeHandle, vectors: Float32Array, labels: Int32Array): void;
  hnswRemove(index: NativeHandle, label: number): boolean;
  hnswContains(index: NativeHandle, label: number): boolean;
  hnswGetVector(index: NativeHandle, label: number): Float32Array | null;
  hnswSearch(index: NativeHandle, query: Float32Array, k: number, ef: number, allow: Int32Array | null, deny: Int32Array | null, exactFraction: number): NativeNeighbors & { path: 'graph' | 'filtered-graph' | 'exact' };
  hnswSearchExact(index: NativeHandle, query: Float32Array, k: number, allow: Int32Array | null, deny: Int32Array | null): NativeNeighbors;
  hnswSearchMany(index: NativeHandle, queries: Float32Array, k: number, ef: number, allow: Int32Array | null, deny: Int32Array | null, exactFraction: number, threads: number): CancellablePromise<NativeNeighbors>;
  hnswSave(index: NativeHandle, path: string): Promise<void>;
  hnswLoad(path: string, mmap: boolean): Promise<NativeHandle>;
  flatCreate(dim: number, metric: string): NativeHandle;
  flatAdd(index: NativeHandle, vectors: Float32Array): number;
  flatInfo(index: NativeHandle): { size: number; dim: number; metric: string; memoryBytes: number };
  flatSearch(index: NativeHandle, query: Float32Array, k: number, threads: number): NativeNeighbors;
  flatSearchMany(index: NativeHandle, queries: Float32Array, k: number, threads: number): CancellablePromise<NativeNeighbors>;
  // ---- end ann ----
}

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
}
