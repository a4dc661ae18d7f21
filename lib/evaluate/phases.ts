/**
 * The passes evaluate() makes over the users, in batches:
 * 1. top-k lists (recommendMany at the largest k) → ranking and list metrics;
 * 2. whole-catalog rankings → full AUC (and sampled AUC without predictMany);
 * 3. pairwise predictions (predictMany) → rmse, mae, sampled AUC.
 */
import { csrRow } from '../data/dataset.js';
import type { FeatureTable } from '../data/features.js';
import type { IdMap } from '../data/idmap.js';
import { AbortError, InvalidArgumentError } from '../errors.js';
import type { BatchRecommendations, Recommender } from '../recommender.js';
import * as M from './metrics.js';
import { deriveSeed, Random } from './random.js';
import { RANKING_METRICS, type ColumnOf, type Context, type RatingPredictor, type Resolved } from './types.js';

/** Largest list evaluate asks a model for (recommendMany's own limit). */
export const MAX_LIST = 100_000;

async function batched(
  model: Recommender,
  ctx: Context,
  o: Resolved,
  k: number,
  batchSize: number,
  score: (recs: BatchRecommendations, first: number) => void,
  progress: (done: number) => void,
): Promise<void> {
  const n = ctx.users.length;
  const ask = (first: number) => {
    const batch = ctx.users.subarray(first, Math.min(n, first + batchSize));
    const p = Promise.resolve(model.recommendMany(batch, { k, filterSeen: o.filterSeen, threads: o.threads, ...(o.signal ? { signal: o.signal } : {}) }));
    p.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
    return p;
  };
  let pending = n > 0 ? ask(0) : null;
  for (let first = 0; first < n; first += batchSize) {
    if (o.signal?.aborted) throw new AbortError('evaluation aborted');
    const recs = await pending!;
    const count = Math.min(batchSize, n - first);
    pending = first + batchSize < n ? ask(first + batchSize) : null;
    checkBatch(model, recs, count, ctx.split.train.numItems);
    score(recs, first);
    progress(first + count);
  }
}

function checkBatch(model: Recommender, recs: BatchRecommendations, count: number, numItems: number): void {
  if (!recs || !(recs.indices instanceof Int32Array) || recs.count !== count || recs.indices.length < count * recs.k) {
    throw new InvalidArgumentError(`model '${model.name}': recommendMany returned ${recs?.count} rows for ${count} users (or a malformed result)`);
  }
  for (let p = 0; p < count * recs.k; p++) {
    const i = recs.indices[p]!;
    if (i >= numItems || i < -1) throw new InvalidArgumentError(`model '${model.name}': recommendMany returned item index ${i}, outside [0, ${numItems}) (was it fitted on split.train?)`);
  }
}

export async function topKPhase(model: Recommender, ctx: Context, o: Resolved, column: ColumnOf, progress: (done: number) => void): Promise<void> {
  const n = ctx.users.length;
  const ranking = o.metrics.filter((m) => (RANKING_METRICS as readonly string[]).includes(m));
  const listMetrics = o.metrics.filter((m) => m === 'diversity' || m === 'novelty' || m === 'popularity');
  const wantsCoverage = o.metrics.includes('coverage');
  const distance = listMetrics.includes('diversity') ? diversityDistance(ctx, o) : null;
  // Coverage needs every user's list: keep the union per k as a marker per item.
  const covered = wantsCoverage ? o.k.map(() => new Uint8Array(ctx.catalog.length)) : [];
  const kCols = o.k.map((k) => ({
    k,
    ranking: ranking.map((m) => ({ m, col: column(`${m}@${k}`) })),
    lists: listMetrics.map((m) => ({ m, col: column(`${m}@${k}`) })),
  }));
  const gainAt = new Float64Array(ctx.catalog.length); // gain of each relevant item of the current user, 0 elsewhere
  const isRel = new Uint8Array(ctx.catalog.length);

  await batched(model, ctx, o, o.kMax, o.batchSize, (recs, first) => {
    for (let r = 0; r < recs.count; r++) {
      const j = first + r;
      const list = recs.indices.subarray(r * recs.k, r * recs.k + Math.min(recs.k, o.kMax));
      let len = 0;
      while (len < list.length && list[len]! >= 0) len++;
      const lo = ctx.relStart[j]!, hi = ctx.relStart[j + 1]!;
      for (let p = lo; p < hi; p++) (isRel[ctx.relItems[p]!] = 1), (gainAt[ctx.relItems[p]!] = ctx.relGains[p]!);
      const gains = new Float64Array(len);
      for (let p = 0; p < len; p++) {
        const i = list[p]!;
        if (isRel[i]) (gains[p] = gainAt[i]!), (isRel[i] = 0); // an item listed twice counts once
      }
      for (let p = lo; p < hi; p++) (isRel[ctx.relItems[p]!] = 0), (gainAt[ctx.relItems[p]!] = 0);
      const matched: M.RankedRelevance = { gains, relevant: hi - lo, idealGains: ranking.includes('ndcgGraded') ? ctx.relGains.slice(lo, hi).sort().reverse() : EMPTY_F64 };
      for (const kc of kCols) {
        for (const { m, col } of kc.ranking) col.values![j] = RANKING_FN[m as (typeof RANKING_METRICS)[number]](matched, kc.k);
        const nk = Math.min(len, kc.k);
        for (const { m, col } of kc.lists) {
          col.values![j] =
            m === 'diversity' ? M.intraListDiversity(list, nk, distance!)
            : m === 'novelty' ? M.novelty(list, nk, ctx.popularity, ctx.trainUsers)
            : M.averagePopularity(list, nk, ctx.popularity, ctx.trainUsers);
        }
      }
      if (wantsCoverage) o.k.forEach((k, x) => { for (let p = 0; p < Math.min(len, k); p++) covered[x]![list[p]!] = 1; });
    }
  }, progress);

  o.k.forEach((k, x) => {
    if (!wantsCoverage) return;
    let c = 0;
    for (let i = 0; i < ctx.catalog.length; i++) if (covered[x]![i] && ctx.catalog[i]) c++;
    column(`coverage@${k}`).value = ctx.catalogSize > 0 && n > 0 ? c / ctx.catalogSize : NaN;
  });
}

const EMPTY_F64 = new Float64Array(0);
const RANKING_FN: Record<(typeof RANKING_METRICS)[number], (m: M.RankedRelevance, k: number) => number> = {
  precision: M.precision,
  implicitPrecision: M.implicitPrecision,
  recall: M.recall,
  ndcg: M.ndcg,
  ndcgGraded: M.ndcgGraded,
  map: M.averagePrecision,
  mrr: M.reciprocalRank,
  hitRate: M.hitRate,
};

function diversityDistance(ctx: Context, o: Resolved): (a: number, b: number) => number {
  if (o.itemEmbeddings) return M.cosineDistance(o.itemEmbeddings.vectors, o.itemEmbeddings.dim);
  return M.jaccardDistance(featureTokens(ctx.split.train.itemFeatures!, ctx.split.train.items));
}

/** Sorted token ids per item: "column=value" for categorical and multi-valued columns. */
export function featureTokens(table: FeatureTable, items: IdMap): Int32Array[] {
  const dict = new Map<string, number>();
  const cols = table.columns.filter((c) => table.schema[c] === 'categorical' || table.schema[c] === 'multi');
  return items.ids().map((id) => {
    const row = table.get(id);
    const out = new Set<number>();
    for (const c of cols) {
      const v = row?.[c];
      if (v === undefined) continue;
      for (const x of Array.isArray(v) ? v : [String(v)]) {
        const key = `${c}=${x}`;
        let t = dict.get(key);
        if (t === undefined) dict.set(key, (t = dict.size));
        out.add(t);
      }
    }
    return Int32Array.from(out).sort();
  });
}

// ---- phase 2: full rankings (AUC) ------------------------------------------------------

export async function fullRankingPhase(model: Recommender, ctx: Context, o: Resolved, column: ColumnOf, progress: (done: number) => void): Promise<void> {
  const numItems = ctx.split.train.numItems;
  if (numItems > MAX_LIST) {
    throw new InvalidArgumentError(`options.metrics: full 'auc' ranks the whole catalog, at most ${MAX_LIST} items (this one has ${numItems}); use 'sampledAuc' with a model that has predictMany`);
  }
  const wantsFull = o.metrics.includes('auc');
  const wantsSampled = o.metrics.includes('sampledAuc');
  const full = wantsFull ? column('auc') : null;
  const sampled = wantsSampled ? column('sampledAuc') : null;
  // Keep a batch's full lists to about 32 MiB.
  const batchSize = Math.max(1, Math.min(o.batchSize, Math.floor((1 << 22) / numItems)));
  const isPos = new Uint8Array(numItems);
  const blocked = new Uint8Array(numItems); // the current user's training items (not candidates under filterSeen)
  const scoreOf = new Float64Array(numItems).fill(-Infinity);
  // Listed candidates of the current user, compacted (typed buffers reused across users).
  const keptScores = new Float64Array(numItems);
  const keptPos = new Uint8Array(numItems);
  await batched(model, ctx, o, numItems, batchSize, (recs, first) => {
    for (let r = 0; r < recs.count; r++) {
      const j = first + r;
      const u = ctx.users[j]!;
      const lo = ctx.relStart[j]!, hi = ctx.relStart[j + 1]!;
      const seen = o.filterSeen ? csrRow(ctx.trainMatrix, u).indices : EMPTY_I32;
      for (let p = 0; p < seen.length; p++) blocked[seen[p]!] = 1;
      for (let p = lo; p < hi; p++) isPos[ctx.relItems[p]!] = 1;
      const nPos = hi - lo;
      const nNeg = ctx.catalogSize - seen.length - nPos; // seen items are warm, so they are in the catalog
      const base = r * recs.k;
      let kept = 0;
      const ids = recs.indices, scs = recs.scores, catalog = ctx.catalog, stride = recs.k;
      // Keep the listed candidates only (a model may list cold or seen items; those are not candidates).
      for (let p = 0; p < stride; p++) {
        const i = ids[base + p]!;
        if (i < 0) break;
        if (catalog[i] === 0 || blocked[i] === 1) continue;
        const sc = scs[base + p]!;
        keptScores[kept] = sc;
        keptPos[kept++] = isPos[i]!;
        if (sampled) scoreOf[i] = sc;
      }
      if (full) full.values![j] = M.auc(keptScores, keptPos, kept, nPos, nNeg);
      if (sampled) sampled.values![j] = sampledAucOf(ctx, o, j, (i) => scoreOf[i]!, isPos, blocked);
      if (sampled) {
        for (let p = 0; p < stride; p++) {
          const i = ids[base + p]!;
          if (i < 0) break;
          scoreOf[i] = -Infinity;
        }
      }
      for (let p = lo; p < hi; p++) isPos[ctx.relItems[p]!] = 0;
      for (let p = 0; p < seen.length; p++) blocked[seen[p]!] = 0;
    }
  }, progress);
}

const EMPTY_I32 = new Int32Array(0);

/** Sampled negatives of user j: uniform with replacement over the catalog minus positives and seen items, seeded per user. */
function sampleNegatives(ctx: Context, o: Resolved, j: number, isPos: Uint8Array, blocked: Uint8Array): Int32Array {
  const rng = new Random(deriveSeed(o.seed, ctx.users[j]!));
  const out = new Int32Array(o.aucSamples);
  const n = ctx.catalog.length;
  let got = 0;
  // Rejection sampling; give up after many misses (a user who has seen almost the whole catalog).
  for (let tries = 0; got < out.length && tries < 100 * out.length + 1000; tries++) {
    const i = rng.int(n);
    if (!ctx.catalog[i] || isPos[i] || blocked[i]) continue;
    out[got++] = i;
  }
  return out.subarray(0, got);
}

function sampledAucOf(ctx: Context, o: Resolved, j: number, score: (item: number) => number, isPos: Uint8Array, blocked: Uint8Array): number {
  const lo = ctx.relStart[j]!, hi = ctx.relStart[j + 1]!;
  const neg = sampleNegatives(ctx, o, j, isPos, blocked);
  const pos = Float64Array.from(ctx.relItems.subarray(lo, hi), score);
  return M.pairwiseAuc(pos, Float64Array.from(neg, score));
}

// ---- phase 3: pairwise predictions (rmse, mae, sampled AUC) --------------------------------

export async function predictorPhase(model: Recommender & RatingPredictor, ctx: Context, o: Resolved, column: ColumnOf, progress: (done: number) => void): Promise<void> {
  const rmse = o.metrics.includes('rmse') ? column('rmse', 'rootMean', true) : null;
  const mae = o.metrics.includes('mae') ? column('mae', 'mean', true) : null;
  const sampled = o.metrics.includes('sampledAuc') ? column('sampledAuc') : null;
  const n = ctx.users.length;
  const isPos = new Uint8Array(ctx.catalog.length);
  const blocked = new Uint8Array(ctx.catalog.length);
  for (let first = 0; first < n; first += o.batchSize) {
    if (o.signal?.aborted) throw new AbortError('evaluation aborted');
    const last = Math.min(n, first + o.batchSize);
    // Pairs to predict: the rating pairs (every usable test pair, relevant or not) and the AUC samples.
    const pu: number[] = [];
    const pi: number[] = [];
    const actual: number[] = [];
    const spans: { ratingLo: number; ratingHi: number; negHi: number }[] = [];
    for (let j = first; j < last; j++) {
      const u = ctx.users[j]!;
      const ratingLo = pu.length;
      if (rmse || mae) {
        const row = csrRow(ctx.split.test.matrix, u);
        for (let p = 0; p < row.indices.length; p++) {
          if (!ctx.catalog[row.indices[p]!]) continue;
          pu.push(u), pi.push(row.indices[p]!), actual.push(row.values[p]!);
        }
      }
      const ratingHi = pu.length;
      if (sampled) {
        const lo = ctx.relStart[j]!, hi = ctx.relStart[j + 1]!;
        for (let p = lo; p < hi; p++) pu.push(u), pi.push(ctx.relItems[p]!), actual.push(NaN), (isPos[ctx.relItems[p]!] = 1);
        const seen = o.filterSeen ? csrRow(ctx.trainMatrix, u).indices : EMPTY_I32;
        for (let p = 0; p < seen.length; p++) blocked[seen[p]!] = 1;
        for (const i of sampleNegatives(ctx, o, j, isPos, blocked)) pu.push(u), pi.push(i), actual.push(NaN);
        for (let p = 0; p < seen.length; p++) blocked[seen[p]!] = 0;
        for (let p = lo; p < hi; p++) isPos[ctx.relItems[p]!] = 0;
      }
      spans.push({ ratingLo, ratingHi, negHi: pu.length });
    }
    const predicted = await model.predictMany(Int32Array.from(pu), Int32Array.from(pi));
    if (!(predicted instanceof Float32Array) || predicted.length !== pu.length) {
      throw new InvalidArgumentError(`model '${model.name}': predictMany returned ${describeLength(predicted)} for ${pu.length} pairs`);
    }
    for (let j = first; j < last; j++) {
      const { ratingLo, ratingHi, negHi } = spans[j - first]!;
      if (ratingHi > ratingLo) {
        let se = 0, ae = 0;
        for (let p = ratingLo; p < ratingHi; p++) {
          const d = predicted[p]! - actual[p]!;
          se += d * d;
          ae += Math.abs(d);
        }
        const count = ratingHi - ratingLo;
        if (rmse) (rmse.values![j] = se), (rmse.weights![j] = count);
        if (mae) (mae.values![j] = ae), (mae.weights![j] = count);
      }
      if (sampled) {
        const nPos = ctx.relStart[j + 1]! - ctx.relStart[j]!;
        sampled.values![j] = M.pairwiseAuc(predicted.subarray(ratingHi, ratingHi + nPos), predicted.subarray(ratingHi + nPos, negHi));
      }
    }
    progress(last);
  }
}

function describeLength(x: unknown): string {
  return ArrayBuffer.isView(x) ? `a ${x.constructor.name} of length ${(x as Float32Array).length}` : String(x);
}

