/**
 * The content model: item feature matrix (features.ts) -> truncated SVD ->
 * dense content vectors of unit length, so that a dot product is the cosine
 * similarity of two items' attributes in the reduced (denoised) space.
 * Items without features get zero vectors (similarity 0 to everything).
 */
import type { FeatureTable } from '../data/features.js';
import type { IdMap } from '../data/idmap.js';
import { invalid, integer, knownOptions } from '../validate.js';
import { buildItemFeatures, type ItemFeatureMatrix, type ItemFeatureOptions } from './features.js';
import { normalizeRows, randomizedSvd } from './linalg.js';
import { TopList } from './toplist.js';

export interface ContentOptions extends ItemFeatureOptions {
  /** Dimensions of the content vectors (default 32). */
  dim?: number;
  /** Power iterations of the randomized SVD (default 4). */
  powerIterations?: number;
  seed?: number;
}

const OPTIONS = ['columns', 'weights', 'numeric', 'buckets', 'minDf', 'dim', 'powerIterations', 'seed'] as const;

export class ContentModel {
  private constructor(
    /** Content vectors, items x dim, row-major, unit length (zero rows for items without features). */
    readonly vectors: Float32Array,
    readonly dim: number,
    /** 1 where the item has at least one feature. */
    readonly hasFeatures: Uint8Array,
    /** The feature matrix the vectors come from (kept for explanations; absent after loading a saved model). */
    readonly features?: ItemFeatureMatrix,
  ) {}

  get numItems(): number {
    return this.hasFeatures.length;
  }

  /**
   * Fit content vectors for the items of `items` from their attributes.
   * The SVD is a randomized truncated SVD (linalg.ts), seeded.
   */
  static fit(table: FeatureTable, items: IdMap, options: ContentOptions = {}): ContentModel {
    knownOptions('options', options, OPTIONS);
    const { dim: d, powerIterations, seed, ...featureOptions } = options;
    const dim = integer('options.dim', d ?? 32, 1, 1024);
    const features = buildItemFeatures(table, items, featureOptions);
    const m = features.matrix;
    const svd = randomizedSvd(m, dim, { powerIterations: integer('options.powerIterations', powerIterations ?? 4, 0, 50), seed: integer('options.seed', seed ?? 1) });
    // Pad to `dim` when the feature space is smaller than asked (few distinct values).
    const vectors = new Float32Array(m.rows * dim);
    for (let r = 0; r < m.rows; r++) for (let c = 0; c < svd.k; c++) vectors[r * dim + c] = svd.rowEmbeddings[r * svd.k + c]!;
    normalizeRows(vectors, dim);
    const hasFeatures = new Uint8Array(m.rows);
    for (let r = 0; r < m.rows; r++) hasFeatures[r] = m.indptr[r + 1]! > m.indptr[r]! ? 1 : 0;
    return new ContentModel(vectors, dim, hasFeatures, features);
  }

  /** Rebuild from stored vectors. */
  static fromVectors(vectors: Float32Array, dim: number): ContentModel {
    if (!(vectors instanceof Float32Array) || vectors.length % dim !== 0) throw invalid('vectors', `a Float32Array whose length is a multiple of ${dim}`, vectors);
    const n = vectors.length / dim;
    const has = new Uint8Array(n);
    for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) if (vectors[r * dim + j] !== 0) {
      has[r] = 1;
      break;
    }
    return new ContentModel(vectors, dim, has);
  }

  /** Cosine similarity of items a and b (indices). */
  similarity(a: number, b: number): number {
    const v = this.vectors;
    const d = this.dim;
    let s = 0;
    for (let j = 0; j < d; j++) s += v[a * d + j]! * v[b * d + j]!;
    return s;
  }

  /**
   * The k items most similar to a vector by exact scan (ties by smaller index),
   * skipping items for which `skip(i)` is true.
   */
  nearest(query: Float32Array, k: number, skip?: (i: number) => boolean): { indices: Int32Array; scores: Float32Array } {
    const top = new TopList(k);
    const v = this.vectors;
    const d = this.dim;
    const n = this.numItems;
    for (let i = 0; i < n; i++) {
      if (!this.hasFeatures[i] || (skip && skip(i))) continue;
      let s = 0;
      const o = i * d;
      for (let j = 0; j < d; j++) s += query[j]! * v[o + j]!;
      top.push(i, s);
    }
    return top.sorted();
  }

  /** The k items most similar to item `i`, excluding itself. */
  similar(i: number, k: number, skip?: (j: number) => boolean): { indices: Int32Array; scores: Float32Array } {
    const q = this.vectors.subarray(i * this.dim, (i + 1) * this.dim);
    return this.nearest(q, k, (j) => j === i || (skip ? skip(j) : false));
  }
}
