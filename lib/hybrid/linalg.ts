/**
 * Small dense linear algebra for the hybrid layer (float64, plain loops): a
 * seeded RNG, modified Gram-Schmidt, Jacobi eigen-decomposition, Cholesky
 * solves for ridge regression, and a randomized truncated SVD of a sparse
 * matrix used by the content model when the native one is unavailable.
 * Sizes here are small (tens to a few hundred columns), so clarity beats speed.
 */
import type { CsrArrays } from '../binding.js';
import { InvalidArgumentError } from '../errors.js';

/** mulberry32: a small seeded PRNG returning floats in [0, 1) (shared: lib/random.ts). */
import { seededRandom as rng } from '../random.js';
export { rng };

/** Standard normal samples by the Box-Muller transform. */
export function gaussian(rand: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = Math.max(rand(), 1e-300);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Orthonormalize the l columns of a column-major n x l matrix in place (modified Gram-Schmidt, twice for stability). */
export function orthonormalizeColumns(a: Float64Array, n: number, l: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < l; j++) {
      const cj = j * n;
      for (let i = 0; i < j; i++) {
        const ci = i * n;
        let d = 0;
        for (let r = 0; r < n; r++) d += a[ci + r]! * a[cj + r]!;
        for (let r = 0; r < n; r++) a[cj + r]! -= d * a[ci + r]!;
      }
      let norm = 0;
      for (let r = 0; r < n; r++) norm += a[cj + r]! ** 2;
      norm = Math.sqrt(norm);
      // A zero column (rank deficiency) stays zero rather than becoming NaN.
      const inv = norm > 1e-12 ? 1 / norm : 0;
      for (let r = 0; r < n; r++) a[cj + r]! *= inv;
    }
  }
}

/**
 * Eigen-decomposition of a symmetric l x l matrix (row-major) by cyclic Jacobi
 * rotations. Returns eigenvalues in decreasing order and the eigenvectors as
 * the columns of a row-major l x l matrix.
 */
export function symmetricEigen(m: Float64Array, l: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(m);
  const v = new Float64Array(l * l);
  for (let i = 0; i < l; i++) v[i * l + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < l; p++) {
      diag += a[p * l + p]! ** 2;
      for (let q = p + 1; q < l; q++) off += a[p * l + q]! ** 2;
    }
    if (off <= 1e-30 * diag || off < 1e-300) break;
    for (let p = 0; p < l; p++) {
      for (let q = p + 1; q < l; q++) {
        const apq = a[p * l + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        // Rotation angle that zeroes a[p][q]: tan(2θ) = 2 a_pq / (a_qq - a_pp).
        const theta = (a[q * l + q]! - a[p * l + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < l; k++) {
          const akp = a[k * l + p]!;
          const akq = a[k * l + q]!;
          a[k * l + p] = c * akp - s * akq;
          a[k * l + q] = s * akp + c * akq;
        }
        for (let k = 0; k < l; k++) {
          const apk = a[p * l + k]!;
          const aqk = a[q * l + k]!;
          a[p * l + k] = c * apk - s * aqk;
          a[q * l + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < l; k++) {
          const vkp = v[k * l + p]!;
          const vkq = v[k * l + q]!;
          v[k * l + p] = c * vkp - s * vkq;
          v[k * l + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: l }, (_, i) => i).sort((x, y) => a[y * l + y]! - a[x * l + x]! || x - y);
  const values = Float64Array.from(order, (i) => a[i * l + i]!);
  const vectors = new Float64Array(l * l);
  order.forEach((src, dst) => {
    for (let k = 0; k < l; k++) vectors[k * l + dst] = v[k * l + src]!;
  });
  return { values, vectors };
}

/** Solve (A) X = B for symmetric positive definite A (p x p, row-major) and B (p x q, row-major) by Cholesky. */
export function choleskySolve(a: Float64Array, p: number, b: Float64Array, q: number): Float64Array {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * p + j]!;
      for (let k = 0; k < j; k++) s -= l[i * p + k]! * l[j * p + k]!;
      if (i === j) {
        if (s <= 0) throw new InvalidArgumentError('ridge regression: the normal equations are not positive definite; use a larger regularization');
        l[i * p + i] = Math.sqrt(s);
      } else l[i * p + j] = s / l[j * p + j]!;
    }
  }
  const x = Float64Array.from(b);
  for (let c = 0; c < q; c++) {
    for (let i = 0; i < p; i++) {
      let s = x[i * q + c]!;
      for (let k = 0; k < i; k++) s -= l[i * p + k]! * x[k * q + c]!;
      x[i * q + c] = s / l[i * p + i]!;
    }
    for (let i = p - 1; i >= 0; i--) {
      let s = x[i * q + c]!;
      for (let k = i + 1; k < p; k++) s -= l[k * p + i]! * x[k * q + c]!;
      x[i * q + c] = s / l[i * p + i]!;
    }
  }
  return x;
}

/** y (row-major n x l) = A x (x row-major m x l) for CSR A (n x m). */
function csrTimesDense(a: CsrArrays, x: Float64Array, l: number): Float64Array {
  const y = new Float64Array(a.rows * l);
  for (let r = 0; r < a.rows; r++) {
    const lo = Number(a.indptr[r]);
    const hi = Number(a.indptr[r + 1]);
    const oy = r * l;
    for (let p = lo; p < hi; p++) {
      const ox = a.indices[p]! * l;
      const v = a.data[p]!;
      for (let j = 0; j < l; j++) y[oy + j]! += v * x[ox + j]!;
    }
  }
  return y;
}

/** z (row-major m x l) = Aᵀ q (q row-major n x l). */
function csrTransposeTimesDense(a: CsrArrays, q: Float64Array, l: number): Float64Array {
  const z = new Float64Array(a.cols * l);
  for (let r = 0; r < a.rows; r++) {
    const lo = Number(a.indptr[r]);
    const hi = Number(a.indptr[r + 1]);
    const oq = r * l;
    for (let p = lo; p < hi; p++) {
      const oz = a.indices[p]! * l;
      const v = a.data[p]!;
      for (let j = 0; j < l; j++) z[oz + j]! += v * q[oq + j]!;
    }
  }
  return z;
}

/** G = YᵀY for row-major Y (n x l). */
function gramOf(y: Float64Array, n: number, l: number): Float64Array {
  const g = new Float64Array(l * l);
  for (let r = 0; r < n; r++) {
    const o = r * l;
    for (let i = 0; i < l; i++) {
      const yi = y[o + i]!;
      if (yi === 0) continue;
      for (let j = i; j < l; j++) g[i * l + j]! += yi * y[o + j]!;
    }
  }
  for (let i = 0; i < l; i++) for (let j = 0; j < i; j++) g[i * l + j] = g[j * l + i]!;
  return g;
}

/**
 * Orthonormal basis of the column space of row-major Y (n x l) by the
 * eigen-decomposition of its Gram matrix: Q = Y·V·Λ^(−1/2), keeping only
 * directions with λ > 1e-10·λ_max (rank-deficient Y gives fewer columns).
 * Done twice, like CholeskyQR2, to recover the precision lost by squaring.
 */
export function orthonormalBasis(y: Float64Array, n: number, l: number): { q: Float64Array; l: number } {
  let cur = y;
  let cols = l;
  for (let pass = 0; pass < 2; pass++) {
    const { values, vectors } = symmetricEigen(gramOf(cur, n, cols), cols);
    const keep: number[] = [];
    for (let c = 0; c < cols; c++) if (values[c]! > 1e-10 * Math.max(values[0]!, 1e-300)) keep.push(c);
    const t = keep.length;
    const m = new Float64Array(cols * t);
    keep.forEach((c, j) => {
      const inv = 1 / Math.sqrt(values[c]!);
      for (let i = 0; i < cols; i++) m[i * t + j] = vectors[i * cols + c]! * inv;
    });
    const next = new Float64Array(n * t);
    for (let r = 0; r < n; r++) {
      const o = r * cols;
      const out = r * t;
      for (let i = 0; i < cols; i++) {
        const v = cur[o + i]!;
        if (v === 0) continue;
        for (let j = 0; j < t; j++) next[out + j]! += v * m[i * t + j]!;
      }
    }
    cur = next;
    cols = t;
  }
  return { q: cur, l: cols };
}

export interface SvdResult {
  /** Rank actually returned (<= k, limited by the matrix's shape and rank). */
  k: number;
  /** Singular values, decreasing. */
  s: Float64Array;
  /** Row embeddings U·Σ (row-major rows x k): the projection of each row onto the top right singular vectors, A·V. */
  rowEmbeddings: Float32Array;
  /** Right singular vectors V (row-major cols x k). */
  v: Float32Array;
}

/** The transpose of a CSR matrix (counting sort by column; rows stay sorted). */
export function csrTransposeJs(a: CsrArrays): CsrArrays {
  const nnz = a.indices.length;
  const ptr = new BigInt64Array(a.cols + 1);
  const counts = new Int32Array(a.cols + 1);
  for (let p = 0; p < nnz; p++) counts[a.indices[p]! + 1]!++;
  for (let c = 0; c < a.cols; c++) counts[c + 1]! += counts[c]!;
  for (let c = 0; c <= a.cols; c++) ptr[c] = BigInt(counts[c]!);
  const indices = new Int32Array(nnz);
  const data = new Float32Array(nnz);
  for (let r = 0; r < a.rows; r++) {
    for (let p = Number(a.indptr[r]); p < Number(a.indptr[r + 1]); p++) {
      const at = counts[a.indices[p]!]!++;
      indices[at] = r;
      data[at] = a.data[p]!;
    }
  }
  return { rows: a.cols, cols: a.rows, indptr: ptr, indices, data };
}

/**
 * Randomized truncated SVD (Halko, Martinsson, Tropp 2011) of a sparse matrix
 * A (n x m), working in the smaller of the two dimensions. With m <= n the
 * range of AᵀA is sampled: X = Ω (m x (k + oversample), Gaussian), then
 * `powerIterations` rounds of X = Aᵀ·A·orth(X); Q = orth(X); B = A·Q; the
 * eigen-decomposition B·ᵀB = W·Λ·Wᵀ gives V = Q·W, σ = √λ and A·V = B·W.
 * With m > n the same runs on Aᵀ and the roles swap.
 */
export function randomizedSvd(a: CsrArrays, k: number, options: { oversample?: number; powerIterations?: number; seed?: number } = {}): SvdResult {
  if (a.cols > a.rows) {
    // SVD of Aᵀ: its right vectors are A's left vectors U, and A·V = U·Σ.
    const t = rightSidedSvd(csrTransposeJs(a), k, options);
    const rowEmbeddings = new Float32Array(a.rows * t.k);
    for (let r = 0; r < a.rows; r++) for (let c = 0; c < t.k; c++) rowEmbeddings[r * t.k + c] = t.v[r * t.k + c]! * t.s[c]!;
    const v = new Float32Array(a.cols * t.k);
    for (let r = 0; r < a.cols; r++) for (let c = 0; c < t.k; c++) v[r * t.k + c] = t.s[c]! > 0 ? t.rowEmbeddings[r * t.k + c]! / t.s[c]! : 0;
    return { k: t.k, s: t.s, rowEmbeddings, v };
  }
  return rightSidedSvd(a, k, options);
}

function rightSidedSvd(a: CsrArrays, k: number, options: { oversample?: number; powerIterations?: number; seed?: number }): SvdResult {
  const n = a.rows;
  const m = a.cols;
  let l = Math.min(Math.max(0, Math.min(k, n, m)) + (options.oversample ?? 10), n, m);
  if (l === 0 || k <= 0) return { k: 0, s: new Float64Array(0), rowEmbeddings: new Float32Array(0), v: new Float32Array(0) };
  const g = gaussian(rng(options.seed ?? 1));
  let x: Float64Array = Float64Array.from({ length: m * l }, g);
  for (let it = 0; it < (options.powerIterations ?? 4); it++) {
    const q = orthonormalBasis(x, m, l);
    l = q.l;
    x = csrTransposeTimesDense(a, csrTimesDense(a, q.q, l), l);
  }
  const q = orthonormalBasis(x, m, l);
  l = q.l;
  const b = csrTimesDense(a, q.q, l); // n x l
  const { values, vectors } = symmetricEigen(gramOf(b, n, l), l);
  let kk = Math.min(k, l);
  while (kk > 0 && !(values[kk - 1]! > 1e-12 * Math.max(values[0]!, 1e-300))) kk--;
  const s = Float64Array.from(values.subarray(0, kk), (v) => Math.sqrt(Math.max(0, v)));
  const rowEmbeddings = new Float32Array(n * kk);
  for (let r = 0; r < n; r++)
    for (let c = 0; c < kk; c++) {
      let d = 0;
      for (let j = 0; j < l; j++) d += b[r * l + j]! * vectors[j * l + c]!;
      rowEmbeddings[r * kk + c] = d;
    }
  const v = new Float32Array(m * kk);
  for (let r = 0; r < m; r++)
    for (let c = 0; c < kk; c++) {
      let d = 0;
      for (let j = 0; j < l; j++) d += q.q[r * l + j]! * vectors[j * l + c]!;
      v[r * kk + c] = d;
    }
  return { k: kk, s, rowEmbeddings, v };
}

/** Scale each row of a row-major matrix to unit L2 norm (zero rows stay zero). */
export function normalizeRows(x: Float32Array, dim: number): Float32Array {
  const n = x.length / dim;
  for (let r = 0; r < n; r++) {
    let sq = 0;
    for (let j = 0; j < dim; j++) sq += x[r * dim + j]! ** 2;
    if (sq === 0) continue;
    const inv = 1 / Math.sqrt(sq);
    for (let j = 0; j < dim; j++) x[r * dim + j]! *= inv;
  }
  return x;
}

/** Dot product of row a of x and row b of y (both dim wide). */
export function rowDot(x: Float32Array, a: number, y: Float32Array, b: number, dim: number): number {
  let d = 0;
  const oa = a * dim;
  const ob = b * dim;
  for (let j = 0; j < dim; j++) d += x[oa + j]! * y[ob + j]!;
  return d;
}
