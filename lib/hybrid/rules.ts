/**
 * Business rules: hard filters (only items matching every filter are shown),
 * boosts (scale or shift the blended score of matching items), pins (an item
 * at a fixed position) and de-duplication of near-identical items.
 * Predicates are compiled once into a mask over the catalog and cached.
 */
import type { FeatureRow } from '../data/features.js';
import type { Id } from '../data/idmap.js';
import { InvalidArgumentError } from '../errors.js';
import { invalid, integer, knownOptions, number as checkNumber } from '../validate.js';
import type { Catalog } from './catalog.js';

/** Which items a rule applies to. */
export type ItemPredicate =
  | {
      /** A feature column of the items. */
      column: string;
      /** The value is one of these. */
      in?: readonly (string | number)[];
      /** The value is none of these (missing values pass). */
      notIn?: readonly (string | number)[];
      /** The value equals this. */
      equals?: string | number | boolean;
      /** Numeric bounds (inclusive); a missing value fails them. */
      min?: number;
      max?: number;
    }
  | { items: readonly Id[]; not?: boolean }
  | ((item: Id, features: FeatureRow | undefined) => boolean);

export interface Boost {
  when: ItemPredicate;
  /** Multiply the blended score (applied first; default 1). */
  multiply?: number;
  /** Then add to it (default 0). */
  add?: number;
  /** Shown in explanations (default 'boost'). */
  name?: string;
}

export interface Pin {
  item: Id;
  /** 0-based position in the returned list. */
  position: number;
}

export interface Dedupe {
  /** Items with equal values in all these columns are duplicates (e.g. ['product_type', 'brand', 'package_size']). */
  columns?: readonly string[];
  /** Items whose content vectors have cosine >= this are duplicates (e.g. 0.99). */
  similarity?: number;
}

export interface Rules {
  /** Hard filters: only items matching every one are returned (pins included). */
  filters?: readonly ItemPredicate[];
  boosts?: readonly Boost[];
  pins?: readonly Pin[];
  dedupe?: Dedupe;
}

const PREDICATE_KEYS = ['column', 'in', 'notIn', 'equals', 'min', 'max'] as const;

function sameValue(a: unknown, b: unknown): boolean {
  return a !== undefined && String(a) === String(b);
}

/** Validate a predicate; returns a function over item indices. */
export function compilePredicate(p: ItemPredicate, catalog: Catalog, name: string): (i: number) => boolean {
  if (typeof p === 'function') {
    const f = catalog.features;
    return (i) => Boolean(p(catalog.items.id(i), f?.get(catalog.items.id(i))));
  }
  if (typeof p !== 'object' || p === null) throw invalid(name, 'a predicate: { column, in | notIn | equals | min | max }, { items } or a function', p);
  if ('items' in p) {
    knownOptions(name, p, ['items', 'not']);
    if (!Array.isArray(p.items)) throw invalid(`${name}.items`, 'an array of item ids', p.items);
    const set = new Set<number>();
    for (const id of p.items) {
      const i = catalog.items.index(id);
      if (i !== undefined) set.add(i);
    }
    const not = Boolean(p.not);
    return (i) => set.has(i) !== not;
  }
  knownOptions(name, p, PREDICATE_KEYS);
  const f = catalog.features;
  if (!f) throw new InvalidArgumentError(`${name}: rules on columns need item features; this model has none`);
  if (typeof p.column !== 'string' || !f.schema[p.column]) throw invalid(`${name}.column`, `a feature column (${f.columns.join(', ')})`, p.column);
  const col = p.column;
  for (const k of ['in', 'notIn'] as const) if (p[k] !== undefined && !Array.isArray(p[k])) throw invalid(`${name}.${k}`, 'an array of values', p[k]);
  if (p.min !== undefined) checkNumber(`${name}.min`, p.min);
  if (p.max !== undefined) checkNumber(`${name}.max`, p.max);
  const inSet = p.in ? new Set(p.in.map(String)) : undefined;
  const notSet = p.notIn ? new Set(p.notIn.map(String)) : undefined;
  return (i) => {
    const v = f.get(catalog.items.id(i))?.[col];
    const values = Array.isArray(v) ? v : v === undefined ? [] : [v];
    if (inSet && !values.some((x) => inSet.has(String(x)))) return false;
    if (notSet && values.some((x) => notSet.has(String(x)))) return false;
    if (p.equals !== undefined && !values.some((x) => sameValue(x, p.equals))) return false;
    if (p.min !== undefined && !(typeof v === 'number' && v >= p.min)) return false;
    if (p.max !== undefined && !(typeof v === 'number' && v <= p.max)) return false;
    return true;
  };
}

/** Masks of compiled predicates over the catalog, cached by the predicate's JSON (or identity for functions). */
export class PredicateCache {
  private readonly byKey = new Map<string, Uint8Array>();
  private readonly byFn = new WeakMap<object, Uint8Array>();
  constructor(private readonly catalog: Catalog) {}

  mask(p: ItemPredicate, name: string): Uint8Array {
    if (typeof p === 'function') {
      let m = this.byFn.get(p);
      if (!m) this.byFn.set(p, (m = this.build(p, name)));
      return m;
    }
    const key = JSON.stringify(p);
    let m = this.byKey.get(key);
    if (!m) {
      m = this.build(p, name);
      if (this.byKey.size >= 64) this.byKey.delete(this.byKey.keys().next().value!);
      this.byKey.set(key, m);
    }
    return m;
  }

  private build(p: ItemPredicate, name: string): Uint8Array {
    const f = compilePredicate(p, this.catalog, name);
    const n = this.catalog.items.size;
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) m[i] = f(i) ? 1 : 0;
    return m;
  }

  /** One mask for all filters (AND), or undefined when there are none. */
  allowed(filters: readonly ItemPredicate[] | undefined, name: string): Uint8Array | undefined {
    if (!filters || filters.length === 0) return undefined;
    if (!Array.isArray(filters)) throw invalid(name, 'an array of predicates', filters);
    if (filters.length === 1) return this.mask(filters[0]!, `${name}[0]`);
    const out = new Uint8Array(this.catalog.items.size).fill(1);
    filters.forEach((p, r) => {
      const m = this.mask(p, `${name}[${r}]`);
      for (let i = 0; i < out.length; i++) out[i]! &= m[i]!;
    });
    return out;
  }
}

/** Validate rules (shape only; predicates are checked when compiled). */
export function checkRules(rules: Rules | undefined, name: string): Rules {
  if (rules === undefined) return {};
  knownOptions(name, rules, ['filters', 'boosts', 'pins', 'dedupe']);
  if (rules.filters !== undefined && !Array.isArray(rules.filters)) throw invalid(`${name}.filters`, 'an array of predicates', rules.filters);
  (rules.boosts ?? []).forEach((b, r) => {
    knownOptions(`${name}.boosts[${r}]`, b, ['when', 'multiply', 'add', 'name']);
    if (b.multiply !== undefined) checkNumber(`${name}.boosts[${r}].multiply`, b.multiply, 0);
    if (b.add !== undefined) checkNumber(`${name}.boosts[${r}].add`, b.add);
    if (b.when === undefined) throw invalid(`${name}.boosts[${r}].when`, 'a predicate', b.when);
  });
  const positions = new Set<number>();
  (rules.pins ?? []).forEach((p, r) => {
    knownOptions(`${name}.pins[${r}]`, p, ['item', 'position']);
    integer(`${name}.pins[${r}].position`, p.position, 0, 10_000);
    if (positions.has(p.position)) throw invalid(`${name}.pins[${r}].position`, 'a position no other pin uses', p.position);
    positions.add(p.position);
  });
  if (rules.dedupe !== undefined) {
    knownOptions(`${name}.dedupe`, rules.dedupe, ['columns', 'similarity']);
    if (rules.dedupe.similarity !== undefined) checkNumber(`${name}.dedupe.similarity`, rules.dedupe.similarity, -1, 1);
    if (rules.dedupe.columns !== undefined && (!Array.isArray(rules.dedupe.columns) || rules.dedupe.columns.length === 0)) {
      throw invalid(`${name}.dedupe.columns`, 'a non-empty array of column names', rules.dedupe.columns);
    }
  }
  return rules;
}

/** Duplicate keys per item for dedupe by columns (−1: no key, never a duplicate). */
export function dedupeKeys(catalog: Catalog, columns: readonly string[]): Int32Array {
  const f = catalog.features;
  if (!f) throw new InvalidArgumentError('dedupe by columns needs item features; this model has none');
  for (const c of columns) if (!f.schema[c]) throw invalid('rules.dedupe.columns', `feature columns (${f.columns.join(', ')})`, c);
  const keys = new Int32Array(catalog.items.size).fill(-1);
  const index = new Map<string, number>();
  for (let i = 0; i < keys.length; i++) {
    const row = f.get(catalog.items.id(i));
    if (!row) continue;
    const parts = columns.map((c) => row[c]);
    if (parts.some((v) => v === undefined)) continue;
    const key = JSON.stringify(parts);
    let k = index.get(key);
    if (k === undefined) index.set(key, (k = index.size));
    keys[i] = k;
  }
  return keys;
}
