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
import type { History, Recommender } from '../recommender.js';
import { choleskySolve } from './linalg.js';
import { callSync } from '../native.js';
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
  /** Rebuild synchronously from a loaded catalog (built-in sources; needed to load saved models). */
  restore?(catalog: Catalog): void;
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
  private touched = new Int32Array(0);
  private top: TopList | undefined;
  constructor(private readonly out: ListBuffer) {}

  run(lists: NeighborLists, anchors: { items: number[]; weights: number[] }, n: number, blocked: (i: number) => boolean, numItems: number): CandidateList {
    if (this.acc.length < numItems) {
      this.acc = new Float32Array(numItems);
      this.best = new Int32Array(numItems);
      this.bestShare = new Float32Array(numItems);
      this.stamp = new Int32Array(numItems);
      this.touched = new Int32Array(numItems);
    }
    const run = ++this.runs;
    const stamp = this.stamp;
    const { acc, best, bestShare, touched } = this;
    let nt = 0;
    for (let a = 0; a < anchors.items.length; a++) {
      const nb = neighborsOf(lists, anchors.items[a]!);
      const w = anchors.weights[a]!;
      for (let p = 0; p < nb.items.length; p++) {
        const j = nb.items[p]!;
        const share = w * nb.scores[p]!;
        if (stamp[j] !== run) {
          stamp[j] = run;
          touched[nt++] = j;
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
    const top = (this.top = TopList.reuse(this.top, n));
    for (let t = 0; t < nt; t++) {
      const j = touched[t]!;
      if (acc[j]! > top.threshold && !blocked(j)) top.push(j, acc[j]!);
    }
    const out = this.out.reset(n);
    out.count = top.drainInto(out.indices, out.scores);
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

  constructor(private readonly modelOrFactory: Recommender | (() => Recommender), readonly options: ModelSourceOptions = {}) {
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

  /** Use a loaded model. */
  restore(catalog: Catalog): void {
    this.catalog = catalog;
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const out = this.out.reset(n);
    const model = this.model!;
    const c = this.catalog;
    // Over-fetch: the caller's blocks (rules, exclusions) are applied here, after the model.
    const k = Math.min(n * 2 + 10, c.items.size);
    let recs;
    try {
      if (req.user >= 0) recs = model.recommend(c.users.id(req.user), { k, filterSeen: req.filterSeen });
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
 * A source that sums precomputed item-to-item neighbour lists over a request's
 * anchors (its latest history items, or the page's item). Subclasses say how
 * the lists are built from the catalog; lists loaded with a saved model
 * (`preset`) serve the next restore instead of being rebuilt.
 */
abstract class NeighborListSource implements CandidateSource {
  abstract readonly kind: string;
  readonly name: string;
  readonly contexts: readonly Context[];
  lists: NeighborLists | undefined;
  /** Set when lists were loaded with a saved model: the next restore keeps them. */
  preset = false;
  protected catalog!: Catalog;
  protected readonly acc = new NeighborAccumulator(new ListBuffer());

  constructor(
    name: string,
    contexts: readonly Context[],
    private readonly recent: number,
  ) {
    this.name = name;
    this.contexts = contexts;
  }

  protected abstract buildLists(catalog: Catalog): NeighborLists;

  async prepare(catalog: Catalog): Promise<void> {
    this.restore(catalog);
  }

  /** Build from a fitted (or loaded) catalog, synchronously. */
  restore(catalog: Catalog): void {
    this.catalog = catalog;
    if (this.preset) {
      this.preset = false; // loaded lists serve this catalog; a later fit rebuilds them
      return;
    }
    this.lists = this.buildLists(catalog);
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    return this.acc.run(this.lists!, anchorsOf(req, this.recent), n, blocked, this.catalog.items.size);
  }

  abstract evidence(req: Request, item: number): Evidence | undefined;
}

/**
 * "Customers who bought X also bought": item-to-item cosine over users'
 * histories (co-visitation), summed over the latest history items.
 */
export class ItemToItemSource extends NeighborListSource {
  readonly kind = 'similar';

  constructor(readonly options: ItemToItemOptions = {}) {
    super(options.name ?? 'similar', options.contexts ?? ['home', 'item'], options.recent ?? 5);
  }

  protected buildLists(catalog: Catalog): NeighborLists {
    const s = catalog.signals;
    return coOccurrenceNeighbors(s.recentPtr, s.recentItems, catalog.items.size, { topM: this.options.neighbors ?? 50, shrink: this.options.shrink ?? 2 });
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

  constructor(readonly options: ContentSourceOptions = {}) {
    this.name = options.name ?? 'content';
    this.contexts = options.contexts ?? ['home', 'item'];
  }

  async prepare(catalog: Catalog, _dataset: Dataset | undefined, options: PrepareOptions): Promise<void> {
    this.catalog = catalog;
    if (!catalog.content) throw new InvalidArgumentError(`the content source '${this.name}' needs item features: build the dataset with { itemFeatures }`);
    if (!this.lists) this.lists = await contentNeighbors(catalog, this.options.neighbors ?? 50, options.threads);
  }

  /** Use a loaded catalog and neighbour lists (set `lists` first). */
  restore(catalog: Catalog): void {
    if (!this.lists || !catalog.content) throw new InvalidArgumentError(`the content source '${this.name}' cannot be restored without its neighbour lists and content vectors`);
    this.catalog = catalog;
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
export class ComplementSource extends NeighborListSource {
  readonly kind = 'complement';

  constructor(readonly options: ComplementOptions = {}) {
    super(options.name ?? 'complements', options.contexts ?? ['home', 'item', 'basket'], options.recent ?? 3);
  }

  protected buildLists(catalog: Catalog): NeighborLists {
    const s = catalog.signals;
    const beta = this.options.substitutePenalty ?? 1;
    const content = catalog.content;
    return coOccurrenceNeighbors(s.basketPtr, s.basketItems, catalog.items.size, {
      topM: this.options.neighbors ?? 50,
      shrink: this.options.shrink ?? 1,
      adjust: content && beta > 0 ? (i, j, x) => x * (1 - beta * Math.max(0, content.similarity(i, j))) : undefined,
    });
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

  constructor(readonly options: TrendingOptions = {}) {
    this.name = options.name ?? 'trending';
    this.contexts = options.contexts ?? ['home', 'item'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.restore(catalog);
  }

  /** Build from a fitted (or loaded) catalog, synchronously. */
  restore(catalog: Catalog): void {
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

  constructor(readonly options: PopularOptions = {}) {
    this.name = options.name ?? 'popular';
    this.contexts = options.contexts ?? ['home', 'item', 'basket'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.restore(catalog);
  }

  /** Build from a fitted (or loaded) catalog, synchronously. */
  restore(catalog: Catalog): void {
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
  private mine = new Int32Array(0); // category -> request stamp when the user shops it
  private stamp = 0;
  private top: TopList | undefined;

  constructor(readonly options: NewArrivalsOptions = {}) {
    this.name = options.name ?? 'new';
    this.contexts = options.contexts ?? ['home'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.restore(catalog);
  }

  /** Build from a fitted (or loaded) catalog, synchronously. */
  restore(catalog: Catalog): void {
    this.catalog = catalog;
    const s = catalog.signals;
    const cutoff = s.now - (this.options.days ?? 14) * 86_400_000;
    const fresh = Int32Array.from({ length: s.numItems }, (_, i) => i).filter((i) => s.firstSeen[i]! >= cutoff && Number.isFinite(s.firstSeen[i]!));
    fresh.sort((a, b) => s.firstSeen[b]! - s.firstSeen[a]! || a - b);
    this.list = fresh.slice(0, this.options.keep ?? 500);
    this.mine = new Int32Array(catalog.category?.names.length ?? 0);
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const out = this.out.reset(n);
    const s = this.catalog.signals;
    const codes = this.catalog.category?.codes;
    const days = (this.options.days ?? 14) * 86_400_000;
    const stamp = ++this.stamp;
    const mine = this.mine;
    if (codes) for (const h of req.history) if (codes[h]! >= 0) mine[codes[h]!] = stamp;
    // Freshness in (0, 1], plus 1 for the user's own categories: their new items first.
    const top = (this.top = TopList.reuse(this.top, n));
    const list = this.list;
    for (let q = 0; q < list.length; q++) {
      const i = list[q]!;
      if (req.category >= 0 && codes && codes[i] !== req.category) continue;
      const score = 1 - (s.now - s.firstSeen[i]!) / (days + 1) + (codes && codes[i]! >= 0 && mine[codes[i]!] === stamp ? 1 : 0);
      if (score > top.threshold && !blocked(i)) top.push(i, score);
    }
    out.count = top.drainInto(out.indices, out.scores);
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

// ---- popular in the user's own categories -----------------------------------------------

export interface CategoryAffinityOptions {
  name?: string;
  contexts?: readonly Context[];
  /** The user's top categories considered (default 5). */
  categories?: number;
  keep?: number;
}

/**
 * "Popular in categories you buy": the user's category shares (from recent
 * items, newer ones weighing more) times each item's popularity relative to
 * the best seller of its category.
 */
export class CategoryAffinitySource implements CandidateSource {
  readonly kind = 'affinity';
  readonly name: string;
  readonly contexts: readonly Context[];
  private catalog!: Catalog;
  private readonly lists = new RankedLists();
  private top = new Float32Array(0);
  private readonly out = new ListBuffer();
  private share = new Map<number, number>();
  private counts = new Map<number, number>();
  private topList: TopList | undefined;

  constructor(readonly options: CategoryAffinityOptions = {}) {
    this.name = options.name ?? 'affinity';
    this.contexts = options.contexts ?? ['home'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.restore(catalog);
  }

  /** Build from a fitted (or loaded) catalog, synchronously. */
  restore(catalog: Catalog): void {
    this.catalog = catalog;
    if (!catalog.category) throw new InvalidArgumentError(`the source '${this.name}' needs a category column: build the dataset with item features`);
    const pop = catalog.signals.popularity;
    this.lists.build(pop, catalog.category.codes, catalog.category.names.length, this.options.keep ?? 300);
    this.top = Float32Array.from(this.lists.byCategory, (l) => (l.length ? pop[l[0]!]! : 1));
  }

  /** Category shares of a request's history (newest items weigh most). */
  private shares(req: Request): Map<number, number> {
    const codes = this.catalog.category!.codes;
    const share = this.share;
    const counts = this.counts;
    share.clear();
    counts.clear();
    let total = 0;
    const h = req.history;
    for (let r = 0; r < h.length; r++) {
      const c = codes[h[r]!]!;
      if (c < 0) continue;
      const w = Math.pow(0.97, h.length - 1 - r);
      share.set(c, (share.get(c) ?? 0) + w);
      counts.set(c, (counts.get(c) ?? 0) + 1);
      total += w;
    }
    for (const [c, w] of share) share.set(c, w / total);
    return share;
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const out = this.out.reset(n);
    const share = this.shares(req);
    if (share.size === 0) return out;
    const cats = [...share.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, this.options.categories ?? 5);
    const pop = this.catalog.signals.popularity;
    const top = (this.topList = TopList.reuse(this.topList, n));
    for (const [c, s] of cats) {
      const list = this.lists.byCategory[c]!;
      let taken = 0;
      for (let r = 0; r < list.length && taken < n; r++) {
        const i = list[r]!;
        if (blocked(i)) continue;
        const score = (s * pop[i]!) / this.top[c]!;
        if (score <= top.threshold) break; // lists are sorted: nothing further can enter
        top.push(i, score);
        taken++;
      }
    }
    out.count = top.drainInto(out.indices, out.scores);
    return out;
  }

  score(req: Request, item: number): number {
    const c = this.catalog.category!.codes[item]!;
    const share = this.shares(req).get(c);
    return share === undefined ? 0 : (share * this.catalog.signals.popularity[item]!) / this.top[c]!;
  }

  evidence(req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    const code = c.category!.codes[item]!;
    this.shares(req);
    const mine = this.counts.get(code) ?? 0;
    if (mine === 0) return undefined;
    const cat = c.category!.names[code]!;
    const buyers = c.signals.popularity[item]!;
    return { source: this.name, kind: 'popular', text: `popular in ${cat} (${buyers} buyers), a category you buy (${mine} of your items)`, category: cat, count: buyers };
  }
}

// ---- cold start: new items scored through their attributes -------------------------------

/** What cold start needs of a factor model (AlsModel and PureSVD-style models have it). */
export interface FactorModelLike {
  readonly fitted: boolean;
  /** items x factors, row-major, in the dataset's item order. */
  readonly itemFactors: Float32Array;
  /** users x factors, row-major. */
  readonly userFactors: Float32Array;
  /** Factors of a user described by a history (fold-in). */
  foldIn?(history: History): { factors: Float32Array };
}

export interface ColdStartOptions {
  name?: string;
  contexts?: readonly Context[];
  /** Ridge penalty λ of the content → factor regression (default 1). */
  l2?: number;
  /** Items with at least this many buyers train the regression (default 2). */
  minBuyers?: number;
  /** Weight each warm item by log(1 + buyers) in the regression (default true). */
  weighted?: boolean;
  /**
   * Weight β of the user's own category share (default 10): a cold item scores
   *   z(⟨u, ŷᵢ⟩) + β · share(user, category of i)
   * with z the user's projected scores standardized over the cold items. 0 = projection only.
   */
  categoryWeight?: number;
}

/**
 * New items (attributes known, no interactions yet) get factor vectors from
 * their content vectors by (weighted) ridge regression fitted on warm items:
 *   W = argmin Σᵢ cᵢ‖(xᵢ − μx)W − (yᵢ − μy)‖² + λ‖W‖²  = ((X−μx)ᵀC(X−μx) + λI)⁻¹ (X−μx)ᵀC(Y−μy)
 * with cᵢ = log(1 + buyers of i) (items with more buyers have better factors), μ the c-weighted means,
 * with X the warm items' content vectors and Y their collaborative factors;
 * a cold item's factors are (x − μx)W + μy, so every user gets a score for it.
 */
export class ColdStartSource implements CandidateSource {
  readonly kind = 'coldstart';
  readonly name: string;
  readonly contexts: readonly Context[];
  private catalog!: Catalog;
  private model: FactorModelLike | undefined;
  /** Cold items and their projected factors (row-major). */
  coldItems = new Int32Array(0);
  projected = new Float32Array(0);
  dim = 0;
  private coldPos = new Map<number, number>();
  private readonly out = new ListBuffer();
  private top: TopList | undefined;
  private cachedFor: Request | undefined;
  private cachedVector: Float32Array | undefined;

  /** `model`: a factor model, or a ModelSource holding one (its model is used once prepared). */
  constructor(readonly modelOrSource: FactorModelLike | ModelSource | FactorSource, readonly options: ColdStartOptions = {}) {
    this.name = options.name ?? 'coldstart';
    this.contexts = options.contexts ?? ['home'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.restore(catalog);
  }

  /** Build from a fitted (or loaded) catalog, synchronously. */
  restore(catalog: Catalog): void {
    this.catalog = catalog;
    const model = (this.modelOrSource instanceof ModelSource || this.modelOrSource instanceof FactorSource ? this.modelOrSource.model : this.modelOrSource) as FactorModelLike | undefined;
    const content = catalog.content;
    if (!content) throw new InvalidArgumentError(`the source '${this.name}' needs item features (content vectors)`);
    if (!model || !model.fitted || !(model.itemFactors instanceof Float32Array)) {
      throw new InvalidArgumentError(`the source '${this.name}' needs a fitted factor model with itemFactors (list its ModelSource before it)`);
    }
    const n = catalog.items.size;
    const f = model.itemFactors.length / n;
    if (!Number.isInteger(f) || f < 1) throw new InvalidArgumentError(`the source '${this.name}': itemFactors has ${model.itemFactors.length} values, not a multiple of the ${n} items`);
    this.model = model;
    this.dim = f;
    const pop = catalog.signals.popularity;
    const minBuyers = this.options.minBuyers ?? 2;
    const warm: number[] = [];
    const cold: number[] = [];
    for (let i = 0; i < n; i++) {
      if (!content.hasFeatures[i]) continue;
      if (pop[i]! >= minBuyers) warm.push(i);
      else if (pop[i] === 0) cold.push(i);
    }
    const d = content.dim;
    const X = content.vectors;
    const Y = model.itemFactors;
    const mx = new Float64Array(d);
    const my = new Float64Array(f);
    // Items with more buyers have better-estimated factors: weight them by log(1 + buyers).
    const weightOf = (i: number) => (this.options.weighted === false ? 1 : Math.log1p(pop[i]!));
    let wsum = 0;
    for (const i of warm) {
      const wi = weightOf(i);
      wsum += wi;
      for (let a = 0; a < d; a++) mx[a]! += wi * X[i * d + a]!;
      for (let b = 0; b < f; b++) my[b]! += wi * Y[i * f + b]!;
    }
    for (let a = 0; a < d; a++) mx[a]! /= Math.max(1e-12, wsum);
    for (let b = 0; b < f; b++) my[b]! /= Math.max(1e-12, wsum);
    const xtx = new Float64Array(d * d);
    const xty = new Float64Array(d * f);
    const xc = new Float64Array(d);
    for (const i of warm) {
      const wi = weightOf(i);
      for (let a = 0; a < d; a++) xc[a] = X[i * d + a]! - mx[a]!;
      for (let a = 0; a < d; a++) {
        const xa = wi * xc[a]!;
        for (let b = 0; b < d; b++) xtx[a * d + b]! += xa * xc[b]!;
        for (let b = 0; b < f; b++) xty[a * f + b]! += xa * (Y[i * f + b]! - my[b]!);
      }
    }
    const l2 = this.options.l2 ?? 1;
    for (let a = 0; a < d; a++) xtx[a * d + a]! += l2;
    const w = choleskySolve(xtx, d, xty, f);
    this.coldItems = Int32Array.from(cold);
    this.projected = new Float32Array(cold.length * f);
    cold.forEach((i, r) => {
      for (let a = 0; a < d; a++) xc[a] = X[i * d + a]! - mx[a]!;
      for (let b = 0; b < f; b++) {
        let s = my[b]!;
        for (let a = 0; a < d; a++) s += xc[a]! * w[a * f + b]!;
        this.projected[r * f + b] = s;
      }
    });
    this.coldPos = new Map(cold.map((i, r) => [i, r]));
    this.cachedFor = undefined;
  }

  /** The request's user vector: trained factors, or a fold-in of the history. */
  private userVector(req: Request): Float32Array | undefined {
    if (this.cachedFor === req) return this.cachedVector;
    const m = this.model!;
    const f = this.dim;
    let v: Float32Array | undefined;
    if (req.user >= 0 && m.userFactors.length >= (req.user + 1) * f) v = m.userFactors.subarray(req.user * f, (req.user + 1) * f);
    else if (req.history.length > 0 && m.foldIn) v = m.foldIn(this.catalog.items.idsOf(req.history)).factors;
    this.cachedFor = req;
    this.cachedVector = v;
    return v;
  }

  /** Score of cold item at row r of the projection. */
  private dot(v: Float32Array, r: number): number {
    const f = this.dim;
    let s = 0;
    for (let b = 0; b < f; b++) s += v[b]! * this.projected[r * f + b]!;
    return s;
  }

  /** Per request: mean and sd of the user's projected scores over the cold items, and category shares. */
  private stats(req: Request): { v: Float32Array; mean: number; sd: number; share: Map<number, number> } | undefined {
    if (this.statsFor === req) return this.cachedStats;
    const v = this.userVector(req);
    let out: typeof this.cachedStats;
    if (v) {
      let sum = 0;
      let sq = 0;
      const m = this.coldItems.length;
      for (let r = 0; r < m; r++) {
        const x = this.dot(v, r);
        sum += x;
        sq += x * x;
      }
      const mean = m ? sum / m : 0;
      const sd = m ? Math.sqrt(Math.max(0, sq / m - mean * mean)) : 1;
      const share = new Map<number, number>();
      const codes = this.catalog.category?.codes;
      if (codes && req.history.length) {
        for (const h of req.history) if (codes[h]! >= 0) share.set(codes[h]!, (share.get(codes[h]!) ?? 0) + 1 / req.history.length);
      }
      out = { v, mean, sd: sd || 1, share };
    }
    this.statsFor = req;
    this.cachedStats = out;
    return out;
  }
  private statsFor: Request | undefined;
  private cachedStats: { v: Float32Array; mean: number; sd: number; share: Map<number, number> } | undefined;

  private coldScore(st: { v: Float32Array; mean: number; sd: number; share: Map<number, number> }, r: number, item: number): number {
    const beta = this.options.categoryWeight ?? 10;
    const code = this.catalog.category?.codes[item] ?? -1;
    return (this.dot(st.v, r) - st.mean) / st.sd + (beta > 0 && code >= 0 ? beta * (st.share.get(code) ?? 0) : 0);
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const out = this.out.reset(n);
    const st = this.stats(req);
    if (!st) return out;
    const top = (this.top = TopList.reuse(this.top, n));
    for (let r = 0; r < this.coldItems.length; r++) {
      const i = this.coldItems[r]!;
      if (!blocked(i)) top.push(i, this.coldScore(st, r, i));
    }
    out.count = top.drainInto(out.indices, out.scores);
    return out;
  }

  score(req: Request, item: number): number {
    const r = this.coldPos.get(item);
    const st = r === undefined ? undefined : this.stats(req);
    return r === undefined || !st ? NaN : this.coldScore(st, r, item);
  }

  evidence(req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    let best = -1;
    let bestSim = 0;
    for (const h of req.history) {
      const s = c.content!.similarity(h, item);
      if (s > bestSim) [best, bestSim] = [h, s];
    }
    const cat = categoryName(c, item);
    const like = best >= 0 ? `; like ${itemLabel(c, best)}${sharedAttributes(c, best, item).length ? ` (same ${listText(sharedAttributes(c, best, item))})` : ''}` : '';
    return { source: this.name, kind: 'coldstart', text: `new${cat ? ` in ${cat}` : ''}, not yet bought by anyone: scored from its attributes${like}`, ...(best >= 0 ? { items: [c.items.id(best)] } : {}), ...(cat ? { category: cat } : {}) };
  }
}

// ---- a factor model scored directly (exact, or through an ANN index) -------------------------

/** Retrieval by inner product (ann's AnnScorer has this shape). */
export interface VectorRetriever {
  recommend(user: Float32Array, k: number, filters?: { seen?: ArrayLike<number> | null; exclude?: ArrayLike<number> | null; include?: ArrayLike<number> | null }): { indices: Int32Array; scores: Float32Array };
}

export interface FactorSourceOptions {
  name?: string;
  contexts?: readonly Context[];
  /**
   * Candidate retrieval: an ANN scorer over the item factors (e.g. ann's
   * AnnScorer), or a function building one once the model is fitted. Default:
   * exact fused SIMD scoring over all items.
   */
  retriever?: VectorRetriever | ((itemFactors: Float32Array, dim: number) => Promise<VectorRetriever>);
}

/**
 * A factor model (ALS, PureSVD...) used through its vectors: candidates by
 * <user, item> (exact or ANN), any other candidate scored exactly, new
 * visitors folded in. Evidence from the model's explain() ("bought X and Y").
 * Pass the model (fitted, or fitted here on the dataset) or a factory.
 */
export class FactorSource implements CandidateSource {
  readonly kind = 'model';
  readonly name: string;
  readonly contexts: readonly Context[];
  model: (FactorModelLike & Partial<Recommender>) | undefined;
  owned = false;
  private catalog!: Catalog;
  private dim = 0;
  private retriever: VectorRetriever | undefined;
  private readonly out = new ListBuffer();
  private cachedFor: Request | undefined;
  private cachedVector: Float32Array | undefined;

  constructor(
    private readonly modelOrFactory: (FactorModelLike & Partial<Recommender>) | (() => FactorModelLike & Partial<Recommender>),
    readonly options: FactorSourceOptions = {},
  ) {
    this.model = typeof modelOrFactory === 'function' ? undefined : modelOrFactory;
    this.name = options.name ?? this.model?.name ?? 'factors';
    this.contexts = options.contexts ?? ['home'];
  }

  async prepare(catalog: Catalog, dataset: Dataset | undefined, options: PrepareOptions): Promise<void> {
    this.catalog = catalog;
    if (typeof this.modelOrFactory === 'function') this.model = this.modelOrFactory();
    const m = this.model!;
    if (!m.fitted || this.owned) {
      if (!dataset || typeof m.fit !== 'function') throw new NotFittedError(`the model of source '${this.name}' is not fitted and cannot be fitted here`);
      this.owned = true;
      await m.fit(dataset, { seed: options.seed, threads: options.threads, ...(options.signal ? { signal: options.signal } : {}) });
    }
    const n = catalog.items.size;
    this.dim = m.itemFactors.length / n;
    if (!Number.isInteger(this.dim) || this.dim < 1) throw new InvalidArgumentError(`the source '${this.name}': itemFactors has ${m.itemFactors.length} values, not a multiple of the ${n} items`);
    const r = this.options.retriever;
    this.retriever = typeof r === 'function' ? await r(m.itemFactors, this.dim) : r;
    this.cachedFor = undefined;
  }

  /** Use a loaded model (scoring is exact unless a retriever object was given). */
  restore(catalog: Catalog): void {
    this.catalog = catalog;
    const m = this.model!;
    this.dim = m.itemFactors.length / catalog.items.size;
    const r = this.options.retriever;
    this.retriever = typeof r === 'function' ? undefined : r;
    this.cachedFor = undefined;
  }

  private userVector(req: Request): Float32Array | undefined {
    if (this.cachedFor === req) return this.cachedVector;
    const m = this.model!;
    const f = this.dim;
    let v: Float32Array | undefined;
    if (req.user >= 0 && m.userFactors.length >= (req.user + 1) * f) v = m.userFactors.subarray(req.user * f, (req.user + 1) * f);
    else if (req.history.length > 0 && m.foldIn) v = m.foldIn(this.catalog.items.idsOf(req.history)).factors;
    this.cachedFor = req;
    this.cachedVector = v;
    return v;
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const out = this.out.reset(n);
    const v = this.userVector(req);
    if (!v) return out;
    const seen = !req.filterSeen ? new Int32Array(0) : req.user >= 0 ? csrRow(this.catalog.matrix, req.user).indices : req.history;
    // Over-fetch a little: blocks other than seen items (rules, exclusions) are applied here.
    const k = Math.min(n + 10, this.catalog.items.size);
    const r = this.retriever
      ? this.retriever.recommend(v, k, { seen })
      : callSync((nb) => nb.factorTopK(v, this.model!.itemFactors, this.dim, null, seen.length ? seen : null, null, null, k));
    for (let q = 0; q < r.indices.length && out.count < n; q++) {
      const i = r.indices[q]!;
      if (!blocked(i)) out.push(i, r.scores[q]!);
    }
    return out;
  }

  score(req: Request, item: number): number {
    const v = this.userVector(req);
    if (!v) return NaN;
    const f = this.dim;
    const x = this.model!.itemFactors;
    let s = 0;
    for (let b = 0, o = item * f; b < f; b++) s += v[b]! * x[o + b]!;
    return s;
  }

  evidence(req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    const m = this.model!;
    if (typeof m.explain === 'function' && req.user >= 0) {
      try {
        const e = m.explain(c.users.id(req.user), c.items.id(item));
        const idx = e.contributions
          .filter((x) => x.weight > 0)
          .slice(0, 2)
          .map((x) => c.items.index(x.item))
          .filter((i): i is number => i !== undefined);
        if (idx.length > 0) return { source: this.name, kind: 'history', text: `bought ${listText(idx.map((i) => itemLabel(c, i)))}`, items: idx.map((i) => c.items.id(i)) };
      } catch {
        // no decomposition for this pair
      }
    }
    // Without explain: the history items whose factors agree most with the item's.
    const f = this.dim;
    const x = m.itemFactors;
    const scored = Array.from(req.history, (h) => {
      let s = 0;
      for (let b = 0; b < f; b++) s += x[h * f + b]! * x[item * f + b]!;
      return [h, s] as const;
    })
      .filter(([, s]) => s > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2);
    if (scored.length === 0) return { source: this.name, kind: 'history', text: `${this.name} model, from your history` };
    return { source: this.name, kind: 'history', text: `bought ${listText(scored.map(([h]) => itemLabel(c, h)))}`, items: scored.map(([h]) => c.items.id(h)) };
  }
}

// ---- buy it again ---------------------------------------------------------------------------

export interface RepurchaseOptions {
  name?: string;
  contexts?: readonly Context[];
}

/**
 * "Buy it again": the user's own past items, by how often (log of the summed
 * weight) and how recently (position in the recent list) they were bought.
 * Proposes nothing when seen items are filtered (the default).
 */
export class RepurchaseSource implements CandidateSource {
  readonly kind = 'repurchase';
  readonly name: string;
  readonly contexts: readonly Context[];
  private catalog!: Catalog;
  private readonly out = new ListBuffer();
  private top: TopList | undefined;

  constructor(readonly options: RepurchaseOptions = {}) {
    this.name = options.name ?? 'again';
    this.contexts = options.contexts ?? ['home'];
  }

  async prepare(catalog: Catalog): Promise<void> {
    this.restore(catalog);
  }

  /** Build from a fitted (or loaded) catalog, synchronously. */
  restore(catalog: Catalog): void {
    this.catalog = catalog;
  }

  generate(req: Request, n: number, blocked: (i: number) => boolean): CandidateList {
    const out = this.out.reset(n);
    if (req.filterSeen) return out;
    const top = (this.top = TopList.reuse(this.top, n));
    const h = req.history;
    const weightOf = this.weights(req);
    for (let r = 0; r < h.length; r++) {
      const i = h[r]!;
      if (blocked(i)) continue;
      // Frequency, then recency: the newest item gets +1, the oldest ~0.
      top.push(i, Math.log1p(weightOf(i, r)) + (r + 1) / h.length);
    }
    out.count = top.drainInto(out.indices, out.scores);
    return out;
  }

  /** Summed weight of item i for the request's user (training row), or the history weight. */
  private weights(req: Request): (i: number, r: number) => number {
    if (req.user >= 0) {
      const row = csrRow(this.catalog.matrix, req.user);
      return (i) => {
        // Rows are sorted: binary search.
        let lo = 0;
        let hi = row.indices.length - 1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          const v = row.indices[mid]!;
          if (v === i) return row.values[mid]!;
          if (v < i) lo = mid + 1;
          else hi = mid - 1;
        }
        return 1;
      };
    }
    return (_i, r) => req.historyWeights?.[r] ?? 1;
  }

  evidence(req: Request, item: number): Evidence | undefined {
    const c = this.catalog;
    const r = req.history.indexOf(item);
    if (r < 0) return undefined;
    const times = this.weights(req)(item, r);
    return { source: this.name, kind: 'history', text: `you bought ${itemLabel(c, item)} before (${times} times)`, items: [c.items.id(item)], count: times };
  }
}
