/**
 * Randomized truncated SVD of a sparse matrix (Halko, Martinsson & Tropp 2011),
 * computed natively off the JS thread: A ≈ U diag(s) Vt.
 *
 * A general tool: factorize a users x items matrix (PureSVD), an item x
 * feature TF-IDF matrix (content vectors), or any CSR matrix.
 */
import type { CsrArrays } from './binding.js';
import { InvalidArgumentError } from './errors.js';
import { callAsync, cancelFlag } from './native.js';
import { abortSignal, boolean, func, integer, invalid, knownOptions, threads as checkThreads } from './validate.js';

export interface TruncatedSvdOptions {
  /** Number of singular triplets, in [1, min(rows, cols)]. */
  k: number;
  /** Extra random directions sampled beyond k (default 10). */
  oversample?: number;
  /** Subspace (power) iterations, each re-orthonormalized (default 4; more = more accurate). */
  powerIterations?: number;
  /** Factorize A - 1 meanᵀ (column means subtracted, as PCA) without densifying A (default false). */
  center?: boolean;
  /** Seed of the random test matrix (default 0). Same seed and threads give the same result. */
  seed?: number;
  /** Native threads (0 = all cores). */
  threads?: number;
  signal?: AbortSignal;
  /** Fraction done, in [0, 1], after each sparse product. */
  onProgress?: (fraction: number) => void;
}

export interface TruncatedSvdResult {
  rows: number;
  cols: number;
  k: number;
  /** rows x k, row-major (left singular vectors as columns). */
  u: Float32Array;
  /** k singular values, descending. */
  s: Float32Array;
  /** k x cols, row-major (right singular vectors as rows). */
  vt: Float32Array;
  /** Column means that were subtracted (center: true), else null. */
  mean: Float32Array | null;
}

const OPTIONS = ['k', 'oversample', 'powerIterations', 'center', 'seed', 'threads', 'signal', 'onProgress'] as const;

function checkCsr(m: unknown): CsrArrays {
  const c = m as CsrArrays;
  if (typeof m !== 'object' || m === null || !(c.indptr instanceof BigInt64Array) || !(c.indices instanceof Int32Array) || !(c.data instanceof Float32Array)) {
    throw invalid('matrix', 'a CSR matrix { rows, cols, indptr: BigInt64Array, indices: Int32Array, data: Float32Array }', m);
  }
  integer('matrix.rows', c.rows, 0);
  integer('matrix.cols', c.cols, 0);
  if (c.indptr.length !== c.rows + 1) throw invalid('matrix.indptr', `a BigInt64Array of length rows + 1 = ${c.rows + 1}`, c.indptr);
  if (c.indices.length !== c.data.length || Number(c.indptr[c.rows]) !== c.indices.length) {
    throw new InvalidArgumentError(`matrix: indptr[rows] = ${c.indptr[c.rows]}, indices.length = ${c.indices.length} and data.length = ${c.data.length} must agree`);
  }
  return c;
}

/**
 * Truncated SVD of `matrix`.
 * @throws InvalidArgumentError for a malformed matrix, k outside [1, min(rows, cols)] or bad options; AbortError when aborted.
 */
export async function truncatedSvd(matrix: CsrArrays, options: TruncatedSvdOptions): Promise<TruncatedSvdResult> {
  const m = checkCsr(matrix);
  if (options === undefined || options === null || typeof options !== 'object') throw invalid('options', 'an options object with k', options);
  knownOptions('options', options, OPTIONS);
  const smaller = Math.min(m.rows, m.cols);
  if (smaller < 1) throw invalid('matrix', 'a matrix with at least one row and one column', `${m.rows} x ${m.cols}`);
  const k = integer('options.k', options.k, 1, smaller);
  const oversample = integer('options.oversample', options.oversample ?? 10, 0, 10_000);
  const powerIterations = integer('options.powerIterations', options.powerIterations ?? 4, 0, 1000);
  const center = boolean('options.center', options.center ?? false);
  const seed = integer('options.seed', options.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
  const threads = checkThreads(options.threads);
  const signal = abortSignal('options.signal', options.signal);
  const onProgress = options.onProgress === undefined ? null : (func('options.onProgress', options.onProgress) as (f: number) => void);
  const { flag, release } = cancelFlag(signal);
  try {
    const r = await callAsync((n) => n.truncatedSvd(m, k, oversample, powerIterations, center, seed, threads, onProgress, flag));
    return { rows: m.rows, cols: m.cols, k, ...r };
  } finally {
    release();
  }
}
