/**
 * FeatureTable: attributes of items (or users) kept by id, for content
 * models, cold start, business rules and explanations.
 *
 * Kinds: 'categorical' (one string, e.g. brand), 'multi' (several strings,
 * e.g. genres), 'numeric' (a number, e.g. price), 'text' (free text, e.g. a title).
 * A missing value is undefined.
 */
import type { Id } from './idmap.js';
import { invalid } from '../validate.js';

export type FeatureKind = 'categorical' | 'multi' | 'numeric' | 'text';
export type FeatureValue = string | number | string[] | undefined;
export type FeatureRow = Record<string, FeatureValue>;
export type FeatureSchema = Record<string, FeatureKind>;

const KINDS: readonly FeatureKind[] = ['categorical', 'multi', 'numeric', 'text'];

export class FeatureTable {
  readonly schema: Readonly<FeatureSchema>;
  private readonly rows = new Map<Id, FeatureRow>();

  constructor(schema: FeatureSchema) {
    if (typeof schema !== 'object' || schema === null) throw invalid('schema', 'an object mapping column names to kinds', schema);
    for (const [col, kind] of Object.entries(schema)) {
      if (!KINDS.includes(kind)) throw invalid(`schema.${col}`, `one of ${KINDS.join(', ')}`, kind);
    }
    this.schema = Object.freeze({ ...schema });
  }

  /** Number of ids with features. */
  get size(): number {
    return this.rows.size;
  }

  /** Column names. */
  get columns(): string[] {
    return Object.keys(this.schema);
  }

  /** Set the features of `id`, converting each value to its column's kind (unknown columns are an error). */
  set(id: Id, row: Record<string, unknown>): void {
    const clean: FeatureRow = {};
    for (const [col, raw] of Object.entries(row)) {
      const kind = this.schema[col];
      if (!kind) throw invalid(`features of ${JSON.stringify(id)}`, `only the columns ${this.columns.join(', ')}`, col);
      clean[col] = convert(col, kind, raw);
    }
    this.rows.set(id, clean);
  }

  get(id: Id): FeatureRow | undefined {
    return this.rows.get(id);
  }

  has(id: Id): boolean {
    return this.rows.has(id);
  }

  /** Ids with features, in insertion order. */
  ids(): IterableIterator<Id> {
    return this.rows.keys();
  }

  entries(): IterableIterator<[Id, FeatureRow]> {
    return this.rows.entries();
  }

  /** One column's values for each id of `ids` (undefined where missing). */
  column(col: string, ids: readonly Id[]): FeatureValue[] {
    if (!this.schema[col]) throw invalid('column', `one of ${this.columns.join(', ')}`, col);
    return ids.map((id) => this.rows.get(id)?.[col]);
  }
}

function convert(col: string, kind: FeatureKind, raw: unknown): FeatureValue {
  if (raw === undefined || raw === null || raw === '') return undefined;
  switch (kind) {
    case 'numeric': {
      const v = typeof raw === 'number' ? raw : Number(raw);
      if (!Number.isFinite(v)) throw invalid(col, 'a finite number', raw);
      return v;
    }
    case 'multi':
      if (Array.isArray(raw)) return raw.map(String).filter((s) => s !== '');
      return String(raw).split('|').map((s) => s.trim()).filter((s) => s !== '');
    default:
      return String(raw);
  }
}
