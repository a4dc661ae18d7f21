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
  ): { indices: Int32Array; scores: Float32Array };
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
}
