/**
 * FactorScorer: exact top-k for any model that scores an item as
 * <user vector, item vector> (+ item bias): ALS, PureSVD, fold-in users.
 * Single queries are synchronous: the items scanned in decreasing norm until
 * |user| |item| (a bound on every later score) falls below the k-th best,
 * which for trained factors settles most users within a few hundred items,
 * else a SIMD matrix-vector product over every item; the answer is the same
 * either way (scoring/norm_scan.hpp). Batches run the fused blocked GEMM +
 * top-k on native threads, after the same scan for each user (the users it
 * settles are answered as recommend answers them).
 */
import { callAsync, callSync, cancelFlag } from '../native.js';
import type { NativeHandle } from '../binding.js';
import { DimensionMismatchError } from '../errors.js';
import type { BatchRecommendations, Recommendations } from '../recommender.js';
import { emptyBatch, includesNothing, toRecommendations, type ResolvedBatchOptions, type ResolvedOptions, type TrainingData } from './common.js';
import { csrRow } from '../data/dataset.js';

/** Item factor values up to which recommend() builds the norm order synchronously (100,000 x 64: ~25 ms). */
const SYNC_ORDER_VALUES = 6_400_000;

export class FactorScorer {
  private normalized: Float32Array | undefined;
  /** The items by decreasing norm (built off the JS thread at first use, see normOrder()), or null: not used. */
  private order: NativeHandle | null = null;
  private orderBuild: Promise<NativeHandle | null> | undefined;
  /** Single-user queries tried with the scan, and those it settled (see recommend). */
  private scans = 0;
  private settled = 0;

  /**
   * @param data the model's training data (ids and the seen matrix)
   * @param itemFactors items x dim, row-major
   * @param dim factors per item
   * @param itemBias optional per-item bias added to every score
   */
  constructor(
    readonly data: TrainingData,
    readonly itemFactors: Float32Array,
    readonly dim: number,
    readonly itemBias?: Float32Array,
  ) {
    if (itemFactors.length !== data.items.size * dim) {
      throw new DimensionMismatchError(`itemFactors has ${itemFactors.length} values; expected items (${data.items.size}) x dim (${dim})`);
    }
    if (itemBias && itemBias.length !== data.items.size) {
      throw new DimensionMismatchError(`itemBias has ${itemBias.length} values; expected one per item (${data.items.size})`);
    }
  }

  /** The seen items of a training user (a view of its CSR row). */
  seenOf(user: number): Int32Array {
    return csrRow(this.data.matrix, user).indices;
  }

  /** Top-k for one user vector; `seen` items are skipped when options.filterSeen. */
  recommend(userVector: Float32Array, seen: Int32Array | null, options: ResolvedOptions): Recommendations {
    if (userVector.length !== this.dim) throw new DimensionMismatchError(`user vector has ${userVector.length} values; expected ${this.dim}`);
    if (includesNothing(options)) return toRecommendations(this.data.items, new Int32Array(0), new Float32Array(0));
    const order = this.orderForQuery();
    const r = callSync((n) =>
      n.factorTopK(userVector, this.itemFactors, this.dim, this.itemBias ?? null, options.filterSeen ? seen : null, options.exclude, options.include, options.k, order),
    );
    // Factors whose norms say little (the scan rarely settles) pay for a failed scan before scoring every
    // item: after 64 tries that settled fewer than half, stop trying. The answers are the same either way.
    if (order && !options.include) {
      this.scans++;
      if (r.scanned) this.settled++;
      if (this.scans === 64 && 2 * this.settled < this.scans) this.order = null;
    }
    return toRecommendations(this.data.items, r.indices, r.scores);
  }

  /** Top-k for rows of a users x dim factor matrix (training users: their seen items come from the training matrix). */
  async recommendMany(userFactors: Float32Array, rows: Int32Array, options: ResolvedBatchOptions): Promise<BatchRecommendations> {
    if (includesNothing(options)) return emptyBatch(rows.length, options.k);
    const { flag, release } = cancelFlag(options.signal);
    const total = rows.length;
    const onProgress = options.onProgress;
    try {
      await this.normOrder();
      const order = this.order;
      const r = await callAsync((n) =>
        n.factorTopKMany(
          userFactors,
          rows,
          this.itemFactors,
          this.dim,
          this.itemBias ?? null,
          options.filterSeen ? this.data.matrix : null,
          options.exclude,
          options.include,
          options.k,
          options.threads,
          onProgress && total > 0 ? (done) => onProgress(done / total) : null,
          flag,
          order,
        ),
      );
      return { k: options.k, count: rows.length, indices: r.indices, scores: r.scores };
    } finally {
      release();
    }
  }

  /**
   * The order for a single query. A catalog of up to SYNC_ORDER_VALUES factor values gets it at the first
   * query, at once (up to ~25 ms, once: a synchronous loop of calls would never see one built in the
   * background); a larger one off the JS thread, every item scored meanwhile (the same answers).
   */
  private orderForQuery(): NativeHandle | null {
    if (this.orderBuild === undefined && this.itemFactors.length <= SYNC_ORDER_VALUES) {
      this.order = callSync((n) => n.normOrder(this.itemFactors, this.itemBias ?? null, this.dim, 0, true));
      this.orderBuild = Promise.resolve(this.order);
    }
    void this.normOrder();
    return this.order;
  }

  /** Builds the norm order once (off the JS thread); resolves when it is in `order` (or known unusable). */
  private normOrder(): Promise<NativeHandle | null> {
    // A failure leaves no order: every item is scored, as without one.
    this.orderBuild ??= callAsync((n) => n.normOrder(this.itemFactors, this.itemBias ?? null, this.dim, 0)).then(
      (h) => (this.order = h),
      () => null,
    );
    return this.orderBuild;
  }

  /** Items with the highest cosine similarity to `item` (an index), excluding itself. */
  similarItems(item: number, k: number): Recommendations {
    const unit = this.unitItemFactors();
    const query = unit.slice(item * this.dim, (item + 1) * this.dim);
    const r = callSync((n) => n.factorTopK(query, unit, this.dim, null, Int32Array.of(item), null, null, k));
    return toRecommendations(this.data.items, r.indices, r.scores);
  }

  /** Item factors scaled to unit length (computed once; zero vectors stay zero). */
  unitItemFactors(): Float32Array {
    if (!this.normalized) this.normalized = normalizeRows(this.itemFactors, this.dim);
    return this.normalized;
  }
}

/** Rows of a row-major matrix scaled to unit L2 norm (zero rows stay zero). */
export function normalizeRows(m: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < m.length / dim; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += m[r * dim + j]! ** 2;
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < dim; j++) out[r * dim + j] = m[r * dim + j]! * inv;
  }
  return out;
}
