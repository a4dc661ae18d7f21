/**
 * Candidate sources: each proposes scored candidates for a request and can
 * say why (evidence). Any Recommender can be a source (ModelSource); the
 * others are built from the catalog's signals, content vectors and
 * co-occurrence lists. Sources work in dense item indices of the catalog.
 */
import type { Dataset } from '../data/dataset.js';
import type { Id } from '../data/idmap.js';
import { csrRow } from '../data/dataset.js';
import { InvalidArgumentError, NotFittedError, UnknownIdError } from '../errors.js';
import type { Recommender } from '../recommender.js';
import { categoryName, itemLabel, type Catalog, type Context, type Request } from './catalog.js';
import { listText, type Evidence } from './evidence.js';
import { coOccurrenceNeighbors, neighborsOf, type NeighborLists } from './neighbors.js';
import { TopList } from './toplist.js';

/** A source's candidates: best first; `count` entries are valid. */
export interface CandidateList {
  indices: Int32Array;
  scores: Float32Array;
  count: number;
}

export interface PrepareOptions {
  seed: number;
  threads: number;
  signal?: AbortSignal;
}

export interface CandidateSource {
  /** Unique name within a hybrid (used for weights and explanations). */
  readonly name: string;
  /** What kind of source it is ('model', 'similar', 'content', ...). */
  readonly kind: string;
  /** Contexts it serves. */
  readonly contexts: readonly Context[];
  /** Build what it needs from the fitted catalog (and the dataset, for models that train). */
  prepare(catalog: Catalog, dataset: Dataset | undefined, options: PrepareOptions): Promise<void>;
  /** Up to n candidates not blocked, best first. */
  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList;
  /** Optional raw score of any item (for candidates other sources proposed); NaN if it has none. */
  score?(req: Request, item: number): number;
  /** Why this source proposes `item` for `req` (called only for shown items). */
  evidence(req: Request, item: number): Evidence | undefined;
}

/** Reusable output buffers of one source. */
class ListBuffer implements CandidateList {
  indices = new Int32Array(0);
  scores = new Float32Array(0);
  count = 0;
  reset(n: number): this {
    if (this.indices.length < n) {
      this.indices = new Int32Array(n);
      this.scores = new Float32Array(n);
    }
    this.count = 0;
    return this;
  }
  push(i: number, s: number): void {
    this.indices[this.count] = i;
    this.scores[this.count++] = s;
  }
}

/** Anchors of item-to-item sources: the page's item, else the basket, else the latest history items (newest weighs most). */
function anchorsOf(req: Request, recent: number): { items: number[]; weights: number[] } {
  if (req.anchor >= 0) return { items: [req.anchor], weights: [1] };
  if (req.context === 'basket' && req.basket.length > 0) return { items: Array.from(req.basket), weights: Array.from(req.basket, () => 1) };
  const items: number[] = [];
  const weights: number[] = [];
  const h = req.history;
  for (let r = 0; r < Math.min(recent, h.length); r++) {
    items.push(h[h.length - 1 - r]!);
    // Recency decay: each older anchor counts 0.85 times the next newer one.
    weights.push(Math.pow(0.85, r) * (req.historyWeights ? Math.min(2, 1 + Math.log1p(req.historyWeights[h.length - 1 - r]!) / 4) : 1));
  }
  return { items, weights };
}

/** Sum anchor-weighted neighbour scores into a top-n list (shared by neighbour-list sources). */
class NeighborAccumulator {
  private acc = new Float32Array(0);
  private best = new Int32Array(0); // anchor giving the largest share
  private bestShare = new Float32Array(0);
  private stamp = new Int32Array(0); // run in which an item was last touched
  private runs = 0;
  private touched: number[] = [];
  constructor(private readonly out: ListBuffer) {}

  run(lists: NeighborLists, anchors: { items: number[]; weights: number[] }, n: number, blocked: (i: number) => boolean, numItems: number): CandidateList {
    if (this.acc.length < numItems) {
      this.acc = new Float32Array(numItems);
      this.best = new Int32Array(numItems);
      this.bestShare = new Float32Array(numItems);
      this.stamp = new Int32Array(numItems);
    }
    const run = ++this.runs;
    const stamp = this.stamp;
    const { acc, best, bestShare, touched } = this;
    for (let a = 0; a < anchors.items.length; a++) {
      const nb = neighborsOf(lists, anchors.items[a]!);
      const w = anchors.weights[a]!;
      for (let p = 0; p < nb.items.length; p++) {
        const j = nb.items[p]!;
        const share = w * nb.scores[p]!;
        if (stamp[j] !== run) {
          stamp[j] = run;
          touched.push(j);
          bestShare[j] = 0;
          acc[j] = 0;
        }
        acc[j]! += share;
        if (share > bestShare[j]!) {
          bestShare[j] = share;
          best[j] = anchors.items[a]!;
        }
      }
    }
    const top = new TopList(n);
    for (const j of touched) if (!blocked(j)) top.push(j, acc[j]!);
    touched.length = 0;
    const s = top.sorted();
    const out = this.out.reset(n);
    for (let r = 0; r < s.indices.length; r++) out.push(s.indices[r]!, s.scores[r]!);
    return out;
  }

  /** The anchor that contributed most to j in the last run (valid for items of the last output). */
  topAnchor(j: number): number {
    return this.runs > 0 && this.stamp[j] === this.runs ? this.best[j]! : -1;
  }
}

// ---- any Recommender -----------------------------------------------------------

export interface ModelSourceOptions {
  name?: string;
  contexts?: readonly Context[];
}

/**
 * Wraps any Recommender (ALS, PureSVD, item-kNN, a baseline...): known users
 * through recommend(), others through recommendForHistory(). Evidence comes
 * from the model's explain() when it has one ("bought X and Y").
 * Pass a model instance (trained on the same dataset, or fitted here if not
 * fitted) or a factory (a fresh model is trained at every fit).
 */
export class ModelSource implements CandidateSource {
  readonly kind = 'model';
  readonly name: string;
  readonly contexts: readonly Context[];
  model: Recommender | undefined;
  /** True when this source trained the model itself (so it may retrain it). */
  owned = false;
  private catalog!: Catalog;
  private readonly out = new ListBuffer();

  constructor(private readonly modelOrFactory: Recommender | (() => Recommender), options: ModelSourceOptions = {}) {
    this.model = typeof modelOrFactory === 'function' ? undefined : modelOrFactory;
    this.name = options.name ?? this.model?.name ?? 'model';
    this.contexts = options.contexts ?? ['home'];
  }

  async prepare(catalog: Catalog, dataset: Dataset | undefined, options: PrepareOptions): Promise<void> {
    this.catalog = catalog;
    if (typeof this.modelOrFactory === 'function') this.model = this.modelOrFactory();
    if (!this.model!.fitted || this.owned) {
      this.owned = true;
      if (!dataset) throw new NotFittedError(`the model of source '${this.name}' is not fitted and there is no dataset to fit it on`);
      await this.model!.fit(dataset, { seed: options.seed, threads: options.threads, ...(options.signal ? { signal: options.signal } : {}) });
    }
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const out = this.out.reset(n);
    const model = this.model!;
    const c = this.catalog;
    // Over-fetch: the caller's blocks (rules, exclusions) are applied here, after the model.
    const k = Math.min(n * 2 + 10, c.items.size);
    let recs;
    try {
      if (req.user >= 0) recs = model.recommend(c.users.id(req.user), { k });
    } catch (err) {
      if (!(err instanceof UnknownIdError)) throw err;
    }
    if (!recs) {
      if (req.history.length === 0) return out;
      recs = model.recommendForHistory(c.items.idsOf(req.history), { k });
    }
    for (let r = 0; r < recs.items.length && out.count < n; r++) {
      const i = c.items.index(recs.items[r]!);
      if (i === undefined || blocked(i)) continue;
      out.push(i, recs.scores[r]!);
    }
    return out;
  }

  evidence(req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    const model = this.model!;
    if (model.explain && req.user >= 0) {
      try {
        const e = model.explain(c.users.id(req.user), c.items.id(item));
        const top = e.contributions.filter((x) => x.weight > 0).slice(0, 2);
        const idx = top.map((x) => c.items.index(x.item)).filter((i): i is number => i !== undefined);
        if (idx.length > 0) {
          return { source: this.name, kind: 'history', text: `bought ${listText(idx.map((i) => itemLabel(c, i)))}`, items: idx.map((i) => c.items.id(i)) };
        }
      } catch {
        // No decomposition for this pair: fall through to the generic reason.
      }
    }
    const recent = Array.from(req.history.slice(-2)).reverse();
    return {
      source: this.name,
      kind: 'history',
      text: recent.length ? `${this.name} model, from your history (latest: ${listText(recent.map((i) => itemLabel(c, i)))})` : `${this.name} model`,
      items: recent.map((i) => c.items.id(i)),
    };
  }
}

// ---- item-to-item from the user's recent items -------------------------------------

export interface ItemToItemOptions {
  name?: string;
  contexts?: readonly Context[];
  /** Latest history items used as anchors (default 5). */
  recent?: number;
  /** Neighbours kept per item (default 50). */
  neighbors?: number;
  /** Shrinkage of the co-occurrence cosine (default 2). */
  shrink?: number;
}

/**
 * "Customers who bought X also bought": item-to-item cosine over users'
 * histories (co-visitation), summed over the latest history items.
 */
export class ItemToItemSource implements CandidateSource {
  readonly kind = 'similar';
  readonly name: string;
  readonly contexts: readonly Context[];
  lists: NeighborLists | undefined;
  private catalog!: Catalog;
  private readonly acc = new NeighborAccumulator(new ListBuffer());

  constructor(private readonly options: ItemToItemOptions = {}) {
    this.name = options.name ?? 'similar';
    this.contexts = options.contexts ?? ['home', 'item'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.catalog = catalog;
    const s = catalog.signals;
    this.lists = coOccurrenceNeighbors(s.recentPtr, s.recentItems, catalog.items.size, { topM: this.options.neighbors ?? 50, shrink: this.options.shrink ?? 2 });
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    return this.acc.run(this.lists!, anchorsOf(req, this.options.recent ?? 5), n, blocked, this.catalog.items.size);
  }

  evidence(req: Request, item: number): Evidence | undefined {
    const a = this.acc.topAnchor(item);
    if (a < 0) return undefined;
    const c = this.catalog;
    const verb = req.anchor >= 0 ? 'viewing' : 'bought';
    return { source: this.name, kind: 'similar', text: `shoppers who bought ${itemLabel(c, a)} also bought this (you ${verb === 'viewing' ? 'are viewing' : 'bought'} ${itemLabel(c, a)})`, items: [c.items.id(a)] };
  }
}

// ---- content-similar ----------------------------------------------------------------

export interface ContentSourceOptions {
  name?: string;
  contexts?: readonly Context[];
  recent?: number;
  /** Content neighbours precomputed per item (default 50). */
  neighbors?: number;
}

/** Items whose attributes resemble the latest history items (or the page's item), by content-vector cosine. */
export class ContentSource implements CandidateSource {
  readonly kind = 'content';
  readonly name: string;
  readonly contexts: readonly Context[];
  lists: NeighborLists | undefined;
  private catalog!: Catalog;
  private readonly acc = new NeighborAccumulator(new ListBuffer());

  constructor(private readonly options: ContentSourceOptions = {}) {
    this.name = options.name ?? 'content';
    this.contexts = options.contexts ?? ['home', 'item'];
  }

  async prepare(catalog: Catalog, _dataset: Dataset | undefined, options: PrepareOptions): Promise<void> {
    this.catalog = catalog;
    if (!catalog.content) throw new InvalidArgumentError(`the content source '${this.name}' needs item features: build the dataset with { itemFeatures }`);
    if (!this.lists) this.lists = await contentNeighbors(catalog, this.options.neighbors ?? 50, options.threads);
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    return this.acc.run(this.lists!, anchorsOf(req, this.options.recent ?? 5), n, blocked, this.catalog.items.size);
  }

  score(req: Request, item: number): number {
    const content = this.catalog.content!;
    const anchors = anchorsOf(req, this.options.recent ?? 5);
    let s = 0;
    for (let a = 0; a < anchors.items.length; a++) s += anchors.weights[a]! * Math.max(0, content.similarity(anchors.items[a]!, item));
    return s;
  }

  evidence(req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    let a = this.acc.topAnchor(item);
    if (a < 0) {
      // Scored but not generated: name the most similar anchor.
      let best = 0;
      for (const x of anchorsOf(req, this.options.recent ?? 5).items) {
        const s = c.content!.similarity(x, item);
        if (s > best) [best, a] = [s, x];
      }
      if (a < 0) return undefined;
    }
    const shared = sharedAttributes(c, a, item);
    return {
      source: this.name,
      kind: 'content',
      text: `similar to ${itemLabel(c, a)}${shared.length ? ` (same ${listText(shared)})` : ''}`,
      items: [c.items.id(a)],
    };
  }
}

/** Columns on which two items have the same categorical value. */
export function sharedAttributes(c: Catalog, a: number, b: number): string[] {
  const f = c.features;
  if (!f) return [];
  const ra = f.get(c.items.id(a));
  const rb = f.get(c.items.id(b));
  if (!ra || !rb) return [];
  return f.columns.filter((col) => f.schema[col] === 'categorical' && ra[col] !== undefined && ra[col] === rb[col]);
}

/** Top-m content neighbours of every item (exact, by the native fused scoring + top-k). */
export async function contentNeighbors(catalog: Catalog, m: number, threads: number): Promise<NeighborLists> {
  const { callAsync } = await import('../native.js');
  const content = catalog.content!;
  const n = content.numItems;
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  // Each item is its own "seen" item, so it never lists itself.
  const indptr = new BigInt64Array(n + 1);
  for (let i = 0; i <= n; i++) indptr[i] = BigInt(i);
  const seen = { rows: n, cols: n, indptr, indices: rows, data: new Float32Array(n).fill(1) };
  const r = await callAsync((nb) => nb.factorTopKMany(content.vectors, rows, content.vectors, content.dim, null, seen, null, null, m, threads, null, null));
  const ptr = new Int32Array(n + 1);
  const items: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    if (content.hasFeatures[i]) {
      for (let p = 0; p < m; p++) {
        const j = r.indices[i * m + p]!;
        const s = r.scores[i * m + p]!;
        if (j < 0 || !(s > 0) || !content.hasFeatures[j]) continue;
        items.push(j);
        scores.push(s);
      }
    }
    ptr[i + 1] = items.length;
  }
  return { ptr, items: Int32Array.from(items), scores: Float32Array.from(scores), counts: new Int32Array(items.length) };
}

// ---- basket complements ----------------------------------------------------------------

export interface ComplementOptions {
  name?: string;
  contexts?: readonly Context[];
  neighbors?: number;
  shrink?: number;
  /**
   * How strongly content similarity discounts co-purchase (default 1):
   * complement(i, j) = cooc(i, j) · (1 − β · max(0, cos_content(i, j))).
   * Items that look alike (substitutes: another brand of the same thing) drop out.
   */
  substitutePenalty?: number;
  /** Latest history items used as the "current basket" on the home page (default 3). */
  recent?: number;
}

/** Cross-sell: items bought in the same baskets as the cart's (or page's) items, not look-alikes of them. */
export class ComplementSource implements CandidateSource {
  readonly kind = 'complement';
  readonly name: string;
  readonly contexts: readonly Context[];
  lists: NeighborLists | undefined;
  private catalog!: Catalog;
  private readonly acc = new NeighborAccumulator(new ListBuffer());

  constructor(private readonly options: ComplementOptions = {}) {
    this.name = options.name ?? 'complements';
    this.contexts = options.contexts ?? ['home', 'item', 'basket'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.catalog = catalog;
    const s = catalog.signals;
    const beta = this.options.substitutePenalty ?? 1;
    const content = catalog.content;
    this.lists = coOccurrenceNeighbors(s.basketPtr, s.basketItems, catalog.items.size, {
      topM: this.options.neighbors ?? 50,
      shrink: this.options.shrink ?? 1,
      adjust: content && beta > 0 ? (i, j, x) => x * (1 - beta * Math.max(0, content.similarity(i, j))) : undefined,
    });
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    return this.acc.run(this.lists!, anchorsOf(req, this.options.recent ?? 3), n, blocked, this.catalog.items.size);
  }

  evidence(_req: Request, item: number): Evidence | undefined {
    const a = this.acc.topAnchor(item);
    if (a < 0) return undefined;
    const c = this.catalog;
    const nb = neighborsOf(this.lists!, a);
    let count = 0;
    for (let p = 0; p < nb.items.length; p++) if (nb.items[p] === item) count = nb.counts[p]!;
    return { source: this.name, kind: 'complement', text: `often bought with ${itemLabel(c, a)} (together in ${count} baskets)`, items: [c.items.id(a)], count };
  }
}

// ---- popularity: trending, within a category or segment ------------------------------

/** Items ranked by a score, overall and within each category (precomputed, top `keep`). */
class RankedLists {
  global = new Int32Array(0);
  byCategory: Int32Array[] = [];
  build(score: Float32Array, codes: Int32Array | undefined, categories: number, keep: number): void {
    const order = Int32Array.from({ length: score.length }, (_, i) => i).filter((i) => score[i]! > 0);
    order.sort((a, b) => score[b]! - score[a]! || a - b);
    this.global = order.slice(0, keep);
    this.byCategory = Array.from({ length: categories }, () => [] as number[]).map(() => new Int32Array(0));
    if (!codes) return;
    const lists: number[][] = Array.from({ length: categories }, () => []);
    for (const i of order) {
      const c = codes[i]!;
      if (c >= 0 && lists[c]!.length < keep) lists[c]!.push(i);
    }
    this.byCategory = lists.map((l) => Int32Array.from(l));
  }
}

function takeRanked(list: Int32Array, score: Float32Array, n: number, blocked: (i: number) => boolean, out: ListBuffer): CandidateList {
  out.reset(n);
  for (let r = 0; r < list.length && out.count < n; r++) {
    const i = list[r]!;
    if (!blocked(i)) out.push(i, score[i]!);
  }
  return out;
}

export interface TrendingOptions {
  name?: string;
  contexts?: readonly Context[];
  /** Items kept per ranked list (default 1000). */
  keep?: number;
}

/** Trending: time-decayed popularity (half-life from the signals), within the request's category when it has one. */
export class TrendingSource implements CandidateSource {
  readonly kind = 'trending';
  readonly name: string;
  readonly contexts: readonly Context[];
  private catalog!: Catalog;
  private readonly lists = new RankedLists();
  private readonly out = new ListBuffer();

  constructor(private readonly options: TrendingOptions = {}) {
    this.name = options.name ?? 'trending';
    this.contexts = options.contexts ?? ['home', 'item'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.catalog = catalog;
    this.lists.build(catalog.signals.trending, catalog.category?.codes, catalog.category?.names.length ?? 0, this.options.keep ?? 1000);
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const list = req.category >= 0 && this.lists.byCategory[req.category] ? this.lists.byCategory[req.category]! : this.lists.global;
    return takeRanked(list, this.catalog.signals.trending, n, blocked, this.out);
  }

  score(_req: Request, item: number): number {
    return this.catalog.signals.trending[item]!;
  }

  evidence(_req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    const week = c.signals.lastWeek[item]!;
    const cat = categoryName(c, item);
    const where = cat ? ` in ${cat}` : '';
    return week > 0
      ? { source: this.name, kind: 'trending', text: `popular${where} this week (${week} purchases)`, count: week, ...(cat ? { category: cat } : {}) }
      : { source: this.name, kind: 'trending', text: `trending${where} (recent purchases)`, ...(cat ? { category: cat } : {}) };
  }
}

export interface PopularOptions {
  name?: string;
  contexts?: readonly Context[];
  keep?: number;
  /** User feature column whose value is a segment (popularity among users of the same segment). */
  segmentColumn?: string;
}

/**
 * Popularity within the context: the request's category, else the user's
 * segment (a user feature), else overall. The cold-start answer for users
 * with no events.
 */
export class PopularSource implements CandidateSource {
  readonly kind = 'popular';
  readonly name: string;
  readonly contexts: readonly Context[];
  private catalog!: Catalog;
  private readonly lists = new RankedLists();
  private readonly segments = new Map<string, { list: Int32Array; score: Float32Array }>();
  private readonly out = new ListBuffer();

  get segmentColumnName(): string | undefined {
    return this.options.segmentColumn;
  }

  constructor(private readonly options: PopularOptions = {}) {
    this.name = options.name ?? 'popular';
    this.contexts = options.contexts ?? ['home', 'item', 'basket'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.catalog = catalog;
    const keep = this.options.keep ?? 1000;
    this.lists.build(catalog.signals.popularity, catalog.category?.codes, catalog.category?.names.length ?? 0, keep);
    this.segments.clear();
    const col = this.options.segmentColumn;
    if (col && catalog.userFeatures) {
      const bySegment = new Map<string, Float32Array>();
      const m = catalog.matrix;
      for (let u = 0; u < catalog.users.size; u++) {
        const v = catalog.userFeatures.get(catalog.users.id(u))?.[col];
        if (v === undefined) continue;
        const key = String(v);
        let score = bySegment.get(key);
        if (!score) bySegment.set(key, (score = new Float32Array(catalog.items.size)));
        for (const i of csrRow(m, u).indices) score[i]! += 1;
      }
      for (const [key, score] of bySegment) {
        const rl = new RankedLists();
        rl.build(score, undefined, 0, keep);
        this.segments.set(key, { list: rl.global, score });
      }
    }
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const pop = this.catalog.signals.popularity;
    if (req.category >= 0 && this.lists.byCategory[req.category]) return takeRanked(this.lists.byCategory[req.category]!, pop, n, blocked, this.out);
    const seg = req.segment !== undefined ? this.segments.get(req.segment) : undefined;
    if (seg) return takeRanked(seg.list, seg.score, n, blocked, this.out);
    return takeRanked(this.lists.global, pop, n, blocked, this.out);
  }

  score(_req: Request, item: number): number {
    return this.catalog.signals.popularity[item]!;
  }

  evidence(req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    const buyers = c.signals.popularity[item]!;
    if (req.category < 0 && req.segment !== undefined && this.segments.has(req.segment)) {
      return { source: this.name, kind: 'popular', text: `popular with ${this.options.segmentColumn} ${req.segment} shoppers`, count: buyers };
    }
    const cat = categoryName(c, item);
    return { source: this.name, kind: 'popular', text: `popular${cat ? ` in ${cat}` : ''} (${buyers} buyers)`, count: buyers, ...(cat ? { category: cat } : {}) };
  }
}

export interface NewArrivalsOptions {
  name?: string;
  contexts?: readonly Context[];
  /** Items first seen at most this many days before "now" count as new (default 14). */
  days?: number;
  keep?: number;
}

/** New arrivals: items first seen recently, newest first; in the user's own categories first. */
export class NewArrivalsSource implements CandidateSource {
  readonly kind = 'new';
  readonly name: string;
  readonly contexts: readonly Context[];
  private catalog!: Catalog;
  private list = new Int32Array(0);
  private readonly out = new ListBuffer();
  private readonly mine = new Set<number>();

  constructor(private readonly options: NewArrivalsOptions = {}) {
    this.name = options.name ?? 'new';
    this.contexts = options.contexts ?? ['home'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.catalog = catalog;
    const s = catalog.signals;
    const cutoff = s.now - (this.options.days ?? 14) * 86_400_000;
    const fresh = Int32Array.from({ length: s.numItems }, (_, i) => i).filter((i) => s.firstSeen[i]! >= cutoff && Number.isFinite(s.firstSeen[i]!));
    fresh.sort((a, b) => s.firstSeen[b]! - s.firstSeen[a]! || a - b);
    this.list = fresh.slice(0, this.options.keep ?? 2000);
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const out = this.out.reset(n);
    const s = this.catalog.signals;
    const codes = this.catalog.category?.codes;
    const days = (this.options.days ?? 14) * 86_400_000;
    this.mine.clear();
    if (codes) for (const h of req.history) if (codes[h]! >= 0) this.mine.add(codes[h]!);
    // Freshness in (0, 1], plus 1 for the user's own categories: their new items first.
    const top = new TopList(n);
    for (const i of this.list) {
      if (blocked(i) || (req.category >= 0 && codes && codes[i] !== req.category)) continue;
      const fresh = 1 - (s.now - s.firstSeen[i]!) / (days + 1);
      top.push(i, fresh + (codes && this.mine.has(codes[i]!) ? 1 : 0));
    }
    const r = top.sorted();
    for (let q = 0; q < r.indices.length; q++) out.push(r.indices[q]!, r.scores[q]!);
    return out;
  }

  evidence(_req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    const cat = categoryName(c, item);
    const since = new Date(c.signals.firstSeen[item]!).toISOString().slice(0, 10);
    return { source: this.name, kind: 'new', text: `new${cat ? ` in ${cat}` : ''} (first sold ${since})`, ...(cat ? { category: cat } : {}) };
  }
}

export type { Id };
