/**
 * Saving and loading the hybrid: the catalog (id maps, training matrix,
 * signals, content vectors, categories, labels, item attributes) and each
 * source's description and precomputed lists, plus the states of the models
 * inside model sources (restored through the model registry).
 * Function-valued settings (predicate functions, retriever factories, model
 * factories) cannot be stored: rules keep their JSON parts, factor sources
 * score exactly after loading unless a retriever is supplied again.
 */
import { FeatureTable, type FeatureKind } from '../data/features.js';
import { IdMap } from '../data/idmap.js';
import { InvalidArgumentError } from '../errors.js';
import type { ModelState, Persistable, Recommender } from '../recommender.js';
import { loadTrainingData, saveTrainingData } from '../models/common.js';
import type { Catalog } from './catalog.js';
import { ContentModel } from './content.js';
import type { NeighborLists } from './neighbors.js';
import type { Signals } from './signals.js';
import {
  CategoryAffinitySource,
  ColdStartSource,
  ComplementSource,
  ContentSource,
  FactorSource,
  ItemToItemSource,
  ModelSource,
  NewArrivalsSource,
  PopularSource,
  RepurchaseSource,
  TrendingSource,
  type CandidateSource,
} from './sources.js';

const SIGNAL_ARRAYS = ['recentPtr', 'recentItems', 'popularity', 'trending', 'lastWeek', 'firstSeen', 'basketPtr', 'basketItems'] as const;

/** JSON-safe copy: functions and undefined dropped. */
export function jsonSafe<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? null, (_k, v) => (typeof v === 'function' ? undefined : v))) as T;
}

export function catalogToState(c: Catalog, state: ModelState): void {
  saveTrainingData({ users: c.users, items: c.items, matrix: c.matrix }, state, 'train');
  for (const k of SIGNAL_ARRAYS) state.arrays[`signals.${k}`] = c.signals[k];
  const cfg: Record<string, unknown> = { now: c.signals.now, numUsers: c.signals.numUsers, numItems: c.signals.numItems };
  if (c.content) {
    state.arrays['content.vectors'] = c.content.vectors;
    cfg.contentDim = c.content.dim;
  }
  if (c.category) {
    state.arrays['category.codes'] = c.category.codes;
    state.ids['category.names'] = c.category.names;
    cfg.categoryColumn = c.category.column;
  }
  if (c.labels) state.ids['labels'] = c.labels;
  if (c.features) {
    const f = c.features;
    cfg.featureSchema = f.schema;
    const ids = [...f.ids()];
    state.ids['features.ids'] = ids;
    for (const col of f.columns) {
      state.ids[`features.${col}`] = ids.map((id) => {
        const v = f.get(id)?.[col];
        return v === undefined ? '' : Array.isArray(v) ? v.join('|') : v;
      });
    }
  }
  state.config.catalog = cfg;
}

export function catalogFromState(state: ModelState): Catalog {
  const cfg = state.config.catalog as Record<string, unknown> | undefined;
  if (!cfg) throw new InvalidArgumentError(`model state of kind '${state.kind}' lacks its catalog`);
  const train = loadTrainingData(state, 'train');
  const arr = <T>(key: string, type: new (...a: never[]) => T): T => {
    const a = state.arrays[key];
    if (!(a instanceof type)) throw new InvalidArgumentError(`model state of kind '${state.kind}' lacks the array '${key}'`);
    return a;
  };
  const signals: Signals = {
    now: cfg.now as number,
    numUsers: cfg.numUsers as number,
    numItems: cfg.numItems as number,
    recentPtr: arr('signals.recentPtr', Int32Array),
    recentItems: arr('signals.recentItems', Int32Array),
    popularity: arr('signals.popularity', Float32Array),
    trending: arr('signals.trending', Float32Array),
    lastWeek: arr('signals.lastWeek', Int32Array),
    firstSeen: arr('signals.firstSeen', Float64Array),
    basketPtr: arr('signals.basketPtr', Int32Array),
    basketItems: arr('signals.basketItems', Int32Array),
  };
  const content = cfg.contentDim !== undefined ? ContentModel.fromVectors(arr('content.vectors', Float32Array), cfg.contentDim as number) : undefined;
  const category = cfg.categoryColumn !== undefined
    ? { column: cfg.categoryColumn as string, codes: arr('category.codes', Int32Array), names: (state.ids['category.names'] ?? []).map(String) }
    : undefined;
  let features: FeatureTable | undefined;
  if (cfg.featureSchema) {
    const schema = cfg.featureSchema as Record<string, FeatureKind>;
    features = new FeatureTable(schema);
    const ids = state.ids['features.ids'] ?? [];
    const cols = Object.keys(schema);
    const values = cols.map((c) => state.ids[`features.${c}`] ?? []);
    ids.forEach((id, r) => {
      const row: Record<string, unknown> = {};
      cols.forEach((c, j) => (row[c] = values[j]![r]));
      features!.set(id, row);
    });
  }
  return {
    users: train.users,
    items: train.items,
    matrix: train.matrix,
    signals,
    content,
    category,
    labels: state.ids['labels']?.map(String),
    features,
    userFeatures: undefined,
  };
}

function listsToState(l: NeighborLists, prefix: string, state: ModelState): void {
  state.arrays[`${prefix}.ptr`] = l.ptr;
  state.arrays[`${prefix}.items`] = l.items;
  state.arrays[`${prefix}.scores`] = l.scores;
  state.arrays[`${prefix}.counts`] = l.counts;
}

function listsFromState(prefix: string, state: ModelState): NeighborLists {
  const ptr = state.arrays[`${prefix}.ptr`];
  const items = state.arrays[`${prefix}.items`];
  const scores = state.arrays[`${prefix}.scores`];
  const counts = state.arrays[`${prefix}.counts`];
  if (!(ptr instanceof Int32Array) || !(items instanceof Int32Array) || !(scores instanceof Float32Array) || !(counts instanceof Int32Array)) {
    throw new InvalidArgumentError(`model state lacks the neighbour lists '${prefix}'`);
  }
  return { ptr, items, scores, counts };
}

/** A source's description (kind, name, options) and its arrays; model sources embed their model's state. */
export function sourceToState(s: CandidateSource, state: ModelState): Record<string, unknown> {
  const prefix = `source.${s.name}`;
  const opt = (s as { options?: unknown }).options;
  const d: Record<string, unknown> = { name: s.name, options: jsonSafe(opt ?? {}) };
  if (s instanceof ItemToItemSource) d.type = 'similar';
  else if (s instanceof ContentSource) d.type = 'content';
  else if (s instanceof ComplementSource) d.type = 'complement';
  else if (s instanceof TrendingSource) d.type = 'trending';
  else if (s instanceof PopularSource) d.type = 'popular';
  else if (s instanceof NewArrivalsSource) d.type = 'new';
  else if (s instanceof CategoryAffinitySource) d.type = 'affinity';
  else if (s instanceof RepurchaseSource) d.type = 'repurchase';
  else if (s instanceof ColdStartSource) {
    d.type = 'coldstart';
    const from = s.modelOrSource;
    if (!(from instanceof FactorSource || from instanceof ModelSource)) throw new InvalidArgumentError(`cannot save the cold-start source '${s.name}': it must take its model from a factor or model source of the hybrid`);
    d.from = from.name;
  } else if (s instanceof FactorSource || s instanceof ModelSource) {
    d.type = s instanceof FactorSource ? 'factor' : 'model';
    const model = s.model as (Recommender & Partial<Persistable>) | undefined;
    if (!model || typeof model.toState !== 'function') throw new InvalidArgumentError(`cannot save source '${s.name}': its model has no toState()`);
    const sub = model.toState();
    d.model = { kind: sub.kind, version: sub.version, config: sub.config };
    for (const [k, v] of Object.entries(sub.arrays)) state.arrays[`${prefix}.model.${k}`] = v;
    for (const [k, v] of Object.entries(sub.ids)) state.ids[`${prefix}.model.${k}`] = v;
  } else throw new InvalidArgumentError(`cannot save source '${s.name}': custom sources are not persistable`);
  const lists = (s as { lists?: NeighborLists }).lists;
  if (lists && (d.type === 'similar' || d.type === 'content' || d.type === 'complement')) listsToState(lists, `${prefix}.lists`, state);
  return d;
}

/** Rebuild sources from their descriptions; `loadModel` turns an embedded model state back into a model. */
export function sourcesFromState(descs: Record<string, unknown>[], state: ModelState, loadModel: (s: ModelState) => Recommender): CandidateSource[] {
  const byName = new Map<string, CandidateSource>();
  const out: CandidateSource[] = [];
  for (const d of descs) {
    const name = d.name as string;
    const options = { ...(d.options as Record<string, unknown>), name };
    const prefix = `source.${name}`;
    let s: CandidateSource;
    switch (d.type) {
      case 'similar': {
        const x = new ItemToItemSource(options);
        x.lists = listsFromState(`${prefix}.lists`, state);
        x.preset = true;
        s = x;
        break;
      }
      case 'complement': {
        const x = new ComplementSource(options);
        x.lists = listsFromState(`${prefix}.lists`, state);
        x.preset = true;
        s = x;
        break;
      }
      case 'content': {
        const x = new ContentSource(options);
        x.lists = listsFromState(`${prefix}.lists`, state);
        s = x;
        break;
      }
      case 'trending':
        s = new TrendingSource(options);
        break;
      case 'popular':
        s = new PopularSource(options);
        break;
      case 'new':
        s = new NewArrivalsSource(options);
        break;
      case 'affinity':
        s = new CategoryAffinitySource(options);
        break;
      case 'repurchase':
        s = new RepurchaseSource(options);
        break;
      case 'coldstart': {
        const from = byName.get(d.from as string);
        if (!(from instanceof FactorSource || from instanceof ModelSource)) throw new InvalidArgumentError(`model state: cold-start source '${name}' refers to an unknown source '${String(d.from)}'`);
        s = new ColdStartSource(from, options);
        break;
      }
      case 'factor':
      case 'model': {
        const m = d.model as { kind: string; version: number; config: Record<string, unknown> };
        const sub: ModelState = { kind: m.kind, version: m.version, config: m.config, arrays: {}, ids: {} };
        const p = `${prefix}.model.`;
        for (const [k, v] of Object.entries(state.arrays)) if (k.startsWith(p)) sub.arrays[k.slice(p.length)] = v;
        for (const [k, v] of Object.entries(state.ids)) if (k.startsWith(p)) sub.ids[k.slice(p.length)] = v;
        const model = loadModel(sub);
        s = d.type === 'factor' ? new FactorSource(model as never, options) : new ModelSource(model, options);
        break;
      }
      default:
        throw new InvalidArgumentError(`model state: unknown source type '${String(d.type)}' (saved by a newer fastrec?)`);
    }
    byName.set(name, s);
    out.push(s);
  }
  return out;
}

export { IdMap };
