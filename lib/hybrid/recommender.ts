/**
 * HybridRecommender: candidate sources -> per-source normalization ->
 * weighted blend (weights by hand or learned on a temporal validation split)
 * -> business rules (filters, boosts, pins, de-duplication) -> diversity
 * (MMR, category caps, novelty and freshness boosts, seeded exploration)
 * -> explanations naming the evidence behind every item.
 *
 * Contexts: home (a user), item (a product page: similar and complementary),
 * basket (complements of the cart, not substitutes) and "because you viewed X".
 */
import type { Dataset, DatasetOptions, EventLog } from '../data/dataset.js';
import { csrRow, Dataset as DatasetClass } from '../data/dataset.js';
import type { FeatureTable } from '../data/features.js';
import type { Id } from '../data/idmap.js';
import { AbortError, InvalidArgumentError, NotFittedError } from '../errors.js';
import type { BatchOptions, BatchRecommendations, Explanation, FitOptions, History, ModelState, Persistable, Recommendations, RecommendOptions, Recommender } from '../recommender.js';
import { checkState } from '../models/common.js';
import { modelFromState, registerModel } from '../models/registry.js';
import { catalogFromState, catalogToState, jsonSafe, sourceToState, sourcesFromState } from './persist.js';
import { MAX_K, historyOf, userIndicesOf } from '../models/common.js';
import { abortSignal, boolean, func, integer, invalid, knownOptions, number as checkNumber, oneOf, threads as checkThreads } from '../validate.js';
import { CONTEXTS, categoryName, type Catalog, type Context, type Request } from './catalog.js';
import { ContentModel, type ContentOptions } from './content.js';
import { selectDiverse, type DiversityPlan } from './diversity.js';
import type { Evidence, Reason } from './evidence.js';
import { categoryCodes } from './features.js';
import { rng } from './linalg.js';
import { TopList } from './toplist.js';
import { fitLogistic } from './logistic.js';
import { NORMALIZATIONS, normalize, normStats, type Normalization, type NormStats } from './normalize.js';
import { PredicateCache, checkRules, dedupeKeys, type Rules } from './rules.js';
import { recentOf, signalsFromLog, type SignalOptions } from './signals.js';
import {
  CategoryAffinitySource,
  ComplementSource,
  FactorSource,
  ContentSource,
  ItemToItemSource,
  ModelSource,
  NewArrivalsSource,
  PopularSource,
  TrendingSource,
  type CandidateSource,
} from './sources.js';

export interface DiversityOptions {
  /** MMR trade-off: 1 = relevance only (default), 0 = diversity only. */
  lambda?: number;
  /** At most this many items per category (default: no cap). */
  cap?: number;
  /** Column for caps (default: the category column). */
  capColumn?: string;
  /** Weight of the novelty boost: + w · (−log2 share of buyers), scaled to [0, 1] (default 0). */
  novelty?: number;
  /** Weight of the freshness boost: + w · 2^(−age / half-life) (default 0). */
  freshness?: number;
  freshnessHalfLifeDays?: number;
  /** Probability that a slot shows a random candidate instead (seeded; default 0). */
  explore?: number;
  /** Seed of exploration (combined with the user). */
  seed?: number;
}

export interface HybridOptions {
  /** Candidate sources (default: similar, content when features exist, complements, trending, popular, new). */
  sources?: CandidateSource[];
  /** Blend weight per source name (defaults by kind), and 'popularity' for the popularity feature (default 0). */
  weights?: Record<string, number>;
  /** Score normalization, for all sources or per source name (default 'rank'). */
  normalization?: Normalization | Record<string, Normalization>;
  /** Candidates asked from each source (default 100), or per source name. */
  candidates?: number | Record<string, number>;
  /** Content model options, or false for none. */
  content?: ContentOptions | false;
  /** Item feature column that names an item's category (default: the first categorical column). */
  categoryColumn?: string;
  /** Item feature column used to name items in explanations (default: the id). */
  labelColumn?: string;
  signals?: SignalOptions;
  rules?: Rules;
  diversity?: DiversityOptions;
}

export interface LearnWeightsOptions {
  /** Fraction of the log (by time, the latest events) used as validation (default 0.1). */
  fraction?: number;
  /** Negative examples sampled per validation user (default 20). */
  negatives?: number;
  /** At most this many validation users (sampled by seed; default 2000). */
  users?: number;
  /** L2 penalty of the logistic regression (default 1). */
  l2?: number;
  /**
   * 'logistic': the logistic-regression weights as they are; 'ndcg' (default):
   * then refine them by coordinate ascent on the validation users' NDCG@10
   * (Metzler & Croft 2007), a listwise learning-to-rank step.
   */
  objective?: 'logistic' | 'ndcg';
  /** Rounds of coordinate ascent (default 3). */
  rounds?: number;
  /**
   * Learn for lists that leave out the user's past items (default true, as
   * recommend's filterSeen); false also counts re-purchases as positives.
   */
  filterSeen?: boolean;
}

export interface HybridFitOptions extends FitOptions {
  /** Learn the blend weights on a temporal validation split carved from the dataset's log. */
  learnWeights?: boolean | LearnWeightsOptions;
}

export interface HybridRecommendOptions extends RecommendOptions {
  /** Where the list is shown (default 'home'; 'item' when `item` is given; 'basket' when `basket` is). */
  context?: Context;
  /** The item on the page (product page, "because you viewed X"). */
  item?: Id;
  /** Cart contents (basket context). */
  basket?: readonly Id[];
  /** A category to recommend within (popularity and trending in it). */
  category?: string;
  /** User segment for cold-start popularity (default: from user features). */
  segment?: string;
  /** Rules for this request: filters and boosts add to the model's; pins and dedupe replace them. */
  rules?: Rules;
  /** Diversity settings for this request (merged over the model's). */
  diversity?: DiversityOptions;
  /** Only these sources (by name). */
  sources?: readonly string[];
  /** Blend weights for this request (by source name, and 'popularity'), over the model's. */
  weights?: Record<string, number>;
  /** Return reasons (explanations) with the items (default false). */
  explain?: boolean;
}

export interface HybridRecommendations extends Recommendations {
  /** Reasons per returned item (when options.explain), largest contribution first. */
  reasons?: Reason[][];
}

const DEFAULT_WEIGHTS: Record<string, number> = { model: 1, similar: 0.6, content: 0.3, complement: 0.4, trending: 0.3, popular: 0.2, affinity: 0.5, new: 0.1, coldstart: 0.5, repurchase: 1 };
const OPTIONS = ['sources', 'weights', 'normalization', 'candidates', 'content', 'categoryColumn', 'labelColumn', 'signals', 'rules', 'diversity'] as const;
const FIT_OPTIONS = ['threads', 'seed', 'signal', 'onProgress', 'learnWeights'] as const;
const REC_OPTIONS = ['k', 'filterSeen', 'exclude', 'include', 'context', 'item', 'basket', 'category', 'segment', 'rules', 'diversity', 'sources', 'weights', 'explain'] as const;
const DIVERSITY_KEYS = ['lambda', 'cap', 'capColumn', 'novelty', 'freshness', 'freshnessHalfLifeDays', 'explore', 'seed'] as const;
export const POPULARITY = 'popularity';

/** What weight learning found. */
export interface LearnedWeights {
  weights: Record<string, number>;
  /** Newton iterations and mean log-loss of the logistic regression. */
  iterations: number;
  loss: number;
  samples: number;
  positives: number;
  /** Mean NDCG@10 on the validation users with the final weights, and with the logistic weights alone. */
  validationNdcg: number;
  logisticNdcg: number;
  users: number;
  /** Set when nothing could be learned (the weights stayed as they were), with the reason. */
  skipped?: string;
}

/**
 * The default source set for a dataset: item-to-item, content (with item
 * features), complements, trending, popular, popular in the user's categories
 * (with a category column) and new arrivals.
 */
export function defaultSources(hasFeatures: boolean, hasCategory = hasFeatures): CandidateSource[] {
  const s: CandidateSource[] = [new ItemToItemSource()];
  if (hasFeatures) s.push(new ContentSource());
  s.push(new ComplementSource(), new TrendingSource(), new PopularSource());
  if (hasCategory) s.push(new CategoryAffinitySource());
  s.push(new NewArrivalsSource());
  return s;
}

interface Pipeline {
  req: Request;
  /** Pool positions of the shown items, in order, and their final scores. */
  shown: number[];
  scores: number[];
  /** Item per pool position; features F[s * cap + p]. */
  pool: Int32Array;
  count: number;
  features: Float32Array;
  cap: number;
  sources: CandidateSource[];
  weights: Float64Array;
  popWeight: number;
  extras: Map<number, Reason[]>;
}

export class HybridRecommender implements Recommender, Persistable {
  readonly name = 'hybrid';
  private catalog: Catalog | undefined;
  private readonly options: HybridOptions;
  private sources: CandidateSource[];
  private weights: Record<string, number>;
  private learned: LearnedWeights | undefined;
  private predicates: PredicateCache | undefined;
  private readonly dupKeyCache = new Map<string, Int32Array>();
  // Per-request scratch, sized to the catalog.
  private blockStamp = new Uint32Array(0);
  private includeStamp = new Uint32Array(0);
  private poolStamp = new Uint32Array(0);
  private poolPos = new Int32Array(0);
  private gen = 0;
  private poolBuf = new Int32Array(0);
  private lastPool = 0;
  /** Candidates pooled by the last request (after de-duplication across sources). */
  get lastPoolSize(): number {
    return this.lastPool;
  }
  private featureBuf = new Float32Array(0);

  constructor(options: HybridOptions = {}) {
    knownOptions('options', options, OPTIONS);
    if (options.sources !== undefined) {
      if (!Array.isArray(options.sources) || options.sources.length === 0) throw invalid('options.sources', 'a non-empty array of candidate sources', options.sources);
      const names = new Set<string>();
      options.sources.forEach((s, r) => {
        if (typeof s?.generate !== 'function' || typeof s.name !== 'string') throw invalid(`options.sources[${r}]`, 'a CandidateSource (name, generate, evidence, prepare)', s);
        if (names.has(s.name)) throw invalid(`options.sources[${r}].name`, 'a name no other source uses', s.name);
        names.add(s.name);
      });
    }
    for (const [k, v] of Object.entries(options.weights ?? {})) checkNumber(`options.weights.${k}`, v);
    this.checkNormalization(options.normalization);
    checkRules(options.rules, 'options.rules');
    this.checkDiversity(options.diversity, 'options.diversity');
    this.options = options;
    this.sources = options.sources ?? [];
    this.weights = { ...(options.weights ?? {}) };
  }

  get fitted(): boolean {
    return this.catalog !== undefined;
  }

  /** The current blend weights by source name (after learning, the learned ones). */
  get blendWeights(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.sources) out[s.name] = this.weightOf(s);
    out[POPULARITY] = this.weights[POPULARITY] ?? 0;
    return out;
  }

  /** What weight learning found (undefined unless fit with learnWeights). */
  get learnedWeights(): LearnedWeights | undefined {
    return this.learned;
  }

  /** The candidate sources (after fit, including the defaults). */
  get candidateSources(): readonly CandidateSource[] {
    return this.sources;
  }

  /** The fitted catalog (signals, content model, categories). */
  get fittedCatalog(): Catalog {
    return this.requireCatalog();
  }

  private weightOf(s: CandidateSource): number {
    return this.weights[s.name] ?? DEFAULT_WEIGHTS[s.kind] ?? 0.5;
  }

  private checkNormalization(n: unknown): void {
    if (n === undefined) return;
    if (typeof n === 'string') oneOf('options.normalization', n, NORMALIZATIONS);
    else if (typeof n === 'object' && n !== null) for (const [k, v] of Object.entries(n)) oneOf(`options.normalization.${k}`, v, NORMALIZATIONS);
    else throw invalid('options.normalization', `one of ${NORMALIZATIONS.join(', ')} or an object of them by source name`, n);
  }

  private checkDiversity(d: DiversityOptions | undefined, name: string): void {
    if (d === undefined) return;
    knownOptions(name, d, DIVERSITY_KEYS);
    if (d.lambda !== undefined) checkNumber(`${name}.lambda`, d.lambda, 0, 1);
    if (d.cap !== undefined) integer(`${name}.cap`, d.cap, 1);
    if (d.novelty !== undefined) checkNumber(`${name}.novelty`, d.novelty, 0);
    if (d.freshness !== undefined) checkNumber(`${name}.freshness`, d.freshness, 0);
    if (d.freshnessHalfLifeDays !== undefined) checkNumber(`${name}.freshnessHalfLifeDays`, d.freshnessHalfLifeDays, 1e-6);
    if (d.explore !== undefined) checkNumber(`${name}.explore`, d.explore, 0, 1);
    if (d.seed !== undefined) integer(`${name}.seed`, d.seed);
  }

  // ---- fit ----------------------------------------------------------------------------

  /**
   * Build the catalog (signals, content model, categories), prepare every
   * source (training model sources) and, with learnWeights, learn the blend
   * weights on the latest part of the log first.
   */
  async fit(dataset: Dataset, options: HybridFitOptions = {}): Promise<this> {
    knownOptions('options', options, FIT_OPTIONS);
    if (!(dataset instanceof DatasetClass)) throw invalid('dataset', 'a Dataset', dataset);
    const seed = integer('options.seed', options.seed ?? 42);
    const threads = checkThreads(options.threads);
    const signal = abortSignal('options.signal', options.signal);
    const onProgress = options.onProgress === undefined ? undefined : (func('options.onProgress', options.onProgress) as NonNullable<FitOptions['onProgress']>);
    const learn = options.learnWeights === undefined || options.learnWeights === false ? undefined : options.learnWeights === true ? {} : options.learnWeights;
    if (learn !== undefined) knownOptions('options.learnWeights', learn, ['fraction', 'negatives', 'users', 'l2', 'objective', 'rounds', 'filterSeen']);
    const t0 = performance.now();
    const steps = learn ? 3 : 1;
    const progress = (iteration: number) => onProgress?.({ iteration, iterations: steps, seconds: (performance.now() - t0) / 1000 });
    const check = () => {
      if (signal?.aborted) throw new AbortError('hybrid fit was aborted');
    };

    const content = this.fitContent(dataset, seed);
    const f = dataset.itemFeatures;
    const hasCategory = f !== undefined && (this.options.categoryColumn !== undefined || f.columns.some((c) => f.schema[c] === 'categorical'));
    const sources = this.options.sources ?? defaultSources(content !== undefined, hasCategory);
    if (learn) {
      for (const s of sources) {
        if ((s instanceof ModelSource || s instanceof FactorSource) && s.model?.fitted && !s.owned) {
          throw new InvalidArgumentError(`learnWeights needs models the hybrid trains itself (to keep validation events out of training): source '${s.name}' holds an already fitted model; pass an unfitted model or a factory`);
        }
      }
      const fraction = checkNumber('options.learnWeights.fraction', learn.fraction ?? 0.1, 0.01, 0.9);
      const { train, validation } = temporalCut(dataset.log, fraction);
      const trainSet = await DatasetClass.fromLog(train, dataset.users, dataset.items, datasetOptionsOf(dataset));
      check();
      const trainCatalog = this.buildCatalog(trainSet, content);
      for (const s of sources) await s.prepare(trainCatalog, trainSet, { seed, threads, ...(signal ? { signal } : {}) });
      check();
      progress(1);
      this.install(trainCatalog, sources);
      this.learnBlend(validation, learn, seed);
      check();
      progress(2);
    }
    const catalog = this.buildCatalog(dataset, content);
    for (const s of sources) await s.prepare(catalog, dataset, { seed, threads, ...(signal ? { signal } : {}) });
    check();
    this.install(catalog, sources);
    progress(steps);
    return this;
  }

  private fitContent(dataset: Dataset, seed: number): ContentModel | undefined {
    if (this.options.content === false || !dataset.itemFeatures || dataset.itemFeatures.size === 0) return undefined;
    return ContentModel.fit(dataset.itemFeatures, dataset.items, { seed, ...(this.options.content ?? {}) });
  }

  private buildCatalog(dataset: Dataset, content: ContentModel | undefined): Catalog {
    const f = dataset.itemFeatures;
    let category;
    const catCol = this.options.categoryColumn ?? (f ? f.columns.find((c) => f.schema[c] === 'categorical') : undefined);
    if (f && catCol) category = categoryCodes(f, dataset.items, catCol);
    let labels: string[] | undefined;
    if (f && this.options.labelColumn) {
      if (!f.schema[this.options.labelColumn]) throw invalid('options.labelColumn', `a feature column (${f.columns.join(', ')})`, this.options.labelColumn);
      const col = this.options.labelColumn;
      labels = dataset.items.ids().map((id) => {
        const v = f.get(id)?.[col];
        return v === undefined ? String(id) : Array.isArray(v) ? v.join('|') : String(v);
      });
    }
    return {
      users: dataset.users,
      items: dataset.items,
      matrix: dataset.matrix,
      signals: signalsFromLog(dataset.log, dataset.numUsers, dataset.numItems, this.options.signals),
      content,
      category,
      labels,
      features: f,
      userFeatures: dataset.userFeatures,
    };
  }

  private install(catalog: Catalog, sources: CandidateSource[]): void {
    this.catalog = catalog;
    this.sources = sources;
    this.predicates = new PredicateCache(catalog);
    this.dupKeyCache.clear();
    const n = catalog.items.size;
    this.blockStamp = new Uint32Array(n);
    this.includeStamp = new Uint32Array(n);
    this.poolStamp = new Uint32Array(n);
    this.poolPos = new Int32Array(n);
    this.gen = 0;
  }

  /**
   * Learn blend weights: for sampled validation users, generate the candidate
   * pool from the training-part catalog; label pool items the user bought in
   * the validation period 1, sample `negatives` others (seeded), and fit a
   * logistic regression on the normalized source scores and item popularity.
   * With objective 'ndcg', refine the weights by coordinate ascent on the
   * mean NDCG@10 of the validation users' re-blended pools.
   */
  private learnBlend(validation: EventLog, learn: LearnWeightsOptions, seed: number): void {
    const c = this.catalog!;
    const negatives = integer('options.learnWeights.negatives', learn.negatives ?? 20, 1, 10_000);
    const maxUsers = integer('options.learnWeights.users', learn.users ?? 2000, 1);
    const l2 = checkNumber('options.learnWeights.l2', learn.l2 ?? 1, 0);
    const objective = oneOf('options.learnWeights.objective', learn.objective ?? 'ndcg', ['logistic', 'ndcg'] as const);
    const rounds = integer('options.learnWeights.rounds', learn.rounds ?? 3, 0, 100);
    const filterSeen = boolean('options.learnWeights.filterSeen', learn.filterSeen ?? true);
    const truth = new Map<number, Set<number>>();
    for (let e = 0; e < validation.users.length; e++) {
      const u = validation.users[e]!;
      const recent = recentOf(c.signals, u);
      if (recent.length === 0) continue; // no training history: nothing to learn from
      if (filterSeen && csrRow(c.matrix, u).indices.includes(validation.items[e]!)) continue; // a re-purchase: never recommended with filterSeen
      let s = truth.get(u);
      if (!s) truth.set(u, (s = new Set()));
      s.add(validation.items[e]!);
    }
    const rand = rng(seed);
    let users = [...truth.keys()].sort((a, b) => a - b);
    if (users.length > maxUsers) {
      for (let i = users.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [users[i], users[j]] = [users[j]!, users[i]!];
      }
      users = users.slice(0, maxUsers).sort((a, b) => a - b);
    }
    const sources = this.sources;
    const nf = sources.length + 1;
    const xs: number[] = [];
    const ys: number[] = [];
    let positives = 0;
    // Per user: the pool's features (nf x count, row-major by pool position) and labels, for the listwise step.
    const pools: { x: Float32Array; y: Uint8Array; relevant: number }[] = [];
    for (const u of users) {
      const req = this.requestFor(u, undefined, {}, 'home');
      const pipe = this.candidates(req, { filterSeen, sources: undefined, exclude: null, include: null, filters: undefined }, 0);
      const bought = truth.get(u)!;
      const x = new Float32Array(pipe.count * nf);
      const y = new Uint8Array(pipe.count);
      const pos: number[] = [];
      const neg: number[] = [];
      for (let p = 0; p < pipe.count; p++) {
        // Sources not active in this context have no column in the pipeline: they stay 0.
        pipe.sources.forEach((src, si) => (x[p * nf + sources.indexOf(src)] = pipe.features[si * pipe.cap + p]!));
        x[p * nf + nf - 1] = this.popularityFeature(pipe.pool[p]!);
        y[p] = bought.has(pipe.pool[p]!) ? 1 : 0;
        (y[p] ? pos : neg).push(p);
      }
      pools.push({ x, y, relevant: bought.size });
      if (pos.length === 0) continue;
      for (let i = neg.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [neg[i], neg[j]] = [neg[j]!, neg[i]!];
      }
      for (const [list, label] of [[pos, 1], [neg.slice(0, negatives), 0]] as const) {
        for (const p of list) {
          for (let f = 0; f < nf; f++) xs.push(x[p * nf + f]!);
          ys.push(label);
          if (label) positives++;
        }
      }
    }
    if (positives === 0) {
      // Nothing to learn from (tiny data, or no validation purchase among the candidates): keep the hand weights, say why.
      this.learned = { weights: {}, iterations: 0, loss: NaN, samples: ys.length, positives: 0, validationNdcg: NaN, logisticNdcg: NaN, users: pools.length, skipped: 'no validation user bought any candidate: kept the default weights (use a larger validation fraction or more candidates)' };
      return;
    }
    const fit = fitLogistic(Float64Array.from(xs), Uint8Array.from(ys), nf, l2);
    let w: Float64Array = Float64Array.from(fit.weights);
    let ndcg = meanNdcg(pools, w, nf);
    const logisticNdcg = ndcg;
    if (objective === 'ndcg') ({ w, ndcg } = coordinateAscent(pools, w, nf, rounds));
    const weights: Record<string, number> = {};
    sources.forEach((s, i) => (weights[s.name] = w[i]!));
    weights[POPULARITY] = w[sources.length]!;
    this.weights = { ...this.weights, ...weights };
    this.learned = { weights, iterations: fit.iterations, loss: fit.loss, samples: ys.length, positives, validationNdcg: ndcg, logisticNdcg, users: pools.length };
  }

  // ---- requests -------------------------------------------------------------------------

  private requireCatalog(): Catalog {
    if (!this.catalog) throw new NotFittedError('the hybrid model is not fitted: call fit(dataset) first (or load a saved model)');
    return this.catalog;
  }

  private popularityFeature(i: number): number {
    const s = this.catalog!.signals;
    return Math.log1p(s.popularity[i]!) / Math.log1p(this.maxPopularity());
  }
  private maxPop = -1;
  private maxPopularity(): number {
    if (this.maxPop < 0 || this.maxPopFor !== this.catalog) {
      let m = 1;
      for (const v of this.catalog!.signals.popularity) if (v > m) m = v;
      this.maxPop = m;
      this.maxPopFor = this.catalog;
    }
    return this.maxPop;
  }
  private maxPopFor: Catalog | undefined;

  private itemIndex(id: Id, name: string): number {
    const i = this.catalog!.items.index(id);
    if (i === undefined) throw invalid(name, 'an item id known to the model', id);
    return i;
  }

  private requestFor(user: number, history: { indices: Int32Array; values: Float32Array } | undefined, o: HybridRecommendOptions, defaultContext: Context): Request {
    const c = this.catalog!;
    const anchor = o.item === undefined ? -1 : this.itemIndex(o.item, 'options.item');
    let basket = new Int32Array(0);
    if (o.basket !== undefined) {
      if (!Array.isArray(o.basket)) throw invalid('options.basket', 'an array of item ids', o.basket);
      basket = Int32Array.from(o.basket.map((id) => c.items.index(id)).filter((i): i is number => i !== undefined));
    }
    const context = o.context !== undefined ? oneOf('options.context', o.context, CONTEXTS) : o.basket !== undefined ? 'basket' : anchor >= 0 ? 'item' : defaultContext;
    let category = -1;
    if (o.category !== undefined) {
      const code = c.category?.names.indexOf(String(o.category)) ?? -1;
      if (code < 0) throw invalid('options.category', `a value of the category column${c.category ? ` '${c.category.column}'` : ''}`, o.category);
      category = code;
    } else if (anchor >= 0 && c.category) category = c.category.codes[anchor]!;
    let segment = o.segment;
    if (segment === undefined && user >= 0 && c.userFeatures) {
      const col = this.sources.find((s): s is PopularSource => s instanceof PopularSource)?.segmentColumnName;
      const v = col ? c.userFeatures.get(c.users.id(user))?.[col] : undefined;
      if (v !== undefined) segment = String(v);
    }
    return {
      context,
      user,
      history: history ? history.indices : user >= 0 ? recentOf(c.signals, user) : new Int32Array(0),
      historyWeights: history ? history.values : undefined,
      basket,
      anchor,
      category,
      segment,
      filterSeen: true,
    };
  }

  /** Gather, normalize and blend candidates (no rules beyond blocking, no diversity). */
  private candidates(
    req: Request,
    o: { filterSeen: boolean; sources: readonly string[] | undefined; exclude: Int32Array | null; include: Int32Array | null; filters: Uint8Array | undefined; weights?: Record<string, number> | undefined },
    extra: number,
  ): Pipeline {
    const c = this.catalog!;
    const gen = ++this.gen;
    if (gen === 0xffffffff) {
      this.blockStamp.fill(0);
      this.includeStamp.fill(0);
      this.poolStamp.fill(0);
      this.gen = 1;
    }
    const g = this.gen;
    const block = this.blockStamp;
    req.filterSeen = o.filterSeen;
    if (o.filterSeen) {
      if (req.user >= 0) for (const i of csrRow(c.matrix, req.user).indices) block[i] = g;
      for (const i of req.history) block[i] = g;
    }
    for (const i of req.basket) block[i] = g;
    if (req.anchor >= 0) block[req.anchor] = g;
    if (o.exclude) for (const i of o.exclude) block[i] = g;
    const incl = this.includeStamp;
    if (o.include) for (const i of o.include) incl[i] = g;
    const allow = o.filters;
    const hasInclude = o.include !== null;
    const blocked = (i: number): boolean => block[i] === g || (allow !== undefined && allow[i] === 0) || (hasInclude && incl[i] !== g);

    const active = this.sources.filter((s) => s.contexts.includes(req.context) && (o.sources === undefined || o.sources.includes(s.name)));
    const want = active.map((s) => this.candidatesOf(s));
    const cap = want.reduce((a, b) => a + b, 0) + extra;
    if (this.poolBuf.length < cap) this.poolBuf = new Int32Array(cap * 2);
    if (this.featureBuf.length < active.length * cap) this.featureBuf = new Float32Array(active.length * cap * 2);
    const pool = this.poolBuf;
    const features = this.featureBuf;
    features.fill(0, 0, active.length * cap);
    const pos = this.poolPos;
    const pstamp = this.poolStamp;
    let count = 0;
    const stats: NormStats[] = [];
    active.forEach((s, si) => {
      const list = s.generate(req, want[si]!, blocked);
      const st = normStats(this.normalizationOf(s), list.scores, list.count, want[si]!);
      stats.push(st);
      for (let r = 0; r < list.count; r++) {
        const i = list.indices[r]!;
        let p: number;
        if (pstamp[i] === g) p = pos[i]!;
        else {
          p = count++;
          pstamp[i] = g;
          pos[i] = p;
          pool[p] = i;
        }
        features[si * cap + p] = normalize(st, list.scores[r]!, r);
      }
    });
    // Sources that can score any item fill in candidates others proposed.
    active.forEach((s, si) => {
      if (!s.score || stats[si]!.method === 'rank') return;
      for (let p = 0; p < count; p++) {
        if (features[si * cap + p] !== 0) continue;
        const raw = s.score(req, pool[p]!);
        if (Number.isFinite(raw)) features[si * cap + p] = normalize(stats[si]!, raw, 0);
      }
    });
    // Top up with popular allowed items when the sources found too few (new users, narrow filters),
    // unless the caller picked the sources.
    if (count < extra && o.sources === undefined) {
      const pop = c.signals.popularity;
      const order = this.popularOrder();
      for (let r = 0; r < order.length && count < cap; r++) {
        const i = order[r]!;
        if (pstamp[i] === g || blocked(i) || pop[i] === 0) continue;
        pstamp[i] = g;
        pos[i] = count;
        pool[count++] = i;
      }
    }
    const over = o.weights;
    const weights = Float64Array.from(active, (s) => over?.[s.name] ?? this.weightOf(s));
    const popWeight = over?.[POPULARITY] ?? this.weights[POPULARITY] ?? 0;
    return { req, shown: [], scores: [], pool, count, features, cap, sources: active, weights, popWeight, extras: new Map() };
  }

  private popOrder: Int32Array | undefined;
  private popOrderFor: Catalog | undefined;
  private popularOrder(): Int32Array {
    if (!this.popOrder || this.popOrderFor !== this.catalog) {
      const pop = this.catalog!.signals.popularity;
      this.popOrder = Int32Array.from({ length: pop.length }, (_, i) => i).sort((a, b) => pop[b]! - pop[a]! || a - b);
      this.popOrderFor = this.catalog;
    }
    return this.popOrder;
  }

  private candidatesOf(s: CandidateSource): number {
    const c = this.options.candidates;
    const v = typeof c === 'number' ? c : (c?.[s.name] ?? 100);
    return integer(`options.candidates`, v, 1, 100_000);
  }

  private normalizationOf(s: CandidateSource): Normalization {
    const n = this.options.normalization;
    if (typeof n === 'string') return n;
    return n?.[s.name] ?? 'rank';
  }

  /** The whole pipeline for one request. */
  private run(req: Request, o: HybridRecommendOptions, k: number): Pipeline {
    const c = this.catalog!;
    const name = 'options';
    const rules = checkRules(o.rules, `${name}.rules`);
    const base = this.options.rules ?? {};
    const filters = [...(base.filters ?? []), ...(rules.filters ?? [])];
    const boosts = [...(base.boosts ?? []), ...(rules.boosts ?? [])];
    const pins = rules.pins ?? base.pins ?? [];
    const dedupe = rules.dedupe ?? base.dedupe;
    const div = { ...(this.options.diversity ?? {}), ...(o.diversity ?? {}) };
    this.checkDiversity(o.diversity, `${name}.diversity`);
    const allow = this.predicates!.allowed(filters, `${name}.rules.filters`);
    const filterSeen = boolean(`${name}.filterSeen`, o.filterSeen ?? true);
    const exclude = idList(o.exclude, c, `${name}.exclude`);
    const include = idList(o.include, c, `${name}.include`);
    if (o.sources !== undefined && !Array.isArray(o.sources)) throw invalid(`${name}.sources`, 'an array of source names', o.sources);
    if (o.weights !== undefined) {
      if (typeof o.weights !== 'object' || o.weights === null) throw invalid(`${name}.weights`, 'an object of weights by source name', o.weights);
      for (const [key, v] of Object.entries(o.weights)) checkNumber(`${name}.weights.${key}`, v);
    }
    const pipe = this.candidates(req, { filterSeen, sources: o.sources, exclude, include, filters: allow, weights: o.weights }, k + pins.length);
    const { pool, count, features, cap, weights } = pipe;
    this.lastPool = count;

    // Blend.
    const rel = new Float64Array(count);
    for (let p = 0; p < count; p++) {
      let s = pipe.popWeight !== 0 ? pipe.popWeight * this.popularityFeature(pool[p]!) : 0;
      for (let si = 0; si < weights.length; si++) s += weights[si]! * features[si * cap + p]!;
      rel[p] = s;
    }
    // Boosts.
    boosts.forEach((b, r) => {
      const mask = this.predicates!.mask(b.when, `${name}.rules.boosts[${r}].when`);
      for (let p = 0; p < count; p++) {
        if (!mask[pool[p]!]) continue;
        const before = rel[p]!;
        rel[p] = before * (b.multiply ?? 1) + (b.add ?? 0);
        addExtra(pipe, p, { source: b.name ?? 'boost', kind: 'boost', text: `boosted by rule '${b.name ?? 'boost'}'`, contribution: rel[p]! - before });
      }
    });
    // Novelty and freshness.
    const novelty = div.novelty ?? 0;
    const freshness = div.freshness ?? 0;
    if (novelty > 0 || freshness > 0) {
      const s = c.signals;
      const users = Math.max(1, c.users.size);
      const maxInfo = Math.log2(users);
      const half = (div.freshnessHalfLifeDays ?? 14) * 86_400_000;
      for (let p = 0; p < count; p++) {
        const i = pool[p]!;
        if (novelty > 0) {
          // Self-information of "a shopper bought i", scaled to [0, 1].
          const info = Math.log2(users / Math.max(1, s.popularity[i]!)) / (maxInfo || 1);
          rel[p]! += novelty * info;
          if (novelty * info > 0) addExtra(pipe, p, { source: 'novelty', kind: 'novelty', text: `a less-known pick (${s.popularity[i]} buyers)`, contribution: novelty * info, count: s.popularity[i]! });
        }
        if (freshness > 0 && Number.isFinite(s.firstSeen[i]!)) {
          const f = freshness * Math.pow(2, -(s.now - s.firstSeen[i]!) / half);
          rel[p]! += f;
          addExtra(pipe, p, { source: 'freshness', kind: 'freshness', text: `fresh: first sold ${new Date(s.firstSeen[i]!).toISOString().slice(0, 10)}`, contribution: f });
        }
      }
    }
    // Pins: taken out of the pool; placed after selection.
    const pinned: { p: number; position: number }[] = [];
    const isPinned = new Set<number>();
    for (const pin of pins) {
      const i = c.items.index(pin.item);
      if (i === undefined || (allow && !allow[i])) continue; // hard filters win over pins
      isPinned.add(i);
      pinned.push({ p: -1 - i, position: pin.position });
    }
    for (let p = 0; p < count; p++) if (isPinned.has(pool[p]!)) rel[p] = -Infinity;
    // Diversity and de-duplication.
    const plan: DiversityPlan = { k: Math.max(0, k - pinned.length), lambda: div.lambda ?? 1 };
    if (div.cap !== undefined) {
      const col = div.capColumn;
      plan.capCodes = col && col !== c.category?.column ? this.codesOf(col) : c.category?.codes;
      plan.capMax = div.cap;
      if (!plan.capCodes) throw new InvalidArgumentError(`${name}.diversity.cap needs a category column: this model has no item features`);
    }
    if (c.content) {
      plan.vectors = c.content.vectors;
      plan.dim = c.content.dim;
    } else plan.simCodes = c.category?.codes;
    if (dedupe?.columns) plan.dupKeys = this.dupKeysOf(dedupe.columns);
    if (dedupe?.similarity !== undefined) plan.dupSimilarity = dedupe.similarity;
    const chosen = selectDiverse(pool, rel, count, plan);
    // Exploration: a seeded coin per slot swaps in a random unshown candidate.
    const explore = div.explore ?? 0;
    if (explore > 0 && count > chosen.length) {
      const rand = rng(((div.seed ?? 0) * 0x9e3779b1) ^ (req.user + 1) ^ (req.anchor + 7) * 31);
      const shownSet = new Set(chosen);
      const rest: number[] = [];
      for (let p = 0; p < count; p++) if (!shownSet.has(p) && rel[p] !== -Infinity) rest.push(p);
      for (let r = 0; r < chosen.length && rest.length > 0; r++) {
        if (rand() >= explore) continue;
        const pick = Math.floor(rand() * rest.length);
        const p = rest[pick]!;
        rest.splice(pick, 1);
        chosen[r] = p;
        addExtra(pipe, p, { source: 'exploration', kind: 'exploration', text: 'shown to explore new options (random pick among candidates)', contribution: 0 });
      }
    }
    // Assemble with pins at their positions.
    const out: number[] = [];
    const outScores: number[] = [];
    let next = 0;
    const byPos = new Map(pinned.map((x) => [x.position, x.p]));
    const total = Math.min(k, chosen.length + pinned.length);
    for (let slot = 0; out.length < total; slot++) {
      const pin = byPos.get(slot);
      if (pin !== undefined) {
        out.push(pin);
        outScores.push(NaN);
      } else if (next < chosen.length) {
        out.push(chosen[next]!);
        outScores.push(rel[chosen[next++]!]!);
      } else {
        // Fewer candidates than slots before a later pin: close the gap.
        const later = [...byPos.entries()].filter(([pos]) => pos > slot).sort((a, b) => a[0] - b[0])[0];
        if (!later) break;
        byPos.delete(later[0]);
        out.push(later[1]);
        outScores.push(NaN);
      }
    }
    // A pin's score: just above the item after it, so scores stay non-increasing where possible.
    for (let r = out.length - 1; r >= 0; r--) if (Number.isNaN(outScores[r]!)) outScores[r] = r + 1 < out.length ? outScores[r + 1]! : 0;
    pipe.shown = out;
    pipe.scores = outScores;
    return pipe;
  }

  private codesOf(column: string): Int32Array {
    const c = this.catalog!;
    if (!c.features) throw new InvalidArgumentError('options.diversity.capColumn needs item features; this model has none');
    return categoryCodes(c.features, c.items, column).codes;
  }

  private dupKeysOf(columns: readonly string[]): Int32Array {
    const key = JSON.stringify(columns);
    let k = this.dupKeyCache.get(key);
    if (!k) this.dupKeyCache.set(key, (k = dedupeKeys(this.catalog!, columns)));
    return k;
  }

  /** Result object (and reasons) from a finished pipeline. */
  private result(pipe: Pipeline, explain: boolean): HybridRecommendations {
    const c = this.catalog!;
    const indices = Int32Array.from(pipe.shown, (p) => (p < 0 ? -1 - p : pipe.pool[p]!));
    const out: HybridRecommendations = { items: c.items.idsOf(indices), indices, scores: Float32Array.from(pipe.scores) };
    if (explain) out.reasons = pipe.shown.map((p) => this.reasonsOf(pipe, p));
    return out;
  }

  private reasonsOf(pipe: Pipeline, p: number): Reason[] {
    const c = this.catalog!;
    if (p < 0) {
      return [{ source: 'rules', kind: 'pin', text: 'pinned by a business rule', items: [c.items.id(-1 - p)], contribution: 0 }];
    }
    const item = pipe.pool[p]!;
    const reasons: Reason[] = [];
    pipe.sources.forEach((s, si) => {
      const f = pipe.features[si * pipe.cap + p]!;
      const contribution = pipe.weights[si]! * f;
      if (!(f > 0) || !(contribution > 0)) return;
      const e: Evidence | undefined = s.evidence(pipe.req, item);
      if (e) reasons.push({ ...e, contribution });
    });
    if (pipe.popWeight > 0) {
      const buyers = c.signals.popularity[item]!;
      const cat = categoryName(c, item);
      reasons.push({ source: POPULARITY, kind: 'popular', text: `bought by ${buyers} shoppers${cat ? ` (${cat})` : ''}`, count: buyers, contribution: pipe.popWeight * this.popularityFeature(item) });
    }
    for (const e of pipe.extras.get(p) ?? []) reasons.push(e);
    return reasons.sort((a, b) => b.contribution - a.contribution);
  }

  // ---- the Recommender interface ---------------------------------------------------------

  /** Top-k for a known user (home page unless options say otherwise). */
  recommend(user: Id, options: HybridRecommendOptions = {}): HybridRecommendations {
    const c = this.requireCatalog();
    knownOptions('options', options, REC_OPTIONS);
    const k = integer('options.k', options.k ?? 10, 1, MAX_K);
    const u = c.users.indexOrThrow(user, 'user', 'use recommendForHistory(items) for visitors the model has not seen');
    const req = this.requestFor(u, undefined, options, 'home');
    return this.result(this.run(req, options, k), options.explain ?? false);
  }

  /** Top-k for a visitor known only by recent items (oldest first), e.g. a session. */
  recommendForHistory(history: History, options: HybridRecommendOptions = {}): HybridRecommendations {
    const c = this.requireCatalog();
    knownOptions('options', options, REC_OPTIONS);
    const k = integer('options.k', options.k ?? 10, 1, MAX_K);
    const h = orderedHistory(history, c);
    const req = this.requestFor(-1, h, options, 'home');
    return this.result(this.run(req, options, k), options.explain ?? false);
  }

  /** Top-k for many users (a loop over recommend that yields to the event loop; scoring one user takes well under a millisecond). */
  async recommendMany(users: readonly Id[] | Int32Array, options: BatchOptions & HybridRecommendOptions = {}): Promise<BatchRecommendations> {
    const c = this.requireCatalog();
    const { threads, signal, onProgress, ...rest } = options;
    checkThreads(threads);
    const sig = abortSignal('options.signal', signal);
    if (onProgress !== undefined) func('options.onProgress', onProgress);
    knownOptions('options', rest, REC_OPTIONS);
    const k = integer('options.k', rest.k ?? 10, 1, MAX_K);
    const rows = userIndicesOf(users, c.users);
    const indices = new Int32Array(rows.length * k).fill(-1);
    const scores = new Float32Array(rows.length * k).fill(-Infinity);
    for (let r = 0; r < rows.length; r++) {
      if (sig?.aborted) throw new AbortError('recommendMany was aborted');
      const req = this.requestFor(rows[r]!, undefined, rest, 'home');
      const out = this.result(this.run(req, rest, k), false);
      indices.set(out.indices, r * k);
      scores.set(out.scores, r * k);
      if (r % 256 === 255) {
        onProgress?.((r + 1) / rows.length);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    onProgress?.(1);
    return { k, count: rows.length, indices, scores };
  }

  /** "Similar products" for a product page: item-to-item and content sources around the item. */
  similarItems(item: Id, k = 10): HybridRecommendations {
    this.requireCatalog();
    const names = this.sources.filter((s) => s.kind === 'similar' || s.kind === 'content').map((s) => s.name);
    return this.recommendForHistory([], { k, item, context: 'item', sources: names });
  }

  /**
   * A product page: similar items (look-alikes by content, alternatives to
   * this product) and complementary items (bought in the same baskets, not look-alikes).
   */
  productPage(item: Id, options: HybridRecommendOptions = {}): { similar: HybridRecommendations; complementary: HybridRecommendations } {
    this.requireCatalog();
    const byKind = (kinds: string[]) => this.sources.filter((s) => kinds.includes(s.kind)).map((s) => s.name);
    const hasContent = this.sources.some((s) => s.kind === 'content');
    const similar = byKind(hasContent ? ['content'] : ['similar']);
    const run = (names: string[]) => this.recommendForHistory([], { ...options, item, context: 'item', sources: names });
    return { similar: run(similar), complementary: run(byKind(['complement'])) };
  }

  /** Cross-sell for a cart: complements of its items (not substitutes), excluding the cart itself. */
  basket(items: readonly Id[], options: HybridRecommendOptions = {}): HybridRecommendations {
    this.requireCatalog();
    if (!Array.isArray(items) || items.length === 0) throw invalid('items', 'a non-empty array of item ids', items);
    return this.recommendForHistory([], { ...options, basket: items, context: 'basket' });
  }

  /** "Because you viewed X": items similar to X (and bought with it), explained by X. */
  becauseYouViewed(item: Id, options: HybridRecommendOptions & { user?: Id } = {}): HybridRecommendations {
    const c = this.requireCatalog();
    const { user, ...rest } = options;
    const names = this.sources.filter((s) => s.kind === 'similar' || s.kind === 'content' || s.kind === 'complement').map((s) => s.name);
    const opts: HybridRecommendOptions = { ...rest, item, context: 'item', sources: names };
    if (user !== undefined) {
      const u = c.users.indexOrThrow(user, 'user');
      const k = integer('options.k', opts.k ?? 10, 1, MAX_K);
      return this.result(this.run(this.requestFor(u, undefined, opts, 'item'), opts, k), opts.explain ?? false);
    }
    return this.recommendForHistory([], opts);
  }

  /**
   * Why `item` would be recommended to `user` (home page): each source's
   * contribution and its evidence. The score is the one recommend() gives the
   * item when it is among the candidates (0 when no source proposes it).
   */
  explain(user: Id, item: Id): Explanation & { reasons: Reason[] } {
    const c = this.requireCatalog();
    const u = c.users.indexOrThrow(user, 'user');
    const i = c.items.indexOrThrow(item, 'item');
    const req = this.requestFor(u, undefined, {}, 'home');
    // Rank every candidate (no diversity re-ranking) and find the item among them.
    const seen = csrRow(c.matrix, u).indices.includes(i);
    const pipe = this.run(req, { filterSeen: !seen, diversity: { lambda: 1, cap: undefined, explore: 0 } }, MAX_K);
    const at = pipe.shown.findIndex((p) => p >= 0 && pipe.pool[p] === i);
    const reasons = at < 0 ? [] : this.reasonsOf(pipe, pipe.shown[at]!);
    const score = at < 0 ? 0 : pipe.scores[at]!;
    const contributions: { item: Id; weight: number }[] = [];
    for (const r of reasons) for (const id of r.items ?? []) if (id !== c.items.id(i)) contributions.push({ item: id, weight: r.contribution / (r.items?.length || 1) });
    const attributed = contributions.reduce((a, b) => a + b.weight, 0);
    return { item, score, contributions: contributions.sort((a, b) => b.weight - a.weight), rest: score - attributed, reasons };
  }

  // ---- persistence ---------------------------------------------------------------------

  /** Everything needed to rebuild this recommender (see persist.ts for what cannot be stored). */
  toState(): ModelState {
    const c = this.requireCatalog();
    const state: ModelState = { kind: 'hybrid', version: 1, config: {}, arrays: {}, ids: {} };
    catalogToState(c, state);
    const { sources: _s, rules, ...options } = this.options;
    const saved: Record<string, unknown> = jsonSafe(options);
    if (rules) {
      // Function predicates cannot be stored: filters and boosts using them are left out.
      saved.rules = jsonSafe({
        ...rules,
        filters: rules.filters?.filter((f) => typeof f !== 'function'),
        boosts: rules.boosts?.filter((b) => typeof b.when !== 'function'),
      });
    }
    state.config.options = saved;
    state.config.weights = { ...this.weights };
    if (this.learned) state.config.learned = jsonSafe(this.learned);
    state.config.sources = this.sources.map((s) => sourceToState(s, state));
    return state;
  }

  /**
   * Rebuild a recommender saved with toState(). Models inside model sources
   * are restored through the model registry (or `loadModel`).
   */
  static fromState(state: ModelState, options: { loadModel?: (s: ModelState) => Recommender } = {}): HybridRecommender {
    checkState(state, 'hybrid', 1);
    const catalog = catalogFromState(state);
    const sources = sourcesFromState((state.config.sources ?? []) as Record<string, unknown>[], state, options.loadModel ?? modelFromState);
    const h = new HybridRecommender({ ...((state.config.options ?? {}) as HybridOptions), sources });
    h.weights = { ...((state.config.weights ?? {}) as Record<string, number>) };
    h.learned = state.config.learned as LearnedWeights | undefined;
    for (const s of sources) {
      if (!s.restore) throw new InvalidArgumentError(`source '${s.name}' cannot be restored`);
      s.restore(catalog);
    }
    h.install(catalog, sources);
    return h;
  }
}

/** NDCG@10 (binary gains) of one pool ranked by w·x; the ideal DCG counts all of the user's relevant items. */
function poolNdcg(pool: { x: Float32Array; y: Uint8Array; relevant: number }, w: Float64Array, nf: number, k = 10): number {
  const n = pool.y.length;
  const top = new TopList(k);
  for (let p = 0; p < n; p++) {
    let s = 0;
    for (let f = 0; f < nf; f++) s += w[f]! * pool.x[p * nf + f]!;
    top.push(p, s);
  }
  const order = top.sorted().indices;
  let dcg = 0;
  for (let r = 0; r < order.length; r++) if (pool.y[order[r]!]) dcg += 1 / Math.log2(r + 2);
  let ideal = 0;
  for (let r = 0; r < Math.min(k, pool.relevant); r++) ideal += 1 / Math.log2(r + 2);
  return ideal > 0 ? dcg / ideal : 0;
}

function meanNdcg(pools: { x: Float32Array; y: Uint8Array; relevant: number }[], w: Float64Array, nf: number): number {
  let s = 0;
  for (const p of pools) s += poolNdcg(p, w, nf);
  return pools.length ? s / pools.length : 0;
}

/**
 * Coordinate ascent on mean NDCG@10: try a few values for one weight at a
 * time (zero, halved, doubled, shifted by a step), keep any that improves,
 * for `rounds` passes. Deterministic given the pools.
 */
function coordinateAscent(pools: { x: Float32Array; y: Uint8Array; relevant: number }[], start: Float64Array, nf: number, rounds: number): { w: Float64Array; ndcg: number } {
  const w = Float64Array.from(start);
  let best = meanNdcg(pools, w, nf);
  for (let round = 0; round < rounds; round++) {
    let improved = false;
    const step = Math.max(1e-3, ...Array.from(w, Math.abs)) / (4 * (round + 1));
    for (let f = 0; f < nf; f++) {
      const old = w[f]!;
      for (const v of [0, old / 2, old * 2, old + step, old - step, old + 4 * step]) {
        if (v === w[f]) continue;
        w[f] = v;
        const score = meanNdcg(pools, w, nf);
        if (score > best + 1e-12) {
          best = score;
          improved = true;
        } else w[f] = old;
        if (w[f] !== old) break;
      }
    }
    if (!improved) break;
  }
  return { w, ndcg: best };
}

function addExtra(pipe: Pipeline, p: number, r: Reason): void {
  let list = pipe.extras.get(p);
  if (!list) pipe.extras.set(p, (list = []));
  list.push(r);
}

function idList(ids: readonly Id[] | undefined, c: Catalog, name: string): Int32Array | null {
  if (ids === undefined) return null;
  if (!Array.isArray(ids)) throw invalid(name, 'an array of item ids', ids);
  const out: number[] = [];
  for (const id of ids) {
    const i = c.items.index(id);
    if (i !== undefined) out.push(i);
  }
  return Int32Array.from(out);
}

/** A history in the caller's order (oldest first), duplicates merged at their latest position. */
function orderedHistory(history: History, c: Catalog): { indices: Int32Array; values: Float32Array } {
  const agg = historyOf(history, c.items); // validates values
  const last = new Map<number, number>();
  history.forEach((h: Id | { item: Id }, n: number) => {
    const id = typeof h === 'object' && h !== null ? h.item : h;
    const i = c.items.index(id);
    if (i !== undefined) last.set(i, n);
  });
  const order = [...last.entries()].sort((a, b) => a[1] - b[1]).map(([i]) => i);
  const value = new Map<number, number>();
  agg.indices.forEach((i, r) => value.set(i, agg.values[r]!));
  return { indices: Int32Array.from(order), values: Float32Array.from(order, (i) => value.get(i)!) };
}

/** Split a log at the time quantile 1 − fraction: earlier events train, the rest validate. */
export function temporalCut(log: EventLog, fraction: number): { train: EventLog; validation: EventLog; cut: number } {
  const times = Float64Array.from(log.timestamps).filter((t) => !Number.isNaN(t)).sort();
  if (times.length === 0) throw new InvalidArgumentError('learnWeights needs timestamps in the log for a temporal validation split');
  const cut = times[Math.min(times.length - 1, Math.floor(times.length * (1 - fraction)))]!;
  const pick = (keep: (t: number) => boolean): EventLog => {
    const rows: number[] = [];
    for (let e = 0; e < log.users.length; e++) if (keep(log.timestamps[e]!)) rows.push(e);
    return {
      users: Int32Array.from(rows, (e) => log.users[e]!),
      items: Int32Array.from(rows, (e) => log.items[e]!),
      weights: Float32Array.from(rows, (e) => log.weights[e]!),
      timestamps: Float64Array.from(rows, (e) => log.timestamps[e]!),
    };
  };
  return { train: pick((t) => !(t >= cut)), validation: pick((t) => t >= cut), cut };
}

export function datasetOptionsOf(d: Dataset): DatasetOptions {
  const o: DatasetOptions = { combine: d.options.combine, weighting: d.options.weighting, allowNegative: d.options.allowNegative };
  if (d.itemFeatures) o.itemFeatures = d.itemFeatures as FeatureTable;
  if (d.userFeatures) o.userFeatures = d.userFeatures as FeatureTable;
  return o;
}

registerModel('hybrid', (state) => HybridRecommender.fromState(state));
